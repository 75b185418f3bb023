"""xQG queries from any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama) over httpx."""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from clir.errors import ClirError, ConfigError
from clir.records import Document
from indexer.xqg.prompts import DEFAULT_PROMPT, build_prompt, check_template, dedupe_nonempty

ANSWER_SUFFIX = " Answer with the question only."

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)  # reasoning models put their notes first
_NUMBERING = re.compile(r"^(?:\d+\s*[.):]|[-*•#]+)\s*")
_LABEL = re.compile(r"^(?:question|query|q)\s*[:：]\s*", re.I)
_QUOTE_PAIRS = {('"', '"'), ("'", "'"), ("“", "”"), ("„", "“"), ("‘", "’"), ("«", "»"), ("「", "」"), ("『", "』"),
                ("`", "`")}


def clean_question(text: str | None) -> str:
    """The question itself from a chat answer: first non-empty line, no numbering, label or quotes."""
    text = _THINK.sub("", text or "")
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = _NUMBERING.sub("", line.strip("* ")).strip("* ")
    line = _LABEL.sub("", line).strip("* ")
    while len(line) >= 2 and (line[0], line[-1]) in _QUOTE_PAIRS:
        line = line[1:-1].strip()
    return line


def _one_line(text: str) -> str:
    return " ".join(text.split())


class OpenAIGenerator:
    """POSTs {base_url}/chat/completions per doc, a few docs at a time, retrying transient failures."""

    def __init__(self, target: str, *, prompt: str = DEFAULT_PROMPT, seed: int = 0, max_concurrency: int = 4,
                 connect_timeout: float = 10.0, read_timeout: float = 60.0, max_attempts: int = 4,
                 backoff: float = 0.5, max_retry_after: float = 30.0, temperature: float = 0.8,
                 max_tokens: int = 48, extra_rounds: int = 2, api_key: str | None = None) -> None:
        base_url, _, model = target.partition("#")
        base_url = base_url.rstrip("/")
        if not re.match(r"^https?://[^/]+", base_url):
            raise ConfigError(f"xQG openai backend: base URL {base_url!r} must look like http://host:port/v1")
        check_template(prompt)
        self.name = f"openai:{base_url}" + (f"#{model}" if model else "")
        self.url = f"{base_url}/chat/completions"
        self.model = model or "default"
        self.prompt, self.seed = prompt, seed
        self.max_concurrency = max(1, max_concurrency)
        self.max_attempts = max(1, max_attempts)
        self.backoff, self.max_retry_after = backoff, max_retry_after
        self.temperature, self.max_tokens, self.extra_rounds = temperature, max_tokens, extra_rounds
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=self.max_concurrency),
            headers=headers,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def generate(self, docs: Sequence[Document], lang: str, n: int) -> list[list[str]]:
        if n <= 0 or not docs:
            return [[] for _ in docs]
        prompts = [build_prompt(self.prompt, lang, d) + ANSWER_SUFFIX for d in docs]
        pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="xqg-openai")
        try:
            return list(pool.map(lambda p: self._queries(p, n), prompts))
        finally:
            # After a failure, docs not yet started are dropped instead of each retrying a dead server.
            pool.shutdown(wait=True, cancel_futures=True)

    def _queries(self, prompt: str, n: int) -> list[str]:
        got: list[str] = []
        # Servers that ignore `n` answer one choice at a time; ask again for the rest, with a new seed
        # each round (a seeded server repeats itself), and stop after a bounded number of rounds.
        for round_ in range(n + self.extra_rounds):
            payload = {
                "model": self.model,
                "messages": [{"role": "user", "content": prompt}],
                "n": n - len(got),
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "seed": self.seed + round_,
            }
            got = dedupe_nonempty(got + [clean_question(c) for c in self._choices(self._post(payload))])
            if len(got) >= n:
                break
        return got[:n]

    def _choices(self, data: Any) -> list[str | None]:
        try:
            return [choice["message"]["content"] for choice in data["choices"]]
        except (KeyError, TypeError) as exc:
            raise ClirError(f"xQG openai backend: unexpected response from {self.url} (missing {exc})") from None

    def _post(self, payload: dict[str, Any]) -> Any:
        last = ""
        for attempt in range(self.max_attempts):
            delay = self.backoff * 2**attempt
            try:
                resp = self._client.post(self.url, json=payload)
            except httpx.TransportError as exc:  # connection refused/reset, timeouts
                last = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code == 429 or resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}"
                    delay = self._retry_after(resp, delay)
                elif resp.status_code >= 400:
                    raise ClirError(_one_line(
                        f"xQG openai backend: POST {self.url} returned HTTP {resp.status_code}: {resp.text[:200]}"))
                else:
                    try:
                        return resp.json()
                    except ValueError:
                        raise ClirError(f"xQG openai backend: POST {self.url} returned invalid JSON") from None
            if attempt + 1 < self.max_attempts:
                time.sleep(delay)
        raise ClirError(_one_line(
            f"xQG openai backend: POST {self.url} failed after {self.max_attempts} attempts: {last}"))

    def _retry_after(self, resp: httpx.Response, default: float) -> float:
        value = resp.headers.get("Retry-After")
        if value is None:
            return default
        try:
            seconds = float(value)
        except ValueError:
            try:  # the HTTP-date form
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                return default
        return min(max(seconds, 0.0), self.max_retry_after)
