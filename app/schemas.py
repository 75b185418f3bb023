"""Request and response models of the HTTP API (validation errors become 422 naming the field)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Mode = Literal["hybrid", "dense", "sparse"]
Scalar = str | int | float | bool


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dense: float = Field(1.0, ge=0)
    sparse: float = Field(1.0, ge=0)


class FusionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["auto", "rrf", "linear"] = "auto"
    rrf_k: int = Field(60, ge=0, le=10_000)
    weights: Weights = Field(default_factory=Weights)
    normalization: Literal["minmax", "zscore", "none"] = "minmax"
    depth: int | None = Field(None, ge=1, le=10_000, description="candidates per retriever before fusion")


class FilterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lang: list[str] | None = None
    metadata: dict[str, Scalar] | None = None


class SearchOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(10, ge=1, le=1000)
    mode: Mode = "hybrid"
    fusion: FusionOptions = Field(default_factory=FusionOptions)
    query_lang: str | None = Field(None, min_length=2, max_length=12)
    filter: FilterOptions | None = None
    include_text: bool = False


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or whitespace")
    return value


class SearchRequest(SearchOptions):
    query: str

    _check_query = field_validator("query")(_not_blank)


class BatchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str
    query_lang: str | None = Field(None, min_length=2, max_length=12)

    _check_query = field_validator("query")(_not_blank)


class BatchRequest(SearchOptions):
    queries: list[str | BatchQuery] = Field(min_length=1)

    @field_validator("queries")
    @classmethod
    def _queries_not_blank(cls, queries: list[str | BatchQuery]) -> list[str | BatchQuery]:
        for q in queries:
            if isinstance(q, str):
                _not_blank(q)
        return queries


class Component(BaseModel):
    score: float
    rank: int | None


class HitOut(BaseModel):
    id: str
    rank: int
    score: float
    dense: Component | None
    sparse: Component | None
    lang: str | None
    title: str
    text: str | None = None
    metadata: dict | None = None


class Timing(BaseModel):
    encode: float
    dense: float
    sparse: float
    fuse: float
    total: float


class SearchResponse(BaseModel):
    query: str
    query_lang: str | None
    hits: list[HitOut]
    timing_ms: Timing


class BatchResponse(BaseModel):
    results: list[SearchResponse]
    timing_ms: dict[str, float]


class DocumentOut(BaseModel):
    id: str
    title: str
    text: str
    lang: str | None
    metadata: dict
