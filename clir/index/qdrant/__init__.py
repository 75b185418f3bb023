"""The Qdrant backend: a Qdrant collection (a server, or qdrant-client's local mode) serving the index."""
