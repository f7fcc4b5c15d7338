"""Checksums that make a silently damaged checkpoint detectable.

Orbax's storage (TensorStore, OCDBT) keeps no checksum of the array data: a flipped bit in a
checkpoint file restores without an error, as a slightly different parameter. So every checkpoint
also stores, per array leaf ``x`` (of any dtype, viewed as unsigned words ``w`` of 8, 16 or 32
bits, widened to uint32)::

    checksum(x) = Σ_i (2i + 1) · w_i   (mod 2³²)

Integer addition is associative, so the sum is exact and the same on any device layout (one
device, FSDP shards, another mesh), and an odd weight keeps every single-bit change visible
(2ᵏ · odd ≠ 0 mod 2³²) while the position weights catch moved values.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _words(x: jax.Array) -> jax.Array:
    """The bits of ``x`` as uint32 words (one per element of up to 32 bits, two per 64-bit one)."""
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    if x.dtype == jnp.bool_:
        return x.astype(jnp.uint32)
    width = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[x.dtype.itemsize]
    return jax.lax.bitcast_convert_type(x, width).astype(jnp.uint32)


def _leaf_checksum(x: jax.Array) -> jax.Array:
    words = _words(jnp.asarray(x)).reshape(-1)
    weights = 2 * jnp.arange(words.size, dtype=jnp.uint32) + 1
    return jnp.sum(words * weights, dtype=jnp.uint32)


@jax.jit
def _checksums(leaves: list[jax.Array]) -> jax.Array:
    return jnp.stack([_leaf_checksum(x) for x in leaves]) if leaves else jnp.zeros(0, jnp.uint32)


def checksums(tree: Any) -> dict[str, int]:
    """``{leaf path: checksum}`` of a pytree of arrays (device or host), computed where they live."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    values = np.asarray(jax.device_get(_checksums([leaf for _, leaf in flat])))
    return {
        jax.tree_util.keystr(path, simple=True, separator="/"): int(v)
        for (path, _), v in zip(flat, values)
    }


def by_item(items: dict[str, Any]) -> dict[str, dict[str, int]]:
    """``{item: {leaf path: checksum}}`` of a dict of pytrees, in one compiled call."""
    grouped: dict[str, dict[str, int]] = {name: {} for name in items}
    for path, value in checksums(items).items():
        name, _, rest = path.partition("/")
        grouped[name][rest] = value
    return grouped


def differing(actual: dict[str, int], expected: dict[str, int]) -> list[str]:
    """The leaf paths whose checksums differ (or that only one side has)."""
    return sorted(p for p in set(actual) | set(expected) if actual.get(p) != expected.get(p))


def mismatches(tree: Any, expected: dict[str, int]) -> list[str]:
    """The leaf paths of ``tree`` whose checksum is not ``expected``'s (or that it lacks)."""
    return differing(checksums(tree), expected)
