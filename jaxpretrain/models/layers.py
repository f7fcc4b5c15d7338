"""Layers shared by the Transformer models: the position-wise MLP and LayerNorm, with logical
axis names on their parameters (``parallel/`` maps them to mesh axes)."""

from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

Array = Any
Initializer = Callable[..., Array]


def partitioned(init: Initializer, axes: tuple) -> Initializer:
    """``init`` whose parameter carries the logical axis names ``axes``."""
    return nn.with_logical_partitioning(init, axes)


class MLP(nn.Module):
    """The position-wise feed-forward network: [B, T, D] -> act(x W_1 + b_1) W_2 + b_2.

    Vaswani et al. 2017, Eq. 2 (act = ReLU); GPT-2 uses the tanh GELU.

    Params: ``fc`` kernel [D, F], bias [F]; ``proj`` kernel [F, D], bias [D] (F = hidden).

    Attributes:
      hidden: F (4D in GPT-2, d_ff = 2048 in the base Transformer).
      activation: the nonlinearity, e.g. ``nn.relu`` or ``partial(nn.gelu, approximate=True)``.
      kernel_init: initialiser of the ``fc`` kernel.
      out_kernel_init: initialiser of the ``proj`` kernel (GPT-2 scales it by 1/√(2L)).
      dtype: compute dtype; params stay float32.
    """

    hidden: int
    activation: Callable[[Array], Array]
    kernel_init: Initializer
    out_kernel_init: Initializer
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        d = x.shape[-1]
        zeros = nn.initializers.zeros
        y = nn.Dense(
            self.hidden,
            dtype=self.dtype,
            kernel_init=partitioned(self.kernel_init, ("embed", "mlp")),
            bias_init=partitioned(zeros, ("mlp",)),
            name="fc",
        )(x)  # [B, T, F]
        return nn.Dense(
            d,
            dtype=self.dtype,
            kernel_init=partitioned(self.out_kernel_init, ("mlp", "embed")),
            bias_init=partitioned(zeros, ("embed",)),
            name="proj",
        )(self.activation(y))  # [B, T, D]


def layer_norm(epsilon: float, dtype: Any, name: str) -> nn.LayerNorm:
    """LayerNorm over the last axis (scale ones, bias zeros), parameters on the "embed" axis."""
    return nn.LayerNorm(
        epsilon=epsilon,
        dtype=dtype,
        scale_init=partitioned(nn.initializers.ones, ("embed",)),
        bias_init=partitioned(nn.initializers.zeros, ("embed",)),
        name=name,
    )
