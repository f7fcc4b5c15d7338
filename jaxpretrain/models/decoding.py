"""Greedy and beam-search decoding of an autoregressive model over its key/value cache.

Both work on any model through a step function ``step_fn(tokens, cache) -> (logits, cache)``:
tokens int [N, 1] (the latest token of each row), logits float [N, V] (the next-token scores),
cache any pytree whose leaves of rank ≥ 1 are row-major [N, ...] (e.g. ``Transformer.decode`` with
``decode=True``). Everything is pure JAX with fixed shapes, so it runs under ``jit``; the loops are
``lax.while_loop``s that stop early once every row is finished.

Hypotheses. Decoding starts from ``bos_id`` and produces at most L tokens. A hypothesis y_1..y_n
either ends with its first ``eos_id`` (n ≤ L) or is cut at n = L. Returned token arrays hold
y_1..y_n followed by ``eos_id`` up to L.

Greedy: y_t = argmax_v log p(v | y_<t).

Beam search (Sutskever et al. 2014; the top-2k step of Wu et al. 2016 and fairseq): keep k alive
hypotheses; at each step score all k·V one-token extensions by log p, take the best 2k, move those
ending in EOS *among the best k* to the finished pool with score

    s(y) = log p(y) / lp(|y|),    lp(n) = ((5 + n) / 6)^α     (GNMT length penalty, Wu et al. 2016,
                                                               Eq. 14; |y| counts the EOS)

and keep the k best extensions not ending in EOS alive (their cache rows are gathered from their
parent beams). At step L every one of the best k is finished, EOS or not. A row stops once its
pool holds k hypotheses, as fairseq does; so beam size 1 is exactly greedy decoding, and a beam
wide enough to hold every hypothesis is exact search.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError

Array = jax.Array
StepFn = Callable[[Array, Any], tuple[Array, Any]]


def length_penalty(length: Array | int, alpha: float) -> Array:
    """GNMT's lp(n) = ((5 + n) / 6)^α (Wu et al. 2016, Eq. 14); 1 for α = 0."""
    return ((5.0 + jnp.asarray(length, jnp.float32)) / 6.0) ** alpha


def sequence_lengths(tokens: Array, eos_id: int) -> Array:
    """Tokens up to and including the first EOS (L if there is none).

    Args:
      tokens: int [..., L], as returned by ``greedy_decode`` / ``beam_search``.
      eos_id: the end-of-sequence id.

    Returns:
      int32 [...].
    """
    is_eos = tokens == eos_id
    first = jnp.argmax(is_eos, axis=-1)
    return jnp.where(jnp.any(is_eos, axis=-1), first + 1, tokens.shape[-1]).astype(jnp.int32)


def _check(batch_size: int, max_length: int, beam_size: int = 1) -> None:
    for name, value in (("batch_size", batch_size), ("max_length", max_length)):
        if value < 1:
            raise InputError(f"{name} must be positive, got {value}.")
    if beam_size < 1:
        raise InputError(f"beam_size must be positive, got {beam_size}.")


def _step_logits(step_fn: StepFn, last: Array, cache: Any, rows: int) -> tuple[Array, Any]:
    logits, cache = step_fn(last.reshape(rows, 1), cache)
    if logits.ndim != 2 or logits.shape[0] != rows:
        raise InputError(f"step_fn must return logits [N, V] = [{rows}, V], got {logits.shape}.")
    return logits.astype(jnp.float32), cache


def greedy_decode(
    step_fn: StepFn, cache: Any, *, batch_size: int, max_length: int, bos_id: int, eos_id: int
) -> Array:
    """Greedy decoding: y_t = argmax_v logits_t[v] until EOS or L tokens.

    Args:
      step_fn: ``(tokens int [B, 1], cache) -> (logits [B, V], cache)``.
      cache: the model's empty cache for B rows and at least L positions.
      batch_size: B.
      max_length: L, the most tokens generated (the EOS included).
      bos_id: the first input token.
      eos_id: the token that ends a hypothesis.

    Returns:
      int32 [B, L]: y_1..y_n, then ``eos_id``.
    """
    _check(batch_size, max_length)

    def body(state):
        i, tokens, last, done, cache = state
        logits, cache = _step_logits(step_fn, last, cache, batch_size)
        token = jnp.where(done, eos_id, jnp.argmax(logits, axis=-1)).astype(jnp.int32)  # [B]
        tokens = jax.lax.dynamic_update_slice_in_dim(tokens, token[:, None], i, axis=1)
        return i + 1, tokens, token, done | (token == eos_id), cache

    def cond(state):
        i, _, _, done, _ = state
        return (i < max_length) & ~jnp.all(done)

    state = (
        jnp.zeros((), jnp.int32),
        jnp.full((batch_size, max_length), eos_id, jnp.int32),
        jnp.full((batch_size,), bos_id, jnp.int32),
        jnp.zeros((batch_size,), jnp.bool_),
        cache,
    )
    return jax.lax.while_loop(cond, body, state)[1]


