"""Reductions the methods share (loss primitives return per-example values; methods reduce)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpretrain import losses


def masked_mean(values: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Mean of ``values`` [B] over the rows where ``mask`` (bool [B]) is True; all rows if None."""
    if mask is None:
        return jnp.mean(values)
    weights = mask.astype(values.dtype)
    return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def classification_loss(logits, labels, mask=None, *, label_smoothing: float = 0.0):
    """Mean softmax cross-entropy of ``logits`` [B, C] against int ``labels`` [B] over the rows
    ``mask`` (bool [B]) keeps, and {"accuracy": the share of those rows whose argmax is right}."""
    per_example = losses.softmax_cross_entropy(
        logits, labels, label_smoothing=label_smoothing, where=mask
    )
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return masked_mean(per_example, mask), {"accuracy": masked_mean(correct, mask)}


def psnr(mse: jax.Array, peak: jax.Array | float = 1.0) -> jax.Array:
    """Peak signal-to-noise ratio 10 log10(peak² / mse) in dB, elementwise (mse floored at 1e-12)."""
    return 10.0 * jnp.log10(peak**2 / jnp.maximum(mse, 1e-12))
