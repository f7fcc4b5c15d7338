"""losses.info_nce and losses.mi_lower_bound: closed forms, a numpy reference, gradients, masks,
and the bound on data whose mutual information is known (correlated Gaussians)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from jaxpretrain.losses import info_nce, mi_lower_bound


def _reference(scores, positives):
    """-ln(exp(s_pos) / Σ_i exp(s_i)) row by row, straight from CPC's Eq. 4 (float64)."""
    flat, pos = scores.reshape(-1, scores.shape[-1]), positives.reshape(-1)
    out = [-math.log(math.exp(s[p]) / sum(math.exp(v) for v in s)) for s, p in zip(flat, pos)]
    return np.array(out).reshape(positives.shape)


def test_matches_numpy_reference_for_indices_and_one_hot():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(3, 4, 6)) * 3  # [..., N+1]
    positives = rng.integers(0, 6, size=(3, 4))
    expected = _reference(scores, positives)
    got = info_nce(jnp.asarray(scores, jnp.float32), jnp.asarray(positives))
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    one_hot = jax.nn.one_hot(positives, 6, dtype=jnp.bool_)
    np.testing.assert_allclose(info_nce(jnp.asarray(scores, jnp.float32), one_hot), expected, 1e-5)


@pytest.mark.parametrize("n", [1, 7, 255])
def test_equal_scores_give_exactly_log_n_plus_one(n):
    loss = info_nce(jnp.full((5, n + 1), 2.5), jnp.zeros(5, jnp.int32))
    np.testing.assert_allclose(loss, np.full(5, math.log(n + 1)), rtol=1e-6)
    np.testing.assert_allclose(mi_lower_bound(loss, n + 1), 0.0, atol=1e-6)


def test_bound_never_exceeds_log_n_plus_one_and_a_perfect_critic_reaches_it():
    rng = np.random.default_rng(1)
    scores = jnp.asarray(rng.normal(size=(1000, 16)) * 10, jnp.float32)
    positives = jnp.asarray(rng.integers(0, 16, 1000))
    bound = mi_lower_bound(info_nce(scores, positives), 16)
    assert float(bound.max()) <= math.log(16) + 1e-6
    perfect = jnp.where(jax.nn.one_hot(positives, 16, dtype=bool), 50.0, -50.0)
    np.testing.assert_allclose(mi_lower_bound(info_nce(perfect, positives), 16), math.log(16))


def test_stable_for_large_and_bfloat16_scores():
    scores = jnp.array([[1e4, -1e4, 0.0], [1e4, 1e4, 1e4]])
    # float32 spacing at 1e4 is 1e-3: the log-sum-exp is exact to that.
    np.testing.assert_allclose(info_nce(scores, jnp.array([1, 2])), [2e4, math.log(3)], atol=2e-3)
    low = info_nce(jnp.zeros((2, 8), jnp.bfloat16), jnp.array([0, 3]))
    assert low.dtype == jnp.float32
    np.testing.assert_allclose(low, math.log(8), rtol=1e-6)


def test_gradient_check_and_softmax_form():
    rng = np.random.default_rng(2)
    positives = jnp.array([0, 4, 2, 2])
    with jax.enable_x64():
        scores = jnp.asarray(rng.normal(size=(4, 5)), jnp.float64)
        check_grads(lambda s: info_nce(s, positives), (scores,), order=2, modes=["rev", "fwd"])
        grad = jax.grad(lambda s: info_nce(s, positives).sum())(scores)
        expected = jax.nn.softmax(scores) - jax.nn.one_hot(positives, 5)  # ∂L/∂s = p - onehot
        np.testing.assert_allclose(grad, expected, rtol=1e-12)


