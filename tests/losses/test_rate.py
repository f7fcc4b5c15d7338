"""gaussian_kl: the closed form against NumPy and Monte Carlo, priors, masks, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpretrain import losses


def _numpy_kl(mu, log_s, mu_p, log_s_p):
    """KL(N(μ, σ²) ‖ N(μ_p, σ_p²)) summed over the last axis, the textbook formula."""
    var, var_p = np.exp(2 * log_s), np.exp(2 * log_s_p)
    per_dim = np.log(np.sqrt(var_p / var)) + (var + (mu - mu_p) ** 2) / (2 * var_p) - 0.5
    return per_dim.sum(-1)


def test_closed_form_matches_numpy_and_monte_carlo():
    rng = np.random.default_rng(0)
    mu, log_s = rng.normal(size=(4, 3)), rng.normal(scale=0.5, size=(4, 3))
    mu_p, log_s_p = rng.normal(size=(4, 3)), rng.normal(scale=0.5, size=(4, 3))
    kl = np.asarray(losses.gaussian_kl(mu, log_s, mu_p, log_s_p))
    np.testing.assert_allclose(kl, _numpy_kl(mu, log_s, mu_p, log_s_p), rtol=1e-5, atol=1e-6)
    # E_{z~q} ln q(z)/p(z) by sampling: 200k draws per example.
    z = mu + np.exp(log_s) * rng.normal(size=(200_000, 4, 3))
    log_ratio = lambda m, ls: -0.5 * ((z - m) / np.exp(ls)) ** 2 - ls  # noqa: E731
    mc = (log_ratio(mu, log_s) - log_ratio(mu_p, log_s_p)).sum(-1).mean(0)
    np.testing.assert_allclose(kl, mc, atol=0.03)


def test_standard_prior_is_the_default_and_priors_broadcast():
    rng = np.random.default_rng(1)
    mu, log_s = rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 2, 3))  # Summed over [2, 3].
    zeros = np.zeros_like(mu)
    np.testing.assert_allclose(
        losses.gaussian_kl(mu, log_s),
        _numpy_kl(mu, log_s, zeros, zeros).sum(-1),
        rtol=1e-5,
    )
    mu_p, log_s_p = rng.normal(size=3), rng.normal(size=3)  # One learned prior for all rows.
    np.testing.assert_allclose(
        losses.gaussian_kl(mu, log_s, mu_p, log_s_p),
        _numpy_kl(mu, log_s, mu_p + zeros, log_s_p + zeros).sum(-1),
        rtol=1e-5,
    )
    # The posterior equal to the prior costs nothing; tiny differences cost ~d² (no cancellation).
    np.testing.assert_array_equal(losses.gaussian_kl(mu, log_s, mu, log_s), 0.0)
    small = np.asarray(losses.gaussian_kl(jnp.zeros((1, 1)), jnp.full((1, 1), 1e-4)))
    np.testing.assert_allclose(small, [1e-8], rtol=1e-3)


def test_mask_zeroes_rows_and_keeps_gradients_finite():
    mu = jnp.array([[0.5, -1.0], [jnp.nan, jnp.inf]])
    log_s = jnp.array([[0.1, -0.2], [jnp.nan, 1e4]])
    where = jnp.array([True, False])

    def total(mu, log_s):
        return jnp.sum(losses.gaussian_kl(mu, log_s, mu * 0.5, log_s + 1.0, where=where))

    value = losses.gaussian_kl(mu, log_s, where=where)
    assert np.isfinite(value[0]) and value[1] == 0.0
    grads = jax.grad(total, argnums=(0, 1))(mu, log_s)
    assert all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_array_equal(grads[0][1], 0.0)
    # Extreme but finite scales stay finite (σ floor 1e-3, a wide σ of e^5).
    big = jax.grad(lambda s: jnp.sum(losses.gaussian_kl(jnp.ones((2, 2)), s)))(
        jnp.array([[np.log(1e-3), 5.0], [0.0, -3.0]])
    )
    assert np.all(np.isfinite(big))


def test_bad_shapes_are_one_line_errors():
    with pytest.raises(ValueError, match="must share one"):
        losses.gaussian_kl(jnp.zeros((2, 3)), jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match="prior_mean .* does not broadcast"):
        losses.gaussian_kl(jnp.zeros((2, 3)), jnp.zeros((2, 3)), jnp.zeros(4))
    with pytest.raises(ValueError, match="where must be boolean"):
        losses.gaussian_kl(jnp.zeros((2, 3)), jnp.zeros((2, 3)), where=jnp.ones(3, bool))
