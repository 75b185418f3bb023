"""A Searcher that goes through the HTTP API, so `clir eval --server URL` measures the live service.

It sends each batch of queries to POST /search/batch exactly as the in-process evaluator batches them,
so for the same index and configuration the run files are identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from clir.errors import ClirError
from clir.index.manifest import SUMMARY_KEYS
from clir.records import Component, Hit, SearchResult
from clir.search.fusion import FusionParams

# The existence check for judged documents costs one request per id; beyond this many a fixed sample.
MAX_DOC_CHECKS = 1000


def _fusion_options(params: FusionParams, depth: int | None) -> dict[str, Any]:
    return {"method": params.method, "rrf_k": int(params.rrf_k), "normalization": params.normalization,
            "weights": {"dense": params.dense_weight, "sparse": params.sparse_weight}, "depth": depth}


def _component(value: dict | None) -> Component | None:
    return None if value is None else Component(value["score"], value["rank"])


class RemoteSearcher:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 300.0) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        try:
            response = self.client.get("/stats")
        except httpx.HTTPError as exc:
            raise ClirError(f"cannot reach the server at {base_url}: {exc}") from exc
        if response.status_code != 200:
            raise ClirError(f"{base_url}/stats answered {response.status_code}: {response.text[:200]}")
        self.stats = response.json()

    def search_batch(self, queries: Sequence[str], *, k: int, depth: int | None = None,
                     query_langs: Sequence[str | None] | None = None, mode: str = "hybrid",
                     fusion: FusionParams | None = None, language_balance: bool = True) -> list[SearchResult]:
        langs = list(query_langs) if query_langs is not None else [None] * len(queries)
        body = {"queries": [{"query": q, "query_lang": lang} for q, lang in zip(queries, langs, strict=True)],
                "k": k, "mode": mode, "fusion": _fusion_options(fusion or FusionParams(), depth),
                "language_balance": language_balance}
        response = self.client.post("/search/batch", json=body)
        if response.status_code != 200:
            raise ClirError(f"POST /search/batch answered {response.status_code}: {response.text[:300]}")
        return [
            SearchResult(r["query"], r["query_lang"],
                         [Hit(row=-1, id=h["id"], rank=h["rank"], score=h["score"], lang=h["lang"],
                              dense=_component(h["dense"]), sparse=_component(h["sparse"])) for h in r["hits"]],
                         r["timing_ms"])
            for r in response.json()["results"]
        ]

    def missing_documents(self, doc_ids: Sequence[str]) -> list[str]:
        """Judged ids the server lacks. Over MAX_DOC_CHECKS ids an evenly spaced sample is checked: the
        result is then a lower bound, or every id when the whole sample is missing (a mismatch)."""
        step = max(1, len(doc_ids) // MAX_DOC_CHECKS)
        checked = list(doc_ids)[::step]
        missing = [d for d in checked if self.client.get(f"/documents/{d}").status_code == 404]
        return list(doc_ids) if missing and len(missing) == len(checked) else missing

    def summary(self) -> dict[str, Any]:
        """The index summary /stats starts with (`Manifest.summary`), and the server's address."""
        return {key: self.stats.get(key) for key in SUMMARY_KEYS} | {"server": str(self.client.base_url)}