def gather_beams(cache: Any, parents: Array) -> Any:
    """Reorders every cache leaf of rank ≥ 1, [B·k, ...], so row b·k + j is parent row
    b·k + parents[b, j]; scalar leaves (counters shared by all rows) are kept.

    Args:
      cache: a pytree with leaves [B·k, ...] or scalars.
      parents: int [B, k], the beam each new hypothesis extends.
    """
    b, k = parents.shape
    rows = (jnp.arange(b)[:, None] * k + parents).reshape(b * k)  # [B·k]

    def gather(leaf):
        if leaf.ndim == 0:
            return leaf
        if leaf.shape[0] != b * k:
            raise InputError(
                f"cache leaf of shape {leaf.shape} is not row-major over B·k = {b * k} rows; "
                "build the cache for batch_size · beam_size rows."
            )
        return jnp.take(leaf, rows, axis=0)

    return jax.tree_util.tree_map(gather, cache)


def _take(x: Array, indices: Array) -> Array:
    """x [B, M, ...] at indices int [B, N] along axis 1 -> [B, N, ...]."""
    expanded = indices.reshape(indices.shape + (1,) * (x.ndim - 2))
    return jnp.take_along_axis(x, expanded, axis=1)


def beam_search(
    step_fn: StepFn,
    cache: Any,
    *,
    batch_size: int,
    beam_size: int,
    max_length: int,
    bos_id: int,
    eos_id: int,
    alpha: float = 0.6,
) -> tuple[Array, Array]:
    """Beam search with the GNMT length penalty (module docstring).

    Args:
      step_fn: ``(tokens int [B·k, 1], cache) -> (logits [B·k, V], cache)``; row b·k + j is beam j
        of example b (tile per-example inputs such as the encoder output with
        ``jnp.repeat(x, k, axis=0)``).
      cache: the model's empty cache for B·k rows and at least L positions.
      batch_size: B.
      beam_size: k.
      max_length: L, the most tokens generated (the EOS included).
      bos_id: the first input token.
      eos_id: the token that ends a hypothesis.
      alpha: α of the length penalty; 0 ranks by log-probability alone (Vaswani et al. 2017
        used k = 4, α = 0.6).

    Returns:
      (tokens int32 [B, k, L], scores float32 [B, k]): the finished hypotheses, best first, each
      y_1..y_n then ``eos_id``; score = log p(y) / lp(n). Slots never filled (fewer than k
      hypotheses exist) score -inf.
    """
    _check(batch_size, max_length, beam_size)
    b, k, length = batch_size, beam_size, max_length
    ninf = jnp.float32(-jnp.inf)

    def body(state):
        i, alive, alive_logp, last, finished, scores, cache = state
        done = scores[:, -1] > ninf  # [B]: the pool holds k hypotheses.
        logits, cache = _step_logits(step_fn, last, cache, b * k)
        v = logits.shape[-1]
        if v < 2:
            raise InputError(f"beam search needs a vocabulary of at least 2 tokens, got {v}.")
        logp = jax.nn.log_softmax(logits).reshape(b, k, v)
        candidates = (alive_logp[:, :, None] + logp).reshape(b, k * v)  # [B, k·V]
        top_logp, top = jax.lax.top_k(candidates, 2 * k)  # [B, 2k], best first
        parent, token = top // v, (top % v).astype(jnp.int32)
        seqs = jax.lax.dynamic_update_slice_in_dim(
            _take(alive, parent), token[:, :, None], i, axis=2
        )  # [B, 2k, L]
        is_eos = token == eos_id

        # Finish EOS hypotheses among the best k (everything among them at step L).
        finish = (jnp.arange(2 * k) < k) & (is_eos | (i == length - 1)) & (top_logp > ninf)
        finish &= ~done[:, None]
        new_scores = jnp.where(finish, top_logp / length_penalty(i + 1, alpha), ninf)
        scores, best = jax.lax.top_k(jnp.concatenate([scores, new_scores], axis=1), k)
        finished = _take(jnp.concatenate([finished, seqs], axis=1), best)

        # The k best extensions without EOS stay alive.
        alive_logp, keep = jax.lax.top_k(jnp.where(is_eos, ninf, top_logp), k)  # [B, k]
        alive, last = _take(seqs, keep), _take(token, keep)
        cache = gather_beams(cache, _take(parent, keep))
        return i + 1, alive, alive_logp, last, finished, scores, cache

    def cond(state):
        i, *_, scores, _ = state
        return (i < length) & ~jnp.all(scores[:, -1] > ninf)

    tokens = jnp.full((b, k, length), eos_id, jnp.int32)
    # Only beam 0 is alive at first: k copies of BOS would give k copies of each hypothesis.
    alive_logp = jnp.where(jnp.arange(k) == 0, 0.0, ninf)[None].repeat(b, axis=0)
    state = (
        jnp.zeros((), jnp.int32),
        tokens,
        alive_logp.astype(jnp.float32),
        jnp.full((b, k), bos_id, jnp.int32),
        tokens,
        jnp.full((b, k), ninf),
        cache,
    )
    _, _, _, _, finished, scores, _ = jax.lax.while_loop(cond, body, state)
    return finished, scores
