"""Layers shared by the Transformer models: the position-wise MLP (Vaswani et al. 2017, Eq. 2)
with its activations by name, LayerNorm (Ba et al. 2016), and the token-input check.

Activations (``ACTIVATIONS``, the names configs use):

    relu:       max(0, u)                                    (Vaswani et al. 2017)
    gelu:       u·Φ(u), Φ the standard normal CDF (erf)      (Hendrycks & Gimpel 2016; BERT)
    gelu_tanh:  ½u(1 + tanh(√(2/π)(u + 0.044715u³)))         (the approximation GPT-2 used)

Parameters carry logical axis names ("embed", "mlp"); ``parallel.rules`` maps them to mesh axes.
"""

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxpretrain.errors import InputError

Array = Any
Initializer = Callable[..., Array]


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": nn.relu,
    "gelu": functools.partial(nn.gelu, approximate=False),
    "gelu_tanh": functools.partial(nn.gelu, approximate=True),
}


def activation(name: str) -> Callable[[Array], Array]:
    """The activation called ``name`` in ``ACTIVATIONS`` (module docstring).

    Raises:
      ValueError: for an unknown name, listing the known ones.
    """
    if name not in ACTIVATIONS:
        raise InputError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


def partitioned(init: Initializer, axes: tuple) -> Initializer:
    """``init`` whose parameter carries the logical axis names ``axes``."""
    return nn.with_logical_partitioning(init, axes)


def over_rows(layer: Callable[[Array], Array], x: Array) -> Array:
    """``layer`` ([N, D] -> [N, F]) applied to x [..., D] as one rank-2 input of N rows (N the
    product of the leading axes), then reshaped to [..., F]. Same values; XLA:CPU runs rank-2 dots
    at its matmul peak, and rank-3 ones and their gradients up to 2x slower (measured on GPT's
    MLP), so dense layers take their inputs flattened.
    """
    return layer(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)


class MLP(nn.Module):
    """The position-wise feed-forward network: [B, T, D] -> act(x W_1 + b_1) W_2 + b_2.

    Vaswani et al. 2017, Eq. 2 (act = ReLU); BERT uses the erf GELU, GPT-2 the tanh GELU.

    Params: ``fc`` kernel [D, F], bias [F]; ``proj`` kernel [F, D], bias [D] (F = hidden).

    Attributes:
      hidden: F (4D in GPT-2, d_ff = 2048 in the base Transformer).
      activation: the nonlinearity, e.g. ``nn.relu`` or ``activation("gelu_tanh")``.
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
        """x [..., D] -> [..., D]; both Dense layers see the rows [N, D] (``over_rows``)."""
        zeros = nn.initializers.zeros
        fc = nn.Dense(
            self.hidden,
            dtype=self.dtype,
            kernel_init=partitioned(self.kernel_init, ("embed", "mlp")),
            bias_init=partitioned(zeros, ("mlp",)),
            name="fc",
        )
        proj = nn.Dense(
            x.shape[-1],
            dtype=self.dtype,
            kernel_init=partitioned(self.out_kernel_init, ("mlp", "embed")),
            bias_init=partitioned(zeros, ("embed",)),
            name="proj",
        )
        return over_rows(lambda rows: proj(self.activation(fc(rows))), x)  # [N, F] inside


def layer_norm(epsilon: float, dtype: Any, name: str) -> nn.LayerNorm:
    """LayerNorm over the last axis (scale ones, bias zeros), parameters on the "embed" axis."""
    return nn.LayerNorm(
        epsilon=epsilon,
        dtype=dtype,
        scale_init=partitioned(nn.initializers.ones, ("embed",)),
        bias_init=partitioned(nn.initializers.zeros, ("embed",)),
        name=name,
    )


def check_tokens(
    tokens: Array,
    valid: Array | None = None,
    *,
    vocab_size: int,
    max_length: int,
    model: str,
    name: str = "tokens",
) -> tuple[Array, Array | None]:
    """Checks a Transformer's int [B, T] input before it meets a shape error deep inside jit.

    T (static) is checked always; the ids against [0, vocab_size) only when concrete (outside
    ``jit``; traced out-of-range ids are clipped by the embedding lookup, not reported).

    Args:
      tokens: int [B, T] token ids.
      valid: optional bool [B, T], False at padding.
      vocab_size, max_length: the model's V and longest T.
      model, name: the model's and the input's names, for the messages.

    Returns:
      (tokens, valid) as jax arrays.
    """
    concrete = None if isinstance(tokens, jax.core.Tracer) else np.asarray(tokens)
    tokens = jnp.asarray(tokens)
    if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise InputError(
            f"{model} expects int {name} of shape [B, T], got shape {tokens.shape} and dtype "
            f"{tokens.dtype}."
        )
    if tokens.shape[1] > max_length:
        raise InputError(
            f"{name} length {tokens.shape[1]} exceeds max_length={max_length}; truncate the "
            "input or build the model with a larger max_length."
        )
    if concrete is not None and concrete.size:
        low, high = int(concrete.min()), int(concrete.max())
        if low < 0 or high >= vocab_size:
            raise InputError(
                f"{name} ids span [{low}, {high}], outside the vocabulary [0, {vocab_size}); "
                "check the tokenizer matches the model's vocab size."
            )
    if valid is not None:
        valid = jnp.asarray(valid)
        if valid.shape != tokens.shape or valid.dtype != jnp.bool_:
            raise InputError(
                f"the padding mask of {name} must be bool [B, T] = {tokens.shape}, got "
                f"{valid.dtype} {valid.shape}."
            )
    return tokens, valid
