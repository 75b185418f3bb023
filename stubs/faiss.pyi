# faiss-cpu's bundled __init__.pyi does not match its SWIG classes (SearchParametersHNSW is missing,
# SearchParameters rejects the `sel` keyword, IndexHNSW has no `hnsw` attribute...). This stub takes
# precedence (mypy_path) and types the module as Any; clir/index/dense.py is its only user.
from typing import Any

def __getattr__(name: str) -> Any: ...
