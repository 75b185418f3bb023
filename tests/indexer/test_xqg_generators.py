"""xQG generators and their resumable cache, against real components: a tiny random T5 saved to disk
(tokenizer trained here, nothing downloaded), a real local HTTP server speaking the OpenAI chat API,
and real JSONL files."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from clir.errors import ClirError, ConfigError, CorpusError
from clir.records import Document
from indexer.xqg.cache import QueryCache, generate_with_cache
from indexer.xqg.generators import FileGenerator, load_generator
from indexer.xqg.openai_backend import ANSWER_SUFFIX, clean_question
from indexer.xqg.prompts import DEFAULT_PROMPT, LANGUAGE_NAMES, build_prompt

DOCS = [
    Document(id="d0", text="the cat sat on the mat", title=""),
    Document(id="d1", text="paris is the capital of france", title="Paris"),
    Document(id="d2", text="where is the mat", title="Mat"),
]

XQUAD_R_LANGS = ["ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"]


# --- prompt --------------------------------------------------------------------------------------------


def test_language_names_cover_xquad_r_and_more() -> None:
    for lang in [*XQUAD_R_LANGS, "fr", "it", "pt", "nl", "ja", "ko", "pl", "sw"]:
        assert LANGUAGE_NAMES[lang]
    assert LANGUAGE_NAMES["fr"] == "French" and LANGUAGE_NAMES["zh"] == "Chinese"


def test_build_prompt_applies_template_and_collapses_empty_title() -> None:
    assert build_prompt(DEFAULT_PROMPT, "fr", DOCS[1]) == \
        "Generate a French question for this passage: Paris paris is the capital of france"
    assert build_prompt(DEFAULT_PROMPT, "de", DOCS[0]) == \
        "Generate a German question for this passage: the cat sat on the mat"
    assert build_prompt("{passage}\nQ in {language}:", "en", DOCS[2]) == "where is the mat\nQ in English:"
    with pytest.raises(ConfigError, match="unknown language"):
        build_prompt(DEFAULT_PROMPT, "xx", DOCS[0])


def test_unknown_spec_and_options_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="hf:<model name or path>"):
        load_generator("t5-small")
    with pytest.raises(ConfigError, match="openai:<base_url>"):
        load_generator("mystery:thing")
    path = tmp_path / "q.jsonl"
    path.write_text("")
    with pytest.raises(ConfigError, match="unknown option"):
        load_generator(f"file:{path}", temperature=1.0)
    with pytest.raises(ConfigError, match="invalid"):
        load_generator("openai:http://127.0.0.1:1/v1", prompt="{question}")
    with pytest.raises(ConfigError, match="cannot load generator model"):
        load_generator(f"hf:{tmp_path / 'no-such-model'}")


# --- hf: a tiny random T5 ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    raw = Tokenizer(models.WordLevel(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    sentences = [build_prompt(DEFAULT_PROMPT, lang, d) for d in DOCS for lang in ("en", "fr", "de")]
    raw.train_from_iterator(sentences + ["what who when why question ?"],
                            trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    config = T5Config(vocab_size=len(tokenizer), d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8,
                      decoder_start_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(config)
    # A random model emits <pad> often, which decodes to nothing; suppressing it keeps outputs non-empty
    # and checks that the generator's sampler composes with the model's own logits processors.
    model.generation_config.suppress_tokens = [tokenizer.pad_token_id]
    out = tmp_path_factory.mktemp("tiny-t5")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_hf_generator_shapes_and_determinism(tiny_t5: Path) -> None:
    gen = load_generator(f"hf:{tiny_t5}", batch_size=2, seed=7)
    assert gen.name == f"hf:{tiny_t5.resolve()}"
    by_lang = {lang: gen.generate(DOCS, lang, 2) for lang in ("fr", "de")}
    for out in by_lang.values():
        assert len(out) == 3
        assert all(len(qs) <= 2 and all(isinstance(q, str) and q and q == q.strip() for q in qs) for qs in out)
        assert all(len(set(qs)) == len(qs) for qs in out)
        assert sum(len(qs) for qs in out) >= 4
    assert by_lang["fr"] != by_lang["de"]
    assert gen.generate(DOCS, "fr", 2) == by_lang["fr"]  # same seed, same output
    # Independent of batching: other batch sizes and subsets (as when resuming) give the same per-doc output.
    for batch_size in (1, 3):
        assert load_generator(f"hf:{tiny_t5}", batch_size=batch_size, seed=7).generate(DOCS, "fr", 2) == by_lang["fr"]
    assert gen.generate(DOCS[2:], "fr", 2) == by_lang["fr"][2:]
    assert load_generator(f"hf:{tiny_t5}", seed=8).generate(DOCS, "fr", 2) != by_lang["fr"]
    assert gen.generate(DOCS, "fr", 0) == [[], [], []]


def test_hf_generator_feeds_the_prompt_template(tiny_t5: Path) -> None:
    # Same id, different text: with a template that ignores the passage the model sees identical input.
    twins = [Document(id="x", text="the cat sat"), Document(id="x", text="paris is the capital of france")]
    blind = load_generator(f"hf:{tiny_t5}", prompt="Generate a {language} question", seed=3)
    first, second = blind.generate(twins, "en", 2)
    assert first == second and first
    full = load_generator(f"hf:{tiny_t5}", seed=3).generate(twins, "en", 2)
    assert full[0] != full[1]


# --- openai: a real local HTTP server ----------------------------------------------------------------------


class ChatServer:
    """An OpenAI-compatible /v1/chat/completions endpoint with scripted failures and a request log."""

    def __init__(self, fail_with: tuple[int, ...] = (), always: int | None = None, ignore_n: bool = False,
                 delay: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_with, self.always, self.ignore_n, self.delay = list(fail_with), always, ignore_n, delay
        self.active = self.max_active = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                    status = server.always or (server.fail_with.pop(0) if server.fail_with else 200)
                try:
                    time.sleep(server.delay)
                    if self.path != "/v1/chat/completions":
                        status = 404
                    self._reply(status, body)
                finally:
                    with server.lock:
                        server.active -= 1

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                if status == 200:
                    prompt = body["messages"][0]["content"]
                    tag = hashlib.sha256(prompt.encode()).hexdigest()[:6]
                    count = 1 if server.ignore_n else body["n"]
                    contents = [f'{i + 1}. "Question {tag} {body["seed"]}-{i}?"\nExplanation: none'
                                for i in range(count)]
                    payload = {"choices": [{"index": i, "message": {"role": "assistant", "content": c}}
                                           for i, c in enumerate(contents)]}
                else:
                    payload = {"error": {"message": f"scripted {status}"}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_clean_question() -> None:
    assert clean_question('1. "What is the capital of France?"\nBecause...') == "What is the capital of France?"
    assert clean_question("**Question:** Où est Paris ?") == "Où est Paris ?"
    assert clean_question("<think>hmm</think>\n\n  «Wo ist Paris?»  ") == "Wo ist Paris?"
    assert clean_question("What is 'x'") == "What is 'x'"
    assert clean_question(None) == ""


def test_openai_generator_payload_and_cleaning() -> None:
    with ChatServer() as server:
        gen = load_generator(f"openai:{server.base_url}/#qwen", seed=5)
        out = gen.generate(DOCS, "fr", 3)
        gen.close()
    assert gen.name == f"openai:{server.base_url}#qwen"
    assert [len(qs) for qs in out] == [3, 3, 3]
    assert out[0][0].startswith("Question ") and out[0][0].endswith("5-0?")
    first = next(r for r in server.requests if "the cat sat" in r["messages"][0]["content"])
    assert first["model"] == "qwen" and first["n"] == 3 and first["seed"] == 5
    assert first["temperature"] == 0.8 and first["max_tokens"] == 48
    prompt = build_prompt(DEFAULT_PROMPT, "fr", DOCS[0]) + ANSWER_SUFFIX
    assert first["messages"] == [{"role": "user", "content": prompt}]


def test_openai_generator_retries_500_and_429() -> None:
    with ChatServer(fail_with=(500, 429)) as server:
        gen = load_generator(f"openai:{server.base_url}", max_concurrency=1, backoff=0.0)
        out = gen.generate(DOCS, "de", 2)
    assert [len(qs) for qs in out] == [2, 2, 2]
    assert len(server.requests) == 3 + 2
    assert server.requests[0]["model"] == "default"


def test_openai_generator_asks_again_when_server_ignores_n() -> None:
    with ChatServer(ignore_n=True) as server:
        out = load_generator(f"openai:{server.base_url}", seed=10).generate(DOCS[:1], "en", 3)
    assert len(out[0]) == 3 and len(set(out[0])) == 3
    assert [r["seed"] for r in server.requests] == [10, 11, 12]
    assert [r["n"] for r in server.requests] == [3, 2, 1]


def test_openai_generator_respects_concurrency_limit() -> None:
    docs = [Document(id=f"c{i}", text=f"passage number {i}") for i in range(9)]
    with ChatServer(delay=0.05) as server:
        out = load_generator(f"openai:{server.base_url}", max_concurrency=3).generate(docs, "en", 1)
    assert len(out) == 9 and all(len(qs) == 1 for qs in out)
    assert 2 <= server.max_active <= 3


def test_openai_generator_gives_up_with_one_line_error() -> None:
    with ChatServer(always=503) as server:
        gen = load_generator(f"openai:{server.base_url}", backoff=0.0)
        with pytest.raises(ClirError) as info:
            gen.generate(DOCS[:1], "en", 2)
    message = str(info.value)
    assert "\n" not in message and "503" in message and f"{server.base_url}/chat/completions" in message
    assert len(server.requests) == 4
    with ChatServer(always=400) as server, pytest.raises(ClirError, match="HTTP 400"):  # not retried
            load_generator(f"openai:{server.base_url}", backoff=0.0).generate(DOCS[:1], "en", 2)
    assert len(server.requests) == 1
    with ChatServer() as server:
        url = server.base_url
    with pytest.raises(ClirError, match="ConnectError"):  # nothing listens there any more
        load_generator(f"openai:{url}", backoff=0.0, max_attempts=2).generate(DOCS[:1], "en", 1)


# --- file: precomputed queries ---------------------------------------------------------------------------


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_file_generator_published_format(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "xqg.jsonl", [
        {"docid": "d0", "text": "the cat", "generated_queries": {"fr": ["q1", "q2", "q3"], "de": ["g1"]}},
        "",
        {"docid": 1, "generated_queries": {"fr": ["p1", "p1", " p2 "]}},
    ])
    gen = load_generator(f"file:{path}")
    assert isinstance(gen, FileGenerator) and gen.name == f"file:{path.resolve()}" and len(gen) == 2
    docs = [DOCS[0], Document(id="1", text=""), Document(id="nope", text="")]
    assert gen.generate(docs, "fr", 2) == [["q1", "q2"], ["p1", "p2"], []]
    assert gen.generate(docs, "de", 5) == [["g1"], [], []]


@pytest.mark.parametrize("bad", ['{"docid": "a", "generated_queries": {"fr": ["ok"]', '["a"]',
                                 '{"docid": "a", "generated_queries": {"fr": "one"}}'])
def test_file_generator_malformed_line_names_file_and_line(tmp_path: Path, bad: str) -> None:
    good = {"docid": "a", "generated_queries": {"fr": ["q"]}}
    path = write_jsonl(tmp_path / "bad.jsonl", [good, good, bad])
    with pytest.raises(CorpusError, match=f"{path}:3"):
        load_generator(f"file:{path}")
    with pytest.raises(ConfigError, match="does not exist"):
        load_generator(f"file:{tmp_path / 'absent.jsonl'}")


# --- cache ---------------------------------------------------------------------------------------------------


def open_cache(path: Path, name: str = "file:/q.jsonl", n: int = 2, prompt: str = DEFAULT_PROMPT,
               seed: int = 0) -> QueryCache:
    return QueryCache(path, name, n, prompt, seed)


def test_cache_resumes_and_refuses_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "build" / "xqg-cache.jsonl"
    cache = open_cache(path)
    cache.put_many([("d0", "fr", ["a", "b"]), ("d1", "fr", []), ("d0", "de", ["c"])])
    cache.put_many([("d0", "fr", ["a2"])])  # a later line wins
    reopened = open_cache(path)
    assert len(reopened) == 3
    assert reopened.get("d0", "fr") == ["a2"] and reopened.get("d1", "fr") == [] and reopened.get("d1", "de") is None
    for changed in ({"name": "hf:other"}, {"n": 3}, {"prompt": "{passage}"}, {"seed": 1}):
        with pytest.raises(ConfigError, match="delete it or choose another cache path"):
            open_cache(path, **changed)  # type: ignore[arg-type]
    other = write_jsonl(tmp_path / "other.jsonl", [{"docid": "x"}])
    with pytest.raises(ConfigError, match="not an xQG query cache"):
        open_cache(other)


def test_cache_tolerates_and_repairs_a_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "cache.jsonl"
    open_cache(path).put_many([("d0", "fr", ["a"]), ("d1", "fr", ["b"])])
    with open(path, "ab") as f:
        f.write(b'{"docid": "d2", "lang": "fr", "quer')  # killed mid-write
    cache = open_cache(path)
    assert len(cache) == 2 and cache.get("d2", "fr") is None
    cache.put_many([("d2", "fr", ["c"])])
    lines = path.read_text().splitlines()
    assert all(json.loads(line) for line in lines) and len(lines) == 4
    assert open_cache(path).get("d2", "fr") == ["c"]
    # A half-written header (killed right after creating the file) is rewritten.
    path.write_bytes(b'{"xqg_query_ca')
    assert len(open_cache(path)) == 0 and json.loads(path.read_text())["generator"] == "file:/q.jsonl"
    # Damage elsewhere is not a kill and is reported, not skipped.
    path.write_text(path.read_text() + "garbage\n" + json.dumps({"docid": "a", "lang": "fr", "queries": []}) + "\n")
    with pytest.raises(CorpusError, match=f"{path}:2"):
        open_cache(path)


def test_generate_with_cache_asks_only_for_missing_pairs(tmp_path: Path) -> None:
    path = tmp_path / "cache.jsonl"
    with ChatServer() as server:
        gen = load_generator(f"openai:{server.base_url}")
        first = generate_with_cache(gen, QueryCache(path, gen.name, 2, DEFAULT_PROMPT, 0), DOCS[:2], ["en", "fr"], 2)
        assert len(server.requests) == 4
        more = [*DOCS, DOCS[0]]  # one new doc, one repeated id
        second = generate_with_cache(gen, QueryCache(path, gen.name, 2, DEFAULT_PROMPT, 0), more, ["en", "fr"], 2)
        assert len(server.requests) == 6
        assert all("where is the mat" in r["messages"][0]["content"] for r in server.requests[4:])
        with pytest.raises(ConfigError, match="n=2"):
            generate_with_cache(gen, QueryCache(path, gen.name, 2, DEFAULT_PROMPT, 0), DOCS, ["en"], 3)
    assert list(second) == ["d0", "d1", "d2"] and {k: second[k] for k in first} == first
    assert all(len(second[d][lang]) == 2 for d in second for lang in ("en", "fr"))


def test_generate_with_cache_file_generator_and_resumed_hf_match(tmp_path: Path, tiny_t5: Path) -> None:
    queries = write_jsonl(tmp_path / "q.jsonl", [{"docid": "d0", "generated_queries": {"fr": ["q"]}}])
    gen = FileGenerator(queries)
    asked: list[list[str]] = []
    generate = gen.generate
    gen.generate = lambda docs, lang, n: asked.append([d.id for d in docs]) or generate(docs, lang, n)  # type: ignore[method-assign]
    cache = QueryCache(tmp_path / "fc.jsonl", gen.name, 1, DEFAULT_PROMPT, 0)
    assert generate_with_cache(gen, cache, DOCS, ["fr"], 1) == {"d0": {"fr": ["q"]}, "d1": {"fr": []}, "d2": {"fr": []}}
    generate_with_cache(gen, cache, DOCS, ["fr"], 1)
    assert asked == [["d0", "d1", "d2"]]  # absent docs were cached as [], not asked again
    # A build killed after two docs and resumed ends where an uninterrupted one does.
    hf = load_generator(f"hf:{tiny_t5}", batch_size=2)
    resumed = QueryCache(tmp_path / "resumed.jsonl", hf.name, 2, DEFAULT_PROMPT, 0)
    generate_with_cache(hf, resumed, DOCS[:2], ["de"], 2)
    once = QueryCache(tmp_path / "once.jsonl", hf.name, 2, DEFAULT_PROMPT, 0)
    assert generate_with_cache(hf, resumed, DOCS, ["de"], 2) == generate_with_cache(hf, once, DOCS, ["de"], 2)
