"""Entropies estimated by cross-entropy models, for information-theoretic co-training
(McAllester 2018, "Information Theoretic Co-Training", arXiv 1802.07572).

An encoder assigns each input x a distribution q(k|x) over K discrete codes (a softmax; a
deterministic code is one-hot). A model P_Ψ of the codes (a marginal P_Ψ(z), or a conditional
P_Ψ(z|c) given some context c) gives the cross-entropy

    Ĥ_Ψ(z)   = E_x [ -Σ_k q(k|x) ln P_Ψ(k) ]        >= H(z),
    Ĥ_Ψ(z|c) = E_x [ -Σ_k q(k|x) ln P_Ψ(k|c) ]      >= H(z|c),

an upper bound on the true entropy of the code z ~ q(·|x), tight when P_Ψ is the true (marginal
or conditional) code distribution, so the model player minimises it: Ĥ(z) = min_Ψ Ĥ_Ψ(z). The
difference of the two estimates is the co-training estimate of mutual information,

    Î(c, z) = Ĥ(z) - Ĥ(z|c),

neither an upper nor a lower bound (a difference of two upper bounds), but consistent: it is
exact when both models are. ``cross_entropy_entropy`` is the per-example term of both;
``code_entropy`` is H(q(·|x)) = -Σ_k q(k|x) ln q(k|x), the code's own uncertainty per example
(0 for deterministic codes, ln K for the uniform collapse).

Logits are promoted to at least float32 and normalised with ``log_softmax``, so large or bfloat16
logits give accurate values; q = 0 entries contribute exactly 0 (never 0·(-inf)). Per-example
outputs; the caller reduces.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.losses.masking import apply_mask, check_where, floating, sanitize

Array = jax.Array


def _codes(name: str, fn: str, x) -> Array:
    x = floating(x, name, fn)
    if x.ndim < 1 or x.shape[-1] < 2:
        raise InputError(
            f"{fn}: {name} {x.shape} need K >= 2 codes on the last axis ([..., K]); one code "
            "carries no information."
        )
    return x


def cross_entropy_entropy(code_probs, model_logits, *, where=None) -> Array:
    """The entropy model's cross-entropy -Σ_k q(k|x) ln P_Ψ(k), one value per example.

    Its mean over examples is Ĥ_Ψ(z) >= H(z) for a marginal model (``model_logits`` [K],
    broadcast to every example) or Ĥ_Ψ(z|c) >= H(z|c) for a conditional one (``model_logits``
    [..., K], computed from each example's context c).

    Args:
      code_probs: float [..., K] code distribution q(·|x) of each example (rows sum to 1; a
        one-hot row is a deterministic code).
      model_logits: float [..., K] (or any shape broadcasting to ``code_probs``): the entropy
        model's unnormalised log-probabilities, ln P_Ψ(k) + const.
      where: optional bool [...]; False rows give exactly 0 and exactly 0, finite gradients.

    Returns:
      float [...] (at least float32), in nats, >= 0; uniform logits give exactly ln K.
    """
    fn = "cross_entropy_entropy"
    q = _codes("code_probs", fn, code_probs)
    logits = _codes("model_logits", fn, model_logits)
    if logits.shape[-1] != q.shape[-1]:
        raise InputError(
            f"{fn}: model_logits {logits.shape} and code_probs {q.shape} disagree on the "
            "number of codes K (the last axis)."
        )
    try:
        shape = jnp.broadcast_shapes(q.shape, logits.shape)
    except ValueError as e:
        raise InputError(
            f"{fn}: model_logits {logits.shape} do not broadcast to code_probs {q.shape}."
        ) from e
    where = check_where(where, shape[:-1], fn)
    if where is not None:  # A marginal model [K] is broadcast to the rows before masking them.
        q = sanitize(jnp.broadcast_to(q, shape), where)
        logits = sanitize(jnp.broadcast_to(logits, shape), where)
    log_p = jax.nn.log_softmax(logits, axis=-1)
    loss = -jnp.sum(jnp.where(q > 0, q * log_p, 0.0), axis=-1)
    return apply_mask(loss, where)


def code_entropy(code_logits, *, where=None) -> Array:
    """H(q(·|x)) = -Σ_k q(k|x) ln q(k|x) with q = softmax(``code_logits``), one value per example.

    The mean over examples, E_x H(q(·|x)) = H(z|x), is 0 for deterministic codes and ln K when
    every example's code is uniform (co-training's collapse, where Ĥ(z) = Ĥ(z|c) = ln K and the
    gradients vanish).

    Args:
      code_logits: float [..., K] the encoder's code logits; -inf marks an impossible code.
      where: optional bool [...]; False rows give exactly 0 and exactly 0, finite gradients.

    Returns:
      float [...] (at least float32), in nats, in [0, ln K].
    """
    fn = "code_entropy"
    logits = _codes("code_logits", fn, code_logits)
    where = check_where(where, logits.shape[:-1], fn)
    logits = sanitize(logits, where)
    log_q = jax.nn.log_softmax(logits, axis=-1)
    q = jnp.exp(log_q)
    # -inf logits (impossible codes, q = 0) give 0 and a finite gradient: the double where keeps
    # ln q = -inf out of the product's (discarded) derivative, 0·(-inf) = NaN.
    log_q = jnp.where(q > 0, log_q, 0.0)
    entropy = -jnp.sum(q * log_q, axis=-1)
    return apply_mask(entropy, where)
