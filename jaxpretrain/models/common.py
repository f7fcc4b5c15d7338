"""Model utilities shared by all architectures."""

import math
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def num_params(params: Any) -> int:
    """Total number of scalars in a params pytree.

    Works on real arrays and on the ``jax.ShapeDtypeStruct`` leaves returned by
    ``jax.eval_shape(model.init, ...)``, so large models can be counted without
    allocating them.

    Args:
      params: a pytree whose leaves have a ``.shape`` (or are Python scalars).

    Returns:
      The sum over leaves of their element counts, as a Python int.
    """
    return sum(math.prod(getattr(leaf, "shape", ())) for leaf in jax.tree_util.tree_leaves(params))


def module_fields(block: Mapping[str, Any], *, drop: Sequence[str] = ()) -> dict[str, Any]:
    """A config block's fields as a module's keyword arguments.

    Lists become tuples (module fields must be hashable; a config read back from JSON holds
    lists) and a ``dtype`` named by a string (``"bfloat16"``) becomes that dtype.

    Args:
      block: e.g. ``config.model`` (a ConfigDict or dict).
      drop: keys that are not module fields (``"variant"``, ``"backbone"``).
    """
    fields = {
        k: tuple(v) if isinstance(v, (list, tuple)) else v
        for k, v in block.items()
        if k not in drop
    }
    if "dtype" in fields:
        fields["dtype"] = jnp.dtype(fields["dtype"])
    return fields


def init_token_model(model: nn.Module, rng: jax.Array, length: int = 1) -> dict:
    """Initialises the params of a model whose input is int tokens [B, T] (GPT, BERT) as plain
    (unboxed) float32 arrays.

    Args:
      model: e.g. a ``GPT``, ``Bert`` or ``BertEncoder``.
      rng: a PRNG key.
      length: the sequence length of the dummy input (params do not depend on it).

    Returns:
      The params dict (without the {"params": ...} wrapper).
    """
    tokens = jnp.zeros((1, length), jnp.int32)
    # One compiled init is much faster than op-by-op, and works under jax.eval_shape too.
    return jax.jit(lambda key: nn.unbox(model.init(key, tokens)["params"]))(rng)
