"""Sampled softmax against a numpy reference, its accidental hits, and the log-uniform proposal."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxpretrain import losses


def _reference(hidden, kernel, bias, targets, samples):
    vocab = kernel.shape[1]
    q = np.log((np.arange(vocab) + 2) / (np.arange(vocab) + 1)) / np.log(vocab + 1)
    log_expected = np.log(len(samples) * q)
    out = []
    for h, y in zip(hidden, targets):
        z = h @ kernel + bias
        logits = [z[y] - log_expected[y]]
        logits += [z[s] - log_expected[s] if s != y else -np.inf for s in samples]
        logits = np.array(logits)
        top = logits.max()
        out.append(top + np.log(np.exp(logits - top).sum()) - logits[0])
    return np.array(out)


def test_matches_the_numpy_reference_and_drops_accidental_hits():
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(5, 4)).astype(np.float32)
    kernel = rng.normal(size=(4, 30)).astype(np.float32)
    bias = rng.normal(size=30).astype(np.float32)
    targets = np.array([0, 3, 7, 3, 29])
    samples = np.array([3, 1, 0, 12, 3, 25])  # Hits rows 0, 1 and 3 (3 twice).
    got = losses.sampled_softmax_cross_entropy(hidden, kernel, bias, targets, samples)
    np.testing.assert_allclose(got, _reference(hidden, kernel, bias, targets, samples), rtol=1e-5)
    masked = losses.sampled_softmax_cross_entropy(
        hidden, kernel, bias, targets, samples, where=np.array([1, 0, 1, 1, 0], bool)
    )
    assert masked[1] == 0 and masked[4] == 0 and masked[0] == got[0]


def test_with_every_word_sampled_the_gradient_points_like_the_full_softmax():
    """A sample of the whole vocabulary (corrected by ln Q) is the full softmax shifted by a
    constant per word: the target's gradient direction agrees with the exact one."""
    rng = np.random.default_rng(1)
    vocab = 12
    hidden = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(4, vocab)), jnp.float32)
    bias = jnp.zeros(vocab)
    targets = jnp.array([1, 5, 11])
    samples = jnp.arange(vocab)
    q = losses.log_uniform_probabilities(vocab)
    # Undo the correction so the candidates' logits are exactly z: then every non-target word
    # appears once and the loss is the full softmax's.
    corrected_bias = bias + jnp.log(vocab * q)
    sampled = losses.sampled_softmax_cross_entropy(hidden, kernel, corrected_bias, targets, samples)
    full = losses.next_token(hidden @ kernel, targets)
    np.testing.assert_allclose(sampled, full, rtol=1e-5)


def test_log_uniform_samples_follow_q():
    vocab = 50
    q = np.asarray(losses.log_uniform_probabilities(vocab))
    assert q.sum() == np.float32(1.0) or abs(q.sum() - 1) < 1e-5
    assert np.all(np.diff(q) < 0)  # Frequent (low) ids are proposed more often.
    samples = np.asarray(losses.log_uniform_samples(jax.random.key(0), 200_000, vocab))
    assert samples.min() >= 0 and samples.max() < vocab
    counts = np.bincount(samples, minlength=vocab) / len(samples)
    np.testing.assert_allclose(counts, q, atol=4e-3)
