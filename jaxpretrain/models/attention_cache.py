"""The key/value cache of self-attention for incremental decoding (``MultiHeadAttention`` with
``decode=True``).

An autoregressive model recomputes nothing for positions it has already seen: the attention
module keeps the projected Key and Value of every position so far in its "cache" collection, as
``cached_key``/``cached_value`` [B, H, S, K] (S = the cache length) and ``cache_index`` (int32,
positions filled). A call with T new positions writes their Key/Value at ``index .. index+T-1``
and lets query t (absolute position index + t) attend to every cached key

    t′ ≤ index + t,

so running a prompt then one token at a time gives the outputs of one causal pass over the whole
sequence, at O(S) instead of O(S²) work per new token. ``init`` with ``decode=True`` on a [B, S]
input creates the cache (its length fixes S); ``apply(..., decode=True, mutable=["cache"])``
then reads and extends it.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.models.masks import causal_mask, combine_masks

Array = Any


def extend_cache(
    module: nn.Module, key: Array, value: Array, mask: Array | None
) -> tuple[Array, Array, Array]:
    """Writes this call's Key/Value at the cache index of ``module`` (an attention layer, inside
    its compact ``__call__``) and returns what its queries attend to.

    Args:
      module: the attention module whose "cache" collection holds the cache.
      key, value: [B, H, T, K], the projections of this call's T positions.
      mask: bool [B|1, H|1, T, S] over the S cache slots (e.g. padded keys), or None.

    Returns:
      (the whole cached Key and Value [B, H, S, K], the mask bool [B|1, H|1, T, S] letting query t
      see cached keys t′ ≤ index + t, and'ed with ``mask``).
    """
    initialised = module.has_variable("cache", "cached_key")
    cached_key = module.variable("cache", "cached_key", jnp.zeros, key.shape, key.dtype)
    cached_value = module.variable("cache", "cached_value", jnp.zeros, value.shape, value.dtype)
    index = module.variable("cache", "cache_index", lambda: jnp.zeros((), jnp.int32))
    if not initialised:  # ``init``: the input's length T sets the cache length S.
        return key, value, combine_masks(causal_mask(key.shape[2]), mask)
    b, h, t, _ = key.shape
    if cached_key.value.shape[:2] != (b, h) or t > cached_key.value.shape[2]:
        raise InputError(
            f"decode step of shape [B, H, T] = {[b, h, t]} does not fit the cache "
            f"{list(cached_key.value.shape[:3])}; initialise the cache for this batch size "
            "and a length covering prompt plus new tokens."
        )
    start = index.value
    cached_key.value = jax.lax.dynamic_update_slice(cached_key.value, key, (0, 0, start, 0))
    cached_value.value = jax.lax.dynamic_update_slice(cached_value.value, value, (0, 0, start, 0))
    index.value = start + t
    s = cached_key.value.shape[2]
    # Query t sits at absolute position start + t and may see keys t′ ≤ start + t.
    seen = jnp.arange(s)[None, :] <= (start + jnp.arange(t))[:, None]  # [T, S]
    if mask is not None and (mask.ndim != 4 or mask.shape[2:] != (t, s)):
        raise InputError(f"with decode, mask must be [B|1, H|1, {t}, {s}], got {mask.shape}.")
    return cached_key.value, cached_value.value, combine_masks(seen[None, None], mask)
