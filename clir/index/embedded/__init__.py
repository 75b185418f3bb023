"""The embedded backend: an index directory (FAISS, bm25s, SQLite) and its write log."""
