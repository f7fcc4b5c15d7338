"""The rate of a Gaussian noisy channel: the closed-form KL of the noisy-channel rate-distortion
autoencoder (TTIC 31230, "Noisy Channel RDAs"; Ballé et al. 2017; Kingma & Welling 2014).

``gaussian_kl``: the channel z = μ_Φ(y) + σ_Φ(y)·ε, ε ~ N(0, I), sends y at a rate bounded by

    I(y, z) ≤ E_y KL(P_Φ(z|y), p̂(z)),   KL = E_{z~P_Φ(z|y)} ln P_Φ(z|y) / p̂(z),

for any density p̂ (the gap is KL(P_Φ(z), p̂(z)) ≥ 0). With p̂ = N(0, I) (w.l.o.g. for a learned
encoder) and the KL per latent dimension in closed form, the RDA objective
I + λ Dist is the VAE's. The class-conditional RDA bounds I(y, z | x) by E KL(P_Φ(z|y, x),
P_Φ(z|x)), a learned Gaussian prior per class x: pass its mean and log-scale as the prior.

Parametrisation: log standard deviations (log σ), not log-variances. For d = ln σ − ln σ_p,

    KL(N(μ, σ²) ‖ N(μ_p, σ_p²)) = Σ_i ½(e^{2d_i} − 1 − 2d_i) + ½((μ_i − μ_p,i)/σ_p,i)²   (nats),

computed with expm1 so that σ ≈ σ_p costs ≈ d² without cancellation. The function returns one
value per example and takes an optional boolean ``where`` mask of that shape: masked-out
examples give exactly 0 and zero, finite gradients, whatever their inputs hold.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.losses.masking import apply_mask, check_where, floating, sanitize

Array = jax.Array


def _prior(value, name: str, shape: tuple, fn: str) -> Array:
    value = floating(value, name, fn)
    try:
        return jnp.broadcast_to(value, shape)
    except ValueError:
        raise InputError(
            f"{fn}: {name} {value.shape} does not broadcast to the posterior's {shape}."
        ) from None


def gaussian_kl(mean, log_scale, prior_mean=None, prior_log_scale=None, *, where=None) -> Array:
    """KL(N(μ, diag σ²) ‖ N(μ_p, diag σ_p²)) per example, summed over the latent dimensions.

    Args:
      mean: μ, [B, ...] floating (e.g. [B, D] latents).
      log_scale: ln σ, the shape of ``mean``.
      prior_mean: μ_p broadcastable to ``mean`` ([D] for one learned prior, [B, D] for a prior
        per example's class); None: 0.
      prior_log_scale: ln σ_p broadcastable to ``mean``; None: 0 (with ``prior_mean`` None, the
        standard normal N(0, I)).
      where: optional bool [B]; False examples give 0.

    Returns:
      [B] nats, float32 (float64 for float64 inputs); 0 where the posterior is the prior, for
      any prior scale (e^{-ln σ_p} overflowing float32 included), with finite gradients.

    References:
      TTIC 31230 (McAllester), Noisy Channel RDAs: I(y, z) ≤ E KL(P_Φ(z|y), p̂(z)); Kingma &
      Welling 2014, Appendix B (the standard-normal case); Ballé et al. 2017.
    """
    fn = "gaussian_kl"
    mean = floating(mean, "mean", fn)
    log_scale = floating(log_scale, "log_scale", fn)
    if mean.ndim < 1 or log_scale.shape != mean.shape:
        raise InputError(
            f"{fn}: mean {mean.shape} and log_scale {log_scale.shape} must share one [B, ...] "
            "shape."
        )
    shape = mean.shape
    where = check_where(where, shape[:1], fn)
    prior_mean = 0.0 if prior_mean is None else _prior(prior_mean, "prior_mean", shape, fn)
    prior_log_scale = (
        0.0 if prior_log_scale is None else _prior(prior_log_scale, "prior_log_scale", shape, fn)
    )
    # Masked rows are zeroed before any arithmetic: NaN there must not reach a gradient.
    mean, log_scale, prior_mean, prior_log_scale = (
        sanitize(jnp.broadcast_to(v, shape), where)
        for v in (mean, log_scale, prior_mean, prior_log_scale)
    )
    d = log_scale - prior_log_scale
    # μ = μ_p costs exactly 0 however small σ_p: past float32, e^{-ln σ_p} = inf and 0·inf = NaN
    # (double where, so the gradient stays finite too).
    diff = mean - prior_mean
    offset = diff * jnp.exp(-jnp.where(diff == 0, 0.0, prior_log_scale))
    per_dim = 0.5 * (jnp.expm1(2.0 * d) - 2.0 * d) + 0.5 * offset**2
    loss = jnp.sum(per_dim, axis=tuple(range(1, mean.ndim)))
    return apply_mask(loss, where)
