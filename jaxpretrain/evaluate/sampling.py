"""Autoregressive sampling from a causal language model, jitted, with or without a KV cache.

A causal LM gives p(x_{t+1} | x_{≤t}) = softmax(logits_t). Generation repeats, for t = P-1, P, …:

    x_{t+1} ~ softmax(filter(logits_t / τ))       (greedy, argmax, when τ = 0)

where ``filter`` keeps the k largest logits (top-k, Fan et al. 2018) and/or the smallest set of
most likely tokens whose probability reaches p (nucleus / top-p, Holtzman et al. 2020), and sets
the rest to -inf. Each step also records log p(x_{t+1} | x_{≤t}) under the *model* (τ = 1, no
filter), so samples can be ranked by their mean log-probability (best-of-n).

With the KV cache (``GPT(decode=True)``) the prompt is run once (prefill) and each new token costs
one position: O(T) per token. Without it every step reruns the model over the whole fixed-size
buffer [N, P + M] (static shapes, one compilation), O(T²) per token: the baseline the cache is
measured against. Both give the same tokens (tests check it).

Prompts of different lengths decode together left-padded (``left_pad``): every row's prompt ends
at column P, so all rows write the same column each step, and the model is told which columns
are padding (``valid``), which it never attends to and does not count as positions.

Steps run in jitted chunks (``lax.scan``); between chunks the host may stop early (every row
finished, or a stop string seen, see ``generation``). Randomness: the token written at position
t is drawn with ``fold_in(rng, t)``, so chunking never changes the samples.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpretrain.errors import InputError
from jaxpretrain.models import init_cache

Array = Any


@dataclasses.dataclass(frozen=True)
class Sampler:
    """How the next token is chosen from the logits.

    Attributes:
      temperature: τ ≥ 0; logits are divided by τ; 0 means greedy (argmax).
      top_k: keep the k largest logits; 0 keeps all.
      top_p: keep the smallest set of most likely tokens whose probability sum reaches p
        (the most likely token always stays); 1.0 keeps all.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self):
        if not self.temperature >= 0:
            raise InputError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}.")
        if self.top_k < 0:
            raise InputError(f"top_k must be >= 0 (0 = off), got {self.top_k}.")
        if not 0.0 < self.top_p <= 1.0:
            raise InputError(f"top_p must be in (0, 1] (1 = off), got {self.top_p}.")

    def filter(self, logits: Array) -> Array:
        """logits float [N, V] / τ with every token outside top-k / top-p set to -inf."""
        logits = logits.astype(jnp.float32) / self.temperature
        if self.top_k and self.top_k < logits.shape[-1]:
            kth = jax.lax.top_k(logits, self.top_k)[0][:, -1:]  # [N, 1]
            logits = jnp.where(logits >= kth, logits, -jnp.inf)
        if self.top_p < 1.0:
            ordered = jnp.sort(logits, axis=-1)[:, ::-1]  # [N, V], descending.
            probs = jax.nn.softmax(ordered, axis=-1)
            mass_before = jnp.cumsum(probs, axis=-1) - probs  # Σ of the strictly likelier ones.
            kept = mass_before < self.top_p  # A prefix of the order; the first is always kept.
            cutoff = jnp.min(jnp.where(kept, ordered, jnp.inf), axis=-1, keepdims=True)
            logits = jnp.where(logits >= cutoff, logits, -jnp.inf)
        return logits

    def choose(self, rng: Array, logits: Array) -> Array:
        """Next tokens int32 [N] from logits float [N, V]."""
        if self.temperature == 0:
            return jnp.argmax(logits, axis=-1).astype(jnp.int32)
        return jax.random.categorical(rng, self.filter(logits), axis=-1).astype(jnp.int32)


