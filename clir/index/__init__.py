"""The index format and the storage seam: manifest, document store, dense (FAISS) and sparse (BM25) parts,
and the one interface the search core talks to (`clir.index.store.IndexStore`)."""
