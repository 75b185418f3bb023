"""A Searcher that goes through the HTTP API, so `clir eval --server URL` measures the live service.

It sends each batch of queries to POST /search/batch exactly as the in-process evaluator batches them,
so for the same index and configuration the run files are identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clir.client import Client, ClientError, SearchResponse
from clir.errors import ClirError
from clir.index.manifest import SUMMARY_KEYS
from clir.records import Hit, SearchResult
from clir.search.fusion import FusionParams
from clir.search.options import Mode

# The existence check for judged documents costs one request per id; beyond this many a fixed sample.
MAX_DOC_CHECKS = 1000


def _fusion_options(params: FusionParams, depth: int | None) -> dict[str, Any]:
    return {"method": params.method, "rrf_k": int(params.rrf_k), "normalization": params.normalization,
            "weights": {"dense": params.dense_weight, "sparse": params.sparse_weight}, "depth": depth}


def _result(response: SearchResponse) -> SearchResult:
    """The core's result type: rows are the server's own, so hits carry -1."""
    hits = [Hit(row=-1, id=h.id, rank=h.rank, score=h.score, lang=h.lang, dense=h.dense, sparse=h.sparse)
            for h in response.hits]
    return SearchResult(response.query, response.query_lang, hits, response.timing_ms)


class RemoteSearcher:
    """Searches through `clir.client.Client`, which retries failed connections and 503s (a loaded
    server shedding requests) and raises one-line errors."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 300.0, retries: int = 3) -> None:
        self.client = Client(base_url, api_key=api_key, timeout=timeout, retries=retries)
        try:
            self.stats = self.client.stats()
        except ClientError as exc:
            if exc.status is not None:
                raise
            raise ClirError(f"cannot reach the server at {base_url}: {exc.message}") from exc

    def search_batch(self, queries: Sequence[str], *, k: int, depth: int | None = None,
                     query_langs: Sequence[str | None] | None = None, mode: Mode = "hybrid",
                     fusion: FusionParams | None = None, language_balance: bool = True) -> list[SearchResult]:
        langs = list(query_langs) if query_langs is not None else [None] * len(queries)
        responses = self.client.search_batch(list(zip(queries, langs, strict=True)), k=k, mode=mode,
                                             fusion=_fusion_options(fusion or FusionParams(), depth),
                                             language_balance=language_balance)
        return [_result(r) for r in responses]

    def missing_documents(self, doc_ids: Sequence[str]) -> list[str]:
        """Judged ids the server lacks. Over MAX_DOC_CHECKS ids an evenly spaced sample is checked: the
        result is then a lower bound, or every id when the whole sample is missing (a mismatch)."""
        step = max(1, len(doc_ids) // MAX_DOC_CHECKS)
        checked = list(doc_ids)[::step]
        missing = [d for d in checked if self.client.get(d) is None]
        return list(doc_ids) if missing and len(missing) == len(checked) else missing

    def summary(self) -> dict[str, Any]:
        """The index summary /stats starts with (`Manifest.summary`), and the server's address."""
        return {key: self.stats.get(key) for key in SUMMARY_KEYS} | {"server": self.client.base_url}
