# Two set-up commands (README): `make demo` and `make test`. Each installs what it needs into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first, pinned, so sentence-transformers does not pull a multi-GB CUDA build. On a machine
# with internet, add the CPU wheel index: make TORCH_INDEX=--extra-index-url=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
SAMPLE_INDEX ?= data/sample-index

.PHONY: install demo test test-fast docker-test lint bench clean eval-dev xqg-oracle tune-fusion fuzz

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[st,xqg,qdrant,ray,dev]"
	touch $@

$(SAMPLE_INDEX)/manifest.json: $(VENV)/.installed data/sample/corpus.jsonl
	$(VENV)/bin/clir index --corpus data/sample --out $(SAMPLE_INDEX)

demo: $(SAMPLE_INDEX)/manifest.json
	$(PY) -m cli.demo --index $(SAMPLE_INDEX) --port $(or $(PORT),8000)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy clir indexer app eval cli bench
	$(VENV)/bin/pytest -q

# The inner loop: everything but the browser, Ray, crash, Docker and multi-process tests (markers in pyproject.toml)
test-fast: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q -m "not (browser or ray or crash or docker or multiprocess)"

# The image and docker-compose.yml on a real Docker engine (started here when none answers; tests/docker)
docker-test: $(VENV)/.installed
	$(VENV)/bin/pytest -q -m docker tests/docker

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy clir indexer app eval cli

bench: $(VENV)/.installed
	$(PY) -m bench.bench_build

clean:
	rm -rf $(SAMPLE_INDEX) .pytest_cache .ruff_cache

# docs/evaluation.md's results table from ../shared/data (not part of the tests; ~30 min on 2 cores, less when cached)
SHARED ?= ../shared/data
eval-dev: $(VENV)/.installed
	$(PY) -m bench.eval_dev --shared $(SHARED) --work runs/dev --update-doc docs/evaluation.md

# docs/xqg.md's xQG oracle table (needs the eval-dev work folder's datasets; reuses its caches)
xqg-oracle: $(VENV)/.installed
	$(PY) -m bench.xqg_oracle --shared $(SHARED) --work runs/dev --update-doc docs/xqg.md

# docs/fusion.md's fusion tuning record (development data only)
tune-fusion: $(VENV)/.installed
	$(PY) -m bench.tune_fusion --shared $(SHARED) --work runs/dev --update-doc docs/fusion.md

# schemathesis over every operation, longer than the test suite's seeded run (FUZZ_EXAMPLES per operation)
FUZZ_EXAMPLES ?= 400
fuzz: $(VENV)/.installed
	$(PY) -m bench.fuzz_api --examples $(FUZZ_EXAMPLES)
