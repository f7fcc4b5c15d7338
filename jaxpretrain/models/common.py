"""Model utilities shared by all architectures."""

import math
from typing import Any

import jax


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
