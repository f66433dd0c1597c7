"""The Monte-Carlo ELBO (LLaDA's get_log_likelihood.py): the mask draws, reproducibility, both
engines, and that a sentence the bundled model was trained on beats the same words shuffled."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest

from llada_studio.core.likelihood import _mask_batch, score_ids, score_text
from llada_studio.core.resources import bundled_model_dir
from llada_studio.core.session import Session

AUSTEN = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, "
          "must be in want of a wife.")


def test_mask_counts_are_evenly_spaced_and_only_in_the_answer():
    rng = np.random.Generator(np.random.PCG64(3))
    is_mask, ratio = _mask_batch(rng, 8, 20, 5)
    counts = is_mask.sum(axis=1)
    assert not is_mask[:, :5].any() and (counts >= 1).all() and (counts <= 20).all()
    assert np.allclose(ratio, counts / 20)
    assert len(set(counts.tolist())) >= 6  # spread over the range, not eight independent draws piled up


def test_same_seed_same_estimate_and_engines_agree(tiny_model):
    pytest.importorskip("torch")
    cpp = Session.open(tiny_model, engine="cpp", threads=1)
    torch_ = Session.open(tiny_model, engine="torch", threads=1)
    prompt, answer = [5, 6, 7], [8, 9, 10, 11, 12, 13]
    a = score_ids(cpp, prompt, answer, mc_num=32, batch_size=8, seed=4)
    b = score_ids(cpp, prompt, answer, mc_num=32, batch_size=8, seed=4)
    c = score_ids(torch_, prompt, answer, mc_num=32, batch_size=8, seed=4)
    assert a == b and a.mc_num == 32 and a.tokens == 6 and a.log_likelihood < 0
    assert abs(a.log_likelihood - c.log_likelihood) <= 1e-4 * abs(a.log_likelihood)
    assert score_ids(cpp, prompt, answer, mc_num=32, batch_size=8, seed=5) != a


@pytest.mark.skipif(not (bundled_model_dir() / "config.json").is_file(), reason="bundled model not installed")
def test_a_trained_sentence_beats_its_words_shuffled():
    session = Session.open(None, threads=1)
    words = AUSTEN.split()
    for seed in range(3):
        shuffled = words[:]
        random.Random(seed).shuffle(shuffled)
        real = score_text(session, AUSTEN, mc_num=32, batch_size=16, seed=seed)
        fake = score_text(session, " ".join(shuffled), mc_num=32, batch_size=16, seed=seed)
        assert real.log_likelihood > fake.log_likelihood + 20, (seed, real, fake)


def test_bad_options_are_refused(tiny_model, capsys):
    from llada_studio.core.cli import main

    session = Session.open(tiny_model, threads=1)
    with pytest.raises(ValueError, match="nothing to score"):
        score_ids(session, [1], [])
    with pytest.raises(ValueError, match="mc_num"):
        score_ids(session, [1], [2], mc_num=0)
    assert main(["score", "hello world", "--model", str(tiny_model), "--mc-num", "0"]) == 2
    assert "--mc-num must be" in capsys.readouterr().err
    out = io.StringIO()
    assert main(["score", "hello world", "--model", str(tiny_model), "--mc-num", "16", "--batch-size", "8"], out) == 0
    assert "nats (ELBO, 16 samples, seed 0" in out.getvalue()