def test_where_equals_slicing_and_blocks_nan():
    rng = np.random.default_rng(3)
    scores = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
    positives = jnp.array([0, 1, 2, 3, 0, 1])
    where = jnp.array([True, False, True, True, False, True])
    bad = scores.at[1].set(jnp.nan).at[4, 2].set(jnp.inf)
    got = info_nce(bad, positives, where=where)
    np.testing.assert_allclose(got[where], info_nce(scores[where], positives[where]), rtol=1e-6)
    assert float(got[1]) == 0.0 and float(got[4]) == 0.0
    grad = jax.grad(lambda s: info_nce(s, positives, where=where).sum())(bad)
    assert np.isfinite(np.asarray(grad)).all() and not np.asarray(grad[~where]).any()


def test_bad_input_is_a_one_line_error():
    with pytest.raises(ValueError, match="at least one negative"):
        info_nce(jnp.zeros((4, 1)), jnp.zeros(4, jnp.int32))
    with pytest.raises(ValueError, match="positives must be"):
        info_nce(jnp.zeros((4, 3)), jnp.zeros(5, jnp.int32))
    with pytest.raises(ValueError, match="where must be bool"):
        info_nce(jnp.zeros((4, 3)), jnp.zeros(4, jnp.int32), where=jnp.ones(4))
    with pytest.raises(ValueError, match="num_candidates"):
        mi_lower_bound(jnp.zeros(3), 1)


def _gaussian_pairs(key, batch, dim, rho):
    """x ~ N(0, I), y = ρx + √(1-ρ²)ε: I(x; y) = -dim/2 · ln(1-ρ²) nats."""
    kx, ke = jax.random.split(key)
    x = jax.random.normal(kx, (batch, dim))
    return x, rho * x + jnp.sqrt(1 - rho**2) * jax.random.normal(ke, (batch, dim))


def _critic(params, x, y):
    """s(x_b, y_j) = x_bᵀ W y_j + y_jᵀ diag(a) y_j: [B, B] (the form of ln p(y|x)/p(y))."""
    return x @ params["w"] @ y.T + jnp.sum(params["a"] * y**2, -1)[None, :]


def _bound(params, key, batch, dim, rho):
    x, y = _gaussian_pairs(key, batch, dim, rho)
    loss = info_nce(_critic(params, x, y), jnp.arange(batch))  # Other rows' y are the negatives.
    return mi_lower_bound(jnp.mean(loss), batch)


def test_bound_on_correlated_gaussians_approaches_the_true_mi_from_below():
    dim, rho, batch = 2, 0.8, 128
    true_mi = -dim / 2 * math.log(1 - rho**2)  # 1.022 nats < ln 128 = 4.85
    params = {"w": jnp.zeros((dim, dim)), "a": jnp.zeros(dim)}
    tx = optax.adam(0.05)

    @jax.jit
    def step(params, opt_state, key):
        grads = jax.grad(lambda p: -_bound(p, key, batch, dim, rho))(params)
        updates, opt_state = tx.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state

    opt_state = tx.init(params)
    for i in range(300):
        params, opt_state = step(params, opt_state, jax.random.PRNGKey(i))
    held_out = jax.vmap(lambda k: _bound(params, k, batch, dim, rho))(
        jax.random.split(jax.random.PRNGKey(10_000), 200)
    )
    mean, sem = float(held_out.mean()), float(held_out.std() / np.sqrt(held_out.size))
    # The optimal critic, ln p(y|x)/p(y) up to terms in x alone, for comparison.
    c = 1 / (1 - rho**2)
    optimal = {"w": rho * c * jnp.eye(dim), "a": jnp.full(dim, (1 - c) / 2)}
    best = jax.vmap(lambda k: _bound(optimal, k, batch, dim, rho))(
        jax.random.split(jax.random.PRNGKey(10_000), 200)
    )
    print(f"true I {true_mi:.4f}; trained bound {mean:.4f} ± {sem:.4f}; optimal {best.mean():.4f}")
    assert mean <= true_mi + 3 * sem  # A lower bound: never above I beyond noise.
    assert float(best.mean()) <= true_mi + 3 * sem
    assert mean > 0.85 * true_mi  # Training approaches I (finite N keeps it a little below).
    assert mean > float(best.mean()) - 0.05  # ... as close as the optimal critic gets.
