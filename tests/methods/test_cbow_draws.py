"""cbow's on-device draws (methods.cbow.draw_chunks) against word2vec's formulas: keep rates,
unigram^0.75 negatives, uniform windows, packing, and one batch per key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.data.word_vectors import CbowSampling
from jaxpretrain.methods.cbow import draw_chunks


def _sampling(counts, *, window=3, negatives=4, sample=0.0, shared_by=1):
    return CbowSampling.from_counts(
        np.asarray(counts), window=window, negatives=negatives, sample=sample, shared_by=shared_by
    )


def _draw(ids, sampling, seed=0):
    draw = jax.jit(lambda ids, key: draw_chunks(ids, key, sampling))
    return jax.device_get(draw(jnp.asarray(ids, jnp.int32), jax.random.PRNGKey(seed)))


def test_keep_rate_per_word_is_word2vecs_formula():
    """P(keep w) = min(1, √(t/f) + t/f): kept words per word over 100k draws, within 5 σ."""
    counts = np.array([10**6, 10**5, 10**4, 10**3, 10])
    sampling = _sampling(counts, sample=1e-4)
    ratio = 1e-4 / (counts / counts.sum())  # t / f(w)
    expected = np.minimum(1.0, np.sqrt(ratio) + ratio)
    assert expected.min() < 0.2 and expected.max() == 1.0  # A test that can fail.
    ids = np.random.default_rng(0).integers(0, 5, (200, 500))
    out = _draw(ids, sampling)
    seen = np.bincount(ids.ravel(), minlength=5)
    kept = np.bincount(out["words"][out["words"] >= 0], minlength=5)
    sigma = np.sqrt(expected * (1 - expected) / seen) + 1e-9
    np.testing.assert_array_less(np.abs(kept / seen - expected), 5 * sigma + 1e-6)


def test_negatives_follow_unigram_to_the_three_quarters():
    counts = np.array([81, 16, 1, 300, 5])
    sampling = _sampling(counts, negatives=8, shared_by=5)
    out = _draw(np.zeros((100, 500), np.int32), sampling)
    assert out["negatives"].shape == (100, 100, 8)
    freq = np.bincount(out["negatives"].ravel(), minlength=5) / out["negatives"].size
    want = counts**0.75 / (counts**0.75).sum()
    n = out["negatives"].size
    np.testing.assert_array_less(np.abs(freq - want), 5 * np.sqrt(want * (1 - want) / n))


def test_windows_are_uniform_and_kept_words_are_packed_in_order():
    counts = np.array([10**8, 1, 1, 1, 1])  # Word 0 is kept w.p. ~1e-4, the others always.
    sampling = _sampling(counts, window=3, negatives=2, sample=1e-8)
    ids = np.array([[1, 0, 2, 0, 3, 4, -1, -1], [0, 0, 4, 4, 3, 0, 2, 1]], np.int32)
    out = _draw(ids, sampling)
    np.testing.assert_array_equal(
        out["words"], [[1, 2, 3, 4, -1, -1, -1, -1], [4, 4, 3, 2, 1, -1, -1, -1]]
    )
    reach = _draw(np.zeros((200, 500), np.int32), sampling)["reach"]
    freq = np.bincount(reach.ravel(), minlength=4)[1:] / reach.size
    np.testing.assert_allclose(freq, 1 / 3, atol=0.005)
    assert reach.min() == 1 and reach.max() == 3


def test_the_same_key_draws_the_same_batch():
    sampling = _sampling(np.array([50, 30, 10, 5]), sample=1e-2)
    ids = np.random.default_rng(1).integers(-1, 4, (4, 40))
    a, b, c = _draw(ids, sampling, 0), _draw(ids, sampling, 0), _draw(ids, sampling, 1)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert any((a[key] != c[key]).any() for key in a)


def test_chunks_must_split_into_groups_of_negatives():
    with pytest.raises(ValueError, match="multiple of data.negatives_shared_by"):
        draw_chunks(
            jnp.zeros((2, 9), jnp.int32), jax.random.PRNGKey(0), _sampling([3, 2], shared_by=2)
        )
