"""The argument checks and masking every public loss shares.

Each loss returns one value per example and takes an optional boolean ``where`` of that
per-example shape. A masked example costs exactly 0 and gets exactly 0 gradient *whatever its
inputs hold* (NaN, inf, garbage ids): masking only the output would not do, since the discarded
branch's gradient still flows and 0·NaN = NaN, so the inputs of masked examples are replaced
first (``sanitize``, the "double where") and the output masked after (``apply_mask``).
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError

Array = jax.Array


def floating(x, name: str, fn: str) -> Array:
    """``x`` as a floating array of at least float32 precision (bfloat16/float16 are too coarse
    for a loss; float64 is never demoted). Raises InputError naming ``fn`` and ``name``."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise InputError(f"{fn}: {name} must be floating, got dtype {x.dtype}.")
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def check_where(where, shape: tuple, fn: str) -> Optional[Array]:
    """``where`` as a bool array of the per-example ``shape``, or None when it is None."""
    if where is None:
        return None
    where = jnp.asarray(where)
    if where.dtype != jnp.bool_ or where.shape != tuple(shape):
        raise InputError(
            f"{fn}: where must be boolean of the per-example shape {tuple(shape)}, got "
            f"{where.dtype}{list(where.shape)}."
        )
    return where


def sanitize(x: Array, where: Optional[Array], fill=0) -> Array:
    """``x`` [*where.shape, ...] with the masked examples' entries replaced by ``fill``."""
    if where is None:
        return x
    keep = where.reshape(where.shape + (1,) * (x.ndim - where.ndim))
    return jnp.where(keep, x, jnp.asarray(fill, x.dtype))


def apply_mask(loss: Array, where: Optional[Array]) -> Array:
    """``loss`` [*where.shape] with the masked examples set to exactly 0."""
    return loss if where is None else jnp.where(where, loss, 0.0)
