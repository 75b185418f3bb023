"""Cross-lingual retrieval: shared core (errors, retrieval, fusion, CLI) used by app/ and eval/."""

__version__ = "0.1.0"
