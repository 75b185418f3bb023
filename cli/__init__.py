"""The `clir` command line: one module per command, on top of indexer/, app/ and eval/."""
