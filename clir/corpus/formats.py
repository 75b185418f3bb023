"""The formats readers recognise, kept free of the readers' heavy imports (pyarrow)."""

from __future__ import annotations

# a corpus: its documents
FORMATS = ("jsonl", "tsv", "csv", "parquet", "beir", "clirudit")
# a test collection: documents, queries and relevance judgements
DATASET_FORMATS = ("beir", "clirudit")
