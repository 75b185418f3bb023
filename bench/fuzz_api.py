"""A long schemathesis run over every operation of a writable server on the bundled mini corpus.

    python -m bench.fuzz_api --examples 400      (make fuzz)

Builds a fresh index of tests/fixtures/mini_corpus.jsonl in a temporary folder, then runs every check on
every operation, `--examples` cases each (seeded), in process over ASGI. Prints the number of cases run
and every failure found.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEST = '''
import schemathesis
from hypothesis import HealthCheck, settings
from app.main import create_app
from clir.settings import Settings

app = create_app(Settings(index=r"{index}", writable=True, max_query_chars=200, max_batch=8, max_write_batch=8))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
CASES = []


@schema.parametrize()
@settings(max_examples={examples}, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api(case):
    CASES.append(1)
    case.call_and_validate()


def test_count():
    print(f"\\nschemathesis cases run: {{len(CASES)}}")
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=400)
    args = parser.parse_args()
    from clir.corpus.readers import read_corpus
    from clir.index.build import BuildConfig, build_index

    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "idx"
        build_index(read_corpus(ROOT / "tests" / "fixtures" / "mini_corpus.jsonl"), index,
                    BuildConfig(show_progress=False))
        test = Path(tmp) / "test_fuzz_long.py"
        test.write_text(TEST.format(index=index, examples=args.examples))
        sys.exit(pytest.main([str(test), "-q", "-s", "-p", "no:cacheprovider", "--rootdir", tmp]))


if __name__ == "__main__":
    main()