class DecodeState(NamedTuple):
    """The decoder's carry between steps and chunks.

    Attributes:
      tokens: int32 [N, L]: left-padded prompt (0 at padding), then generated tokens;
        positions ≥ ``position`` are 0.
      valid: bool [N, L]: False at the prompts' left padding, True elsewhere.
      log_probs: float32 [N, L]: log p(tokens[:, t] | tokens[:, :t]) for generated t, else 0.
      position: int32 scalar, the next position to write (P after the prompt).
      logits: float32 [N, V], the model's logits for position ``position``.
      done: bool [N], True once a row wrote its end token (later positions repeat it).
      cache: the model's "cache" collection, or None when decoding without a cache.
    """

    tokens: Array
    valid: Array
    log_probs: Array
    position: Array
    logits: Array
    done: Array
    cache: Any


def check_prompt(
    prompt: Array,
    *,
    vocab_size: int,
    max_length: int,
    max_new_tokens: int,
    name: str = "the prompt",
):
    """Raises a ValueError naming the fix if ``prompt`` (int [P]) cannot be continued by
    ``max_new_tokens`` tokens in a model with ``vocab_size`` ids and ``max_length`` positions;
    ``name`` says which prompt in the message."""
    prompt = np.asarray(prompt)
    if prompt.ndim != 1 or prompt.size == 0 or not np.issubdtype(prompt.dtype, np.integer):
        raise InputError(
            f"{name} must be a non-empty int array [P], got {prompt.dtype}{prompt.shape}; "
            "an empty text prompt can start from the end-of-text token."
        )
    bad = np.flatnonzero((prompt < 0) | (prompt >= vocab_size))
    if bad.size:
        raise InputError(
            f"{name} token id {int(prompt[bad[0]])} (at position {int(bad[0])}) is outside the "
            f"model's vocabulary [0, {vocab_size}): encode the prompt with the tokenizer the "
            "model was trained with."
        )
    if prompt.size >= max_length:
        raise InputError(
            f"{name} has {prompt.size} tokens but the model's context is {max_length}: "
            "shorten the prompt (e.g. fewer few-shot examples)."
        )
    if max_new_tokens < 1 or prompt.size + max_new_tokens > max_length:
        raise InputError(
            f"max_new_tokens={max_new_tokens} must be in [1, {max_length - prompt.size}]: "
            f"{name} ({prompt.size} tokens) plus new tokens must fit the context of {max_length}."
        )


def check_prompts(prompts: Sequence[Array], **limits):
    """``check_prompt`` of every prompt in ``prompts`` (int [P_k] each), naming the bad one as
    ``prompts[k]`` (as "the prompt" when there is only one); ``limits`` as ``check_prompt``'s."""
    if isinstance(prompts, str) or not len(prompts):
        raise InputError(
            f"expected a non-empty sequence of prompts (int arrays [P]), got {prompts!r:.40}: "
            "pass e.g. [tokenizer.encode(text), ...]."
        )
    if len(prompts) > 1 and all(np.ndim(prompt) == 0 for prompt in prompts):
        raise InputError(
            "expected a sequence of prompts (int arrays [P]), got single token ids: for one "
            "prompt pass [prompt]."
        )
    # Longest first: a too-large max_new_tokens is then reported against the prompt limiting it.
    for k in sorted(range(len(prompts)), key=lambda k: -np.size(prompts[k])):
        name = "the prompt" if len(prompts) == 1 else f"prompts[{k}]"
        check_prompt(prompts[k], **limits, name=name)


def left_pad(prompts: Sequence[Array]) -> tuple[np.ndarray, np.ndarray]:
    """Stacks prompts of lengths P_k, padded on the left to P = max_k P_k.

    Args:
      prompts: K int arrays [P_k] (``check_prompts`` them first).

    Returns:
      tokens int32 [K, P] (0 at padding) and valid bool [K, P], valid[k, t] = t ≥ P - P_k.
    """
    lengths = np.array([np.size(prompt) for prompt in prompts])
    p = int(lengths.max())
    valid = np.arange(p)[None, :] >= (p - lengths)[:, None]  # [K, P]
    tokens = np.zeros(valid.shape, np.int32)
    tokens[valid] = np.concatenate([np.asarray(prompt, np.int32) for prompt in prompts])
    return tokens, valid


