"""Language-modelling losses: next-token cross-entropy for causal (GPT-style) models.

A causal model reads tokens x_0..x_{T} and, at each position t, predicts the next token:

    ℓ_t = -log p(x_{t+1} | x_{≤t}) = lse(z_t) - z_t[x_{t+1}],   z_t = logits[..., t, :]

The shift is the caller's: feed the model ``tokens[..., :-1]`` and pass ``tokens[..., 1:]`` as
``targets``, so that ``logits[..., t, :]`` is scored against ``targets[..., t] = tokens[..., t+1]``.
Like every loss here, one value per (sequence, position) is returned; callers reduce.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpretrain.losses.classification import softmax_cross_entropy

Array = jax.Array


def next_token(logits, targets, *, where=None) -> Array:
    """Per-token next-token cross-entropy ℓ[..., t] = -log softmax(logits[..., t, :])[targets[..., t]].

    Shift contract: ``logits[..., t, :]`` is the model's prediction after reading tokens
    ``0..t``, and ``targets[..., t]`` is token ``t + 1`` (``targets = tokens[..., 1:]`` for
    ``logits = model(tokens[..., :-1])``). Uniform logits give ln V at every position.

    Args:
      logits: [..., T, V] floating next-token scores.
      targets: [..., T] integer ids in [0, V), already shifted as above.
      where: optional bool [..., T]; False positions (padding) give loss 0 and gradient 0.

    Returns:
      [..., T] loss in nats per token, float32 (float64 for float64 logits).

    References:
      Radford et al., "Language Models are Unsupervised Multitask Learners", 2019, Sec. 2
      (p(x) = Π_t p(x_t | x_{<t})); Bengio et al., "A Neural Probabilistic Language Model", 2003.
    """
    logits = jnp.asarray(logits)
    targets = jnp.asarray(targets)
    if logits.ndim < 2:
        raise ValueError(f"next_token: logits must be [..., T, V], got shape {logits.shape}.")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"next_token: targets shape {targets.shape} must equal logits shape {logits.shape}"
            f" without its vocabulary axis, i.e. {logits.shape[:-1]} (targets = tokens[..., 1:]"
            " for logits = model(tokens[..., :-1]))."
        )
    return softmax_cross_entropy(logits, targets, where=where)
