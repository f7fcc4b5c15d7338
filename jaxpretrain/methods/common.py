"""Reductions the methods share (loss primitives return per-example values; methods reduce)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def masked_mean(values: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Mean of ``values`` [B] over the rows where ``mask`` (bool [B]) is True; all rows if None."""
    if mask is None:
        return jnp.mean(values)
    weights = mask.astype(values.dtype)
    return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1.0)
