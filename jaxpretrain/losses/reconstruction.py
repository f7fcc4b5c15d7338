"""Reconstruction and adversarial losses for self-supervised vision (inpainting, colorization).

* ``masked_l2``: the reconstruction term of the context encoder (Pathak et al. 2016, "Context
  Encoders: Feature Learning by Inpainting", Eq. 1), L_rec = ||M̂ ⊙ (x − F((1 − M̂) ⊙ x))||²,
  here as a weighted mean over the masked pixels, so a mask that selects a window gives exactly the
  mean squared error of that window; also the L2 colour regression of colorization.
* ``gan_discriminator``: the discriminator's side of the adversarial term (Pathak et al. Eq. 2;
  Goodfellow et al. 2014, Eq. 1): ℓ_D = −log D(y) − log(1 − D(ŷ)), D = σ(logit). At D = 1/2 each
  term costs ln 2.
* ``gan_generator``: the generator's non-saturating form ℓ_G = −log D(ŷ) (Goodfellow et al. 2014,
  Sec. 3), whose gradient does not vanish while the discriminator rejects the samples confidently.

Both GAN losses take logits and use −log σ(z) = softplus(−z), −log(1 − σ(z)) = softplus(z), which
stay finite for any finite logit. Every function returns one value per example and takes an
optional boolean ``where`` mask of that shape: masked-out examples give exactly 0 and zero, finite
gradients, whatever their inputs hold. Reduction is the caller's business.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.losses.masking import apply_mask, check_where, floating, sanitize

Array = jax.Array


def masked_l2(predictions, targets, mask=None, *, where=None) -> Array:
    """Mean squared error over the masked pixels of each example.

    ℓ_b = Σ_{h,w,c} m_bhwc (ŷ_bhwc − y_bhwc)² / Σ_{h,w,c} m_bhwc, with m broadcast to ŷ's shape;
    an example whose mask is all zero costs 0. Non-binary masks weight pixels (the paper's 10x
    overlap band). Without a mask, the plain per-example mean squared error.

    Args:
      predictions: [B, ...] floating, e.g. [B, H, W, C] images.
      targets: the shape of ``predictions``.
      mask: optional non-negative weights broadcastable to ``predictions`` with the same leading
        B, e.g. [B, H, W, 1] (1 = missing pixel) or [B, H, W, C].
      where: optional bool [B]; False examples give 0.

    Returns:
      [B] float32 (float64 for float64 inputs).
    """
    fn = "masked_l2"
    predictions = floating(predictions, "predictions", fn)
    targets = floating(targets, "targets", fn)
    if predictions.ndim < 1 or predictions.shape != targets.shape:
        raise InputError(
            f"{fn}: predictions {predictions.shape} and targets {targets.shape} must share one "
            "[B, ...] shape."
        )
    batch = predictions.shape[:1]
    where = check_where(where, batch, fn)
    if mask is None:
        mask = jnp.ones_like(predictions)
    mask = floating(mask, "mask", fn)
    if mask.ndim != predictions.ndim or mask.shape[0] != predictions.shape[0]:
        raise InputError(
            f"{fn}: mask {mask.shape} must have the rank and batch of predictions "
            f"{predictions.shape} (e.g. [B, H, W, 1] for [B, H, W, C] images)."
        )
    try:
        mask = jnp.broadcast_to(mask, predictions.shape)
    except ValueError:
        raise InputError(
            f"{fn}: mask {mask.shape} does not broadcast to predictions {predictions.shape}."
        ) from None
    diff = sanitize(predictions - targets, where)
    mask = sanitize(mask, where)
    axes = tuple(range(1, predictions.ndim))
    total = jnp.sum(mask, axis=axes)
    loss = jnp.sum(mask * diff**2, axis=axes) / jnp.where(total > 0, total, 1.0)
    return apply_mask(loss, where)


def gan_discriminator(real_logits, fake_logits, *, where=None) -> Array:
    """Discriminator cross-entropy: real labelled 1, generated labelled 0.

    ℓ_D = −log σ(r) − log(1 − σ(f)) = softplus(−r) + softplus(f).

    Args:
      real_logits: [B] floating logits of D on real data, D(y) = σ(r).
      fake_logits: [B] floating logits of D on generated data, D(ŷ) = σ(f).
      where: optional bool [B]; False examples give 0.

    Returns:
      [B] float32; 2 ln 2 when both logits are 0 (D = 1/2).

    References:
      Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, Eq. 1.
    """
    fn = "gan_discriminator"
    real = floating(real_logits, "real_logits", fn)
    fake = floating(fake_logits, "fake_logits", fn)
    if real.shape != fake.shape:
        raise InputError(
            f"{fn}: real_logits {real.shape} and fake_logits {fake.shape} must share one shape "
            "(one logit per example)."
        )
    where = check_where(where, real.shape, fn)
    loss = jax.nn.softplus(-sanitize(real, where)) + jax.nn.softplus(sanitize(fake, where))
    return apply_mask(loss, where)


def gan_generator(fake_logits, *, where=None) -> Array:
    """Non-saturating generator loss: ℓ_G = −log σ(f) = softplus(−f).

    Args:
      fake_logits: [B] floating logits of D on generated data.
      where: optional bool [B]; False examples give 0.

    Returns:
      [B] float32; ln 2 at f = 0 (D = 1/2).

    References:
      Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, Sec. 3 (maximise log D(G(z))
      instead of minimising log(1 − D(G(z)))).
    """
    fn = "gan_generator"
    fake = floating(fake_logits, "fake_logits", fn)
    where = check_where(where, fake.shape, fn)
    loss = jax.nn.softplus(-sanitize(fake, where))
    return apply_mask(loss, where)
