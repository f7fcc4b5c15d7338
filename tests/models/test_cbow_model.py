"""models.CBOW: initialisation, window means and scores against a per-word NumPy loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain.models import CBOW
from jaxpretrain.models.word_vectors import bag_layout, group_scores, row_ids, window_mean


def _reference_h(vectors, words, reach):
    """h[b, i]: mean of vectors[b, j] over real j with 1 <= |i - j| <= reach[b, i]."""
    B, L, D = vectors.shape
    h, count = np.zeros((B, L, D)), np.zeros((B, L))
    for b in range(B):
        for i in range(L):
            js = [j for j in range(L) if 1 <= abs(i - j) <= reach[b, i] and words[b, j] >= 0]
            count[b, i] = len(js)
            if js:
                h[b, i] = vectors[b, js].mean(0)
    return h, count


@pytest.mark.parametrize("L, W", [(9, 3), (9, 1), (40, 3), (37, 2)])
def test_window_mean_matches_a_loop(L, W):
    """Blocks of min(L, 5·W) positions (one, several, a padded last one) give the whole band's
    means, as does window=None."""
    rng = np.random.default_rng(L + W)
    B, D = 2, 3
    words = rng.integers(0, 5, (B, L))
    words[1, 6:] = -1
    reach = rng.integers(1, W + 1, (B, L))
    vectors = rng.normal(size=(B, L, D)).astype(np.float32)
    want_h, want_count = _reference_h(vectors, words, reach)
    for window in (W, None):
        h, count = window_mean(jnp.asarray(vectors), jnp.asarray(words), jnp.asarray(reach), window)
        np.testing.assert_allclose(h, want_h, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(count, want_count)


def test_init_and_scores():
    V, D, K = 7, 4, 3
    model = CBOW(vocab_size=V, features=D)
    words = jnp.array([[1, 2, 3, 4, -1]])
    reach = jnp.array([[1, 2, 2, 1, 1]])
    negatives = jnp.zeros((1, 5, K), jnp.int32)
    params = model.init(jax.random.PRNGKey(0), words, reach, negatives)["params"]
    assert params["context"].shape == (V, D) and params["target"].shape == (V, D)
    assert np.abs(params["context"]).max() <= 0.5 / D and not np.asarray(params["target"]).any()
    params = {
        "context": params["context"],
        "target": jax.random.normal(jax.random.PRNGKey(1), (V, D)),
    }
    ts, ns, has = model.apply({"params": params}, words, reach, negatives)
    e, o = np.asarray(params["context"]), np.asarray(params["target"])
    h1 = (e[1] + e[3] + e[4]) / 3  # position 1 (word 2), reach 2: positions 0, 2 and 3
    np.testing.assert_allclose(ts[0, 1], o[2] @ h1, rtol=1e-5)
    np.testing.assert_allclose(ns[0, 1], np.full(K, o[0] @ h1), rtol=1e-5)
    np.testing.assert_array_equal(has, [[True, True, True, True, False]])


def test_subword_bags_average_rows():
    V, D = 3, 2
    bags = np.array([[0, 3, -1], [1, -1, -1], [2, 3, 4]])
    model = CBOW(vocab_size=V, features=D, bags=bags, num_rows=5, bag_budget=6)
    words = jnp.array([[0, 1, 2]])
    params = model.init(
        jax.random.PRNGKey(0), words, jnp.ones((1, 3), jnp.int32), jnp.zeros((1, 3, 1), jnp.int32)
    )["params"]
    assert params["context"].shape == (5, D)
    rows = np.asarray(params["context"])
    got = model.apply({"params": params}, method=CBOW.word_vectors)
    want = np.stack([rows[[0, 3]].mean(0), rows[1], rows[[2, 3, 4]].mean(0)])
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_shared_negatives_score_like_repeated_per_word_negatives():
    """G groups sharing K negatives score exactly as each word drawing its group's K."""
    V, D, K, L, G = 11, 4, 3, 6, 2
    rng = np.random.default_rng(1)
    model = CBOW(vocab_size=V, features=D)
    words = jnp.asarray(rng.integers(0, V, (2, L)))
    reach = jnp.asarray(rng.integers(1, 3, (2, L)))
    shared = jnp.asarray(rng.integers(0, V, (2, G, K)))
    per_word = jnp.repeat(shared, L // G, axis=1)  # [2, L, K]
    params = {
        "context": jnp.asarray(rng.normal(size=(V, D)), jnp.float32),
        "target": jnp.asarray(rng.normal(size=(V, D)), jnp.float32),
    }
    got = model.apply({"params": params}, words, reach, shared)
    want = model.apply({"params": params}, words, reach, per_word)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # The target table's rows read: each word, then one K per group (not per word).
    assert row_ids(words, shared)["target"].shape == (2, L + G * K)


def test_bag_layout_flattens_each_chunks_bags_in_order():
    bags = np.array([[0, 3, -1], [1, -1, -1], [2, 3, 4]])
    words = jnp.array([[2, -1, 0, 1], [1, 1, -1, -1]])
    rows, positions = bag_layout(words, bags, budget=7)
    np.testing.assert_array_equal(rows, [[2, 3, 4, 0, 3, 1, 0], [1, 1, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(positions, [[0, 0, 0, 2, 2, 3, 4], [0, 1, 4, 4, 4, 4, 4]])


def test_subword_scores_use_the_mean_of_each_bag():
    """Scores from the flat bag layout equal a NumPy evaluation of e′(w) = mean of its bag rows."""
    rng = np.random.default_rng(2)
    V, R, D, K, L = 6, 14, 3, 2, 8
    sizes = rng.integers(1, 5, V)
    bags = np.full((V, 4), -1)
    for w in range(V):
        bags[w, : sizes[w]] = [w, *rng.choice(np.arange(V, R), sizes[w] - 1, replace=False)]
    words = rng.integers(0, V, (2, L))
    words[1, 5:] = -1
    reach = rng.integers(1, 3, (2, L))
    negatives = rng.integers(0, V, (2, L, K))
    budget = int(sizes[np.maximum(words, 0)].sum(1).max())
    model = CBOW(vocab_size=V, features=D, bags=bags, num_rows=R, bag_budget=budget)
    params = {
        "context": jnp.asarray(rng.normal(size=(R, D)), jnp.float32),
        "target": jnp.asarray(rng.normal(size=(V, D)), jnp.float32),
    }
    ts, ns, _ = model.apply({"params": params}, jnp.asarray(words), reach, negatives)
    e = np.asarray(params["context"])
    word_vectors = np.stack([e[b[b >= 0]].mean(0) for b in bags])
    h, _ = _reference_h(word_vectors[np.maximum(words, 0)], words, reach)
    o = np.asarray(params["target"])
    real = words >= 0
    np.testing.assert_allclose(
        np.asarray(ts)[real], np.einsum("bld,bld->bl", o[words.clip(0)], h)[real], rtol=1e-4
    )
    np.testing.assert_allclose(
        np.asarray(ns)[real], np.einsum("blkd,bld->blk", o[negatives], h)[real], rtol=1e-4
    )


@pytest.mark.parametrize("S, K", [(5, 5), (1, 3), (20, 16)])
def test_group_scores_gradients_equal_autodiffs(S, K):
    """The hand-written backward pass (unrolled sums; matmuls for big groups) is the einsum's."""
    rng = np.random.default_rng(S + K)
    groups = jnp.asarray(rng.normal(size=(2, 3, S, 4)), jnp.float32)
    negatives = jnp.asarray(rng.normal(size=(2, 3, K, 4)), jnp.float32)
    weights = jnp.asarray(rng.normal(size=(2, 3, S, K)), jnp.float32)

    def loss(scores_fn):
        return lambda g, n: jnp.sum(jnp.sin(scores_fn(g, n)) * weights)

    plain = lambda g, n: jnp.einsum("bgid,bgkd->bgik", g, n)  # noqa: E731
    np.testing.assert_allclose(group_scores(groups, negatives), plain(groups, negatives), rtol=1e-6)
    got = jax.grad(loss(group_scores), (0, 1))(groups, negatives)
    want = jax.grad(loss(plain), (0, 1))(groups, negatives)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
