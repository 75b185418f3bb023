"""Query generators for xQG: a local seq2seq model (hf:), precomputed queries (file:), or an
OpenAI-compatible server (openai:, in openai_backend.py), behind one small interface (prompts.py).

Every generator is a pure function of (doc, lang, n, seed): the resumable cache relies on a resumed
build producing exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clir.errors import ConfigError, CorpusError
from clir.records import Document
from indexer.xqg.openai_backend import OpenAIGenerator
from indexer.xqg.prompts import DEFAULT_PROMPT, SPEC_FORMS, Generator, build_prompt, check_template, dedupe_nonempty


def row_seed(seed: int, lang: str, doc_id: str, index: int) -> int:
    digest = hashlib.sha256(f"{seed}\x00{lang}\x00{doc_id}\x00{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # torch seeds must fit in a signed 64-bit int


class HFGenerator:
    """An AutoModelForSeq2SeqLM (the mT5 doc2query family), top-k sampling with a fixed seed."""

    def __init__(self, model: str, *, prompt: str = DEFAULT_PROMPT, seed: int = 0, batch_size: int = 8,
                 device: str | None = None, max_new_tokens: int = 32, top_k: int = 10,
                 max_input_tokens: int = 512) -> None:
        try:
            import torch
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        except ImportError as exc:
            raise ConfigError("xQG 'hf:' generators need torch and transformers: pip install torch transformers") \
                from exc
        check_template(prompt)
        self._torch = torch
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(model)
        except Exception as exc:  # noqa: BLE001 - hub/IO/format errors come in many types; users need one line
            raise ConfigError(f"xQG: cannot load generator model {model!r}: {exc}".splitlines()[0]) from exc
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        local = Path(model)
        self.name = f"hf:{local.resolve()}" if local.is_dir() else f"hf:{model}"
        self.prompt, self.seed, self.batch_size = prompt, seed, max(1, batch_size)
        self.max_new_tokens, self.top_k, self.max_input_tokens = max_new_tokens, top_k, max_input_tokens

    def generate(self, docs: Sequence[Document], lang: str, n: int) -> list[list[str]]:
        if n <= 0:
            return [[] for _ in docs]
        out: list[list[str]] = []
        for start in range(0, len(docs), self.batch_size):
            out.extend(self._generate_batch(docs[start : start + self.batch_size], lang, n))
        return out

    def _generate_batch(self, docs: Sequence[Document], lang: str, n: int) -> list[list[str]]:
        torch = self._torch
        # Reset the global RNG too, so nothing else drawn during generate depends on earlier batches.
        torch.manual_seed(self.seed)
        prompts = [build_prompt(self.prompt, lang, d) for d in docs]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, truncation=True,
                             max_length=self.max_input_tokens)
        # Each doc is repeated n times (row i*n + j = sample j of doc i), with its own random stream.
        input_ids = enc["input_ids"].repeat_interleave(n, dim=0).to(self.device)
        attention_mask = enc["attention_mask"].repeat_interleave(n, dim=0).to(self.device)
        seeds = [row_seed(self.seed, lang, d.id, j) for d in docs for j in range(n)]
        sampler = _SeededTopKSampler(torch, seeds, self.top_k, self.max_new_tokens, self.device)
        with torch.inference_mode():
            # Sampling happens in the processor, so generate runs greedy over one-hot scores
            # (do_sample=False; HF's own sampler would draw every row from one shared RNG stream).
            ids = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, do_sample=False,
                                      num_beams=1, max_new_tokens=self.max_new_tokens,
                                      logits_processor=[sampler])
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [dedupe_nonempty(texts[i * n : (i + 1) * n]) for i in range(len(docs))]


class _SeededTopKSampler:
    """Top-k sampling where row r draws from its own seeded stream (inverse CDF over the sorted top k).

    A row's output then depends only on its doc, language, sample index and seed, not on which other
    docs share its batch: a resumed build regenerates exactly what an uninterrupted one would have.
    """

    def __init__(self, torch: Any, seeds: list[int], top_k: int, steps: int, device: str) -> None:
        self._torch = torch
        draws = [torch.rand(steps, generator=torch.Generator().manual_seed(s), dtype=torch.float64) for s in seeds]
        self._u = torch.stack(draws).to(device)
        self._top_k = top_k
        self._start: int | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = self._torch
        if self._start is None:
            self._start = input_ids.shape[1]
        step = min(input_ids.shape[1] - self._start, self._u.shape[1] - 1)
        k = min(self._top_k, scores.shape[-1]) if self._top_k > 0 else scores.shape[-1]
        values, indices = scores.float().topk(k, dim=-1)
        cdf = torch.softmax(values, dim=-1).double().cumsum(dim=-1)
        pick = (cdf < self._u[:, step : step + 1]).sum(dim=-1).clamp(max=k - 1)
        chosen = indices.gather(1, pick.unsqueeze(1))
        one_hot = torch.full_like(scores, float("-inf"))
        return one_hot.scatter_(1, chosen, 0.0)


class FileGenerator:
    """Precomputed queries in the published xQG format: {"docid": .., "generated_queries": {lang: [..]}}."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"xQG: query file {str(self.path)!r} does not exist")
        self.name = f"file:{self.path.resolve()}"
        self._index: dict[str, dict[str, list[str]]] = {}
        opener = gzip.open if self.path.suffix == ".gz" else open
        with opener(self.path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    docid, queries = self._parse(line, lineno)
                    self._index[docid] = queries

    def _parse(self, line: str, lineno: int) -> tuple[str, dict[str, list[str]]]:
        where = f"{self.path}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{where}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or "docid" not in record:
            raise CorpusError(f"{where}: expected an object with 'docid' and 'generated_queries'")
        queries = record.get("generated_queries")
        if not isinstance(queries, dict) or not all(
            isinstance(qs, list) and all(isinstance(q, str) for q in qs) for qs in queries.values()
        ):
            raise CorpusError(f"{where}: 'generated_queries' must map language codes to lists of strings")
        return str(record["docid"]), {lang: dedupe_nonempty(qs) for lang, qs in queries.items()}

    def __len__(self) -> int:
        return len(self._index)

    def generate(self, docs: Sequence[Document], lang: str, n: int) -> list[list[str]]:
        out: list[list[str]] = []
        for doc in docs:
            out.append(self._index.get(doc.id, {}).get(lang, [])[: max(n, 0)])
        return out


def load_generator(spec: str, *, prompt: str = DEFAULT_PROMPT, seed: int = 0, batch_size: int = 8,
                   **options: Any) -> Generator:
    """Build a generator from its spec: "hf:NAME_OR_PATH", "file:PATH.jsonl" or "openai:BASE_URL[#model]"."""
    kind, _, target = spec.strip().partition(":")
    if not target or kind not in ("hf", "file", "openai"):
        raise ConfigError(f"unknown xQG generator {spec!r}: expected {SPEC_FORMS}")
    if kind == "hf":
        _check_options(HFGenerator, options)
        return HFGenerator(target, prompt=prompt, seed=seed, batch_size=batch_size, **options)
    if kind == "file":
        _check_options(FileGenerator, options)
        return FileGenerator(os.path.expanduser(target), **options)
    _check_options(OpenAIGenerator, options)
    return OpenAIGenerator(target, prompt=prompt, seed=seed, **options)


def _check_options(cls: type, options: dict[str, Any]) -> None:
    accepted = [p for p in inspect.signature(cls).parameters.values() if p.kind is p.KEYWORD_ONLY]
    names = {p.name for p in accepted} - {"prompt", "seed", "batch_size"}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ConfigError(f"xQG {cls.__name__}: unknown option(s) {', '.join(unknown)}; accepted: "
                          f"{', '.join(sorted(names)) or 'none'}")
