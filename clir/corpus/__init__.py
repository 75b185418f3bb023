"""Reading (and writing) corpora, queries and qrels: JSONL, TSV/CSV, Parquet, BEIR and CLIRudit."""
