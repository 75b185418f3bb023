"""Text: language codes, analyzers (BM25 tokens) and language identification."""