def _logits_at(
    model, params, state: DecodeState, new_tokens: Array, new_valid: Array | None = None
) -> tuple[Array, Any]:
    """The logits [N, V] after ``new_tokens`` [N, T] (real where ``new_valid`` bool [N, T];
    None: all real) were written at ``state.position``."""
    if state.cache is None:  # Rerun the whole buffer; read the last written position.
        logits = model.apply({"params": params}, state.tokens, valid=state.valid)  # [N, L, V]
        last = state.position + new_tokens.shape[1] - 1
        return jax.lax.dynamic_index_in_dim(logits, last, axis=1, keepdims=False), None
    logits, variables = model.apply(
        {"params": params, "cache": state.cache},
        new_tokens,
        valid=new_valid,
        decode=True,
        mutable=["cache"],
    )
    return logits[:, -1], variables["cache"]


@functools.partial(jax.jit, static_argnames=("model", "length", "use_cache"))
def prefill(
    model, params, prompt: Array, valid: Array | None = None, *, length: int, use_cache: bool
) -> DecodeState:
    """Runs the prompts through the model: the state ready to write position P.

    Args:
      model: a causal LM module (``models.GPT``): int [N, T] (and ``valid`` bool [N, T]) ->
        logits [N, T, V], with ``decode=True`` for the cache.
      params: its parameters.
      prompt: int32 [N, P], the prompt of every row, left-padded (``check_prompts`` and
        ``left_pad`` them first): every row's last prompt token is at column P - 1.
      valid: bool [N, P], False at the left padding; None: no padding.
      length: L = P + new tokens ≤ the model's max_length: the buffer and cache length.
      use_cache: decode with a key/value cache (else rerun the buffer every step).
    """
    n, p = prompt.shape
    valid = jnp.ones((n, p), jnp.bool_) if valid is None else valid
    state = DecodeState(
        tokens=jnp.zeros((n, length), jnp.int32).at[:, :p].set(prompt),
        valid=jnp.ones((n, length), jnp.bool_).at[:, :p].set(valid),
        log_probs=jnp.zeros((n, length), jnp.float32),
        position=jnp.zeros((), jnp.int32),
        logits=None,
        done=jnp.zeros((n,), jnp.bool_),
        cache=init_cache(model, n, length) if use_cache else None,
    )
    logits, cache = _logits_at(model, params, state, prompt, valid)
    return state._replace(position=jnp.int32(p), logits=logits, cache=cache)


@functools.partial(
    jax.jit, static_argnames=("model", "sampler", "steps", "end_id"), donate_argnames=("state",)
)
def decode_steps(
    model, params, state: DecodeState, rng: Array, *, sampler: Sampler, steps: int, end_id: int
) -> DecodeState:
    """Writes ``steps`` more tokens (the caller keeps position + steps ≤ L).

    Args:
      model, params: as in ``prefill``.
      state: from ``prefill`` or a previous call (donated: do not reuse it).
      rng: the generation's key; position t draws with ``fold_in(rng, t)``.
      sampler: how tokens are chosen.
      steps: tokens to write in this call (static: one compilation per value).
      end_id: the end-of-text id: a row that writes it is done, and repeats it with log-prob 0
        from then on; -1 for none.
    """

    def step(state: DecodeState, _):
        token = sampler.choose(jax.random.fold_in(rng, state.position), state.logits)  # [N]
        log_prob = jnp.take_along_axis(
            jax.nn.log_softmax(state.logits, axis=-1), token[:, None], axis=-1
        )[:, 0]  # Under the model itself (τ = 1, unfiltered), for ranking samples.
        done = state.done
        if end_id >= 0:
            token = jnp.where(done, end_id, token)
            log_prob = jnp.where(done, 0.0, log_prob)
            done = done | (token == end_id)
        at = (0, state.position)
        state = state._replace(
            tokens=jax.lax.dynamic_update_slice(state.tokens, token[:, None], at),
            log_probs=jax.lax.dynamic_update_slice(state.log_probs, log_prob[:, None], at),
            done=done,
        )
        logits, cache = _logits_at(model, params, state, token[:, None])
        return state._replace(position=state.position + 1, logits=logits, cache=cache), None

    return jax.lax.scan(step, state, None, length=steps)[0]
