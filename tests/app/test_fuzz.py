"""schemathesis over the OpenAPI spec, seeded: every operation, every check, on a writable server over a fresh
index of the mini corpus. The spec must promise exactly what the API does (no 5xx, no undocumented status, no
schema-valid request refused, no schema-violating request accepted). A longer run: `make fuzz`."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from app.main import create_app
from clir.corpus.readers import read_corpus
from clir.index.build import BuildConfig, build_index
from clir.settings import Settings
from tests.helpers import FIXTURES

# schemathesis collects its tests from a schema object at import time, so the index is built here
_TMP = Path(tempfile.mkdtemp(prefix="clir-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)
build_index(read_corpus(FIXTURES / "mini_corpus.jsonl"), _TMP / "idx",
            BuildConfig(show_progress=False))
APP = create_app(Settings(index=_TMP / "idx", writable=True, max_query_chars=200, max_batch=8, max_write_batch=8))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_promises(case):
    case.call_and_validate()
