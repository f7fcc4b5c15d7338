"""What the methods share: reductions (loss primitives return per-example values; methods
reduce), PSNR, and the check that a method needing its data set was given one."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpretrain import losses
from jaxpretrain.errors import ConfigError


def require_dataset(dataset, method: str):
    """``dataset``, the ``data.Dataset`` a method builds its model or preprocessing from; a clear
    error naming the fix when it is None."""
    if dataset is None:
        raise ConfigError(
            f"method {method!r} needs the data set its config names: pass"
            " dataset=jaxpretrain.data.load_dataset(config.data) to make_model and preprocess."
        )
    return dataset


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
