"""Text generation from a trained or imported GPT: samples, stop strings, best-of-n.

    model, params, tokenizer = load_language_model("runs/gpt2_kjv")   # or "hf:<dir>"
    samples = complete(model, params, tokenizer, "And God said", num_samples=10,
                       temperature=0.8, top_k=40, stop=("\\n",))
    best = best_of(samples)        # the lecture's "selected from 10 tries"
    per_prompt = complete(model, params, tokenizer, ["And God said", "In the beginning"],
                          num_samples=3)   # one list of 3 completions per prompt

``complete`` encodes the prompt (an empty prompt starts from ``<|endoftext|>``, as GPT-2's
unconditional samples do), draws ``num_samples`` continuations together (``sampling``: a jitted
decoder with a key/value cache), and cuts each at the end-of-text token or the first stop string.
Stop strings are checked on the host between chunks of ``chunk`` tokens, so generation ends soon
after every sample has stopped instead of always running to ``max_new_tokens``. Several prompts
(few-shot evaluation) decode together in one batch (``generate_batch``): they are left-padded
to the longest, and each gives the tokens it would give alone.

Best-of-n (Radford et al. 2019 show GPT-2 samples "selected from 10 tries"): rank the samples by
their mean log-probability under the model, (1/k) Σ_{t<k} log p(y_t | prompt, y_{<t}), over the
k tokens kept (through the token that completed a stop string or the end-of-text token).
"""

from __future__ import annotations

import os
from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np

from jaxpretrain.data.tokenization import Tokenizer
from jaxpretrain.errors import InputError, NotFoundError
from jaxpretrain.evaluate.sampling import (
    Sampler,
    check_prompts,
    decode_steps,
    left_pad,
    prefill,
)
from jaxpretrain.train import pretrained


class Completion(NamedTuple):
    """One sampled continuation.

    Attributes:
      text: the continuation, without the stop string or end-of-text token that ended it.
      tokens: int32 [k], the tokens kept (including the one that completed the stop).
      mean_log_prob: (1/k) Σ log p(token | prefix) under the model (temperature 1, unfiltered).
      stop: what ended it: the end-of-text token, a stop string, or None (max_new_tokens).
    """

    text: str
    tokens: np.ndarray
    mean_log_prob: float
    stop: str | None


def generate(
    model,
    params,
    prompt: Sequence[int] | np.ndarray,
    *,
    max_new_tokens: int,
    num_samples: int = 1,
    sampler: Sampler = Sampler(),
    seed: int = 0,
    end_id: int = -1,
    use_cache: bool = True,
    chunk: int = 32,
    finished: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``num_samples`` continuations of one prompt: ``generate_batch`` of ``[prompt]``.

    Args:
      model: a ``models.GPT`` (anything with its ``__call__(tokens, valid=, decode=)`` and
        fields ``vocab_size``, ``max_length``).
      params: its parameters.
      prompt: int [P] token ids.
      max_new_tokens: M; P + M must not exceed ``model.max_length``.
      num_samples: N rows sampled together from the same prompt.
      sampler: temperature / top-k / top-p (``Sampler(temperature=0)`` is greedy).
      seed: the samples are a pure function of (params, prompt, sampler, seed).
      end_id: end-of-text id: a row that samples it stops (-1: none).
      use_cache: decode with the key/value cache (False reruns the whole sequence per token:
        same tokens, the speed baseline).
      chunk: tokens per jitted call; the host checks ``finished`` between calls.
      finished: optional host check of the tokens so far (int [N, m]) -> bool [N]; generation
        stops once every row has ended (by ``end_id`` or this check).

    Returns:
      tokens int32 [N, M'] and their log-probabilities float32 [N, M'], M' ≤ M new tokens
      (fewer if every row ended early); after ``end_id`` a row repeats it with log-prob 0.
    """
    tokens, log_probs = generate_batch(
        model,
        params,
        [prompt],
        max_new_tokens=max_new_tokens,
        num_samples=num_samples,
        sampler=sampler,
        seed=seed,
        end_id=end_id,
        use_cache=use_cache,
        chunk=chunk,
        finished=None if finished is None else lambda rows: finished(rows[0])[None],
    )
    return tokens[0], log_probs[0]


def generate_batch(
    model,
    params,
    prompts: Sequence[Sequence[int] | np.ndarray],
    *,
    max_new_tokens: int,
    num_samples: int = 1,
    sampler: Sampler = Sampler(),
    seed: int = 0,
    end_id: int = -1,
    use_cache: bool = True,
    chunk: int = 32,
    finished: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``num_samples`` continuations of each of K prompts, all K·N rows in one batch.

    The prompts are left-padded to the longest, P = max_k P_k; the model skips the padding
    (``valid``), so with greedy decoding each prompt gives the tokens ``generate`` gives it
    alone (up to float rounding). Arguments as ``generate``'s, except:

    Args:
      prompts: K int arrays [P_k] of token ids (lengths may differ).
      max_new_tokens: M; P + M must not exceed ``model.max_length``.
      finished: optional host check of the tokens so far (int [K, N, m]) -> bool [K, N].

    Returns:
      tokens int32 [K, N, M'] and their log-probabilities float32 [K, N, M']: sample n of
      prompt k is row [k, n]; M' ≤ M (fewer if every row ended early).
    """
    check_prompts(
        prompts,
        vocab_size=model.vocab_size,
        max_length=model.max_length,
        max_new_tokens=max_new_tokens,
    )
    if num_samples < 1 or chunk < 1:
        raise InputError(f"num_samples and chunk must be positive, got {num_samples}, {chunk}.")
    tokens, valid = left_pad(prompts)  # [K, P]
    k, p = tokens.shape
    state = prefill(
        model,
        params,
        np.repeat(tokens, num_samples, axis=0),  # [K·N, P], row k·N + n is sample n of k.
        np.repeat(valid, num_samples, axis=0),
        length=p + max_new_tokens,
        use_cache=use_cache,
    )
    rng = jax.random.key(seed)
    written = 0
    while written < max_new_tokens:
        steps = min(chunk, max_new_tokens - written)
        state = decode_steps(model, params, state, rng, sampler=sampler, steps=steps, end_id=end_id)
        written += steps
        done = np.asarray(state.done)
        if finished is not None and not done.all():
            new = np.asarray(state.tokens[:, p : p + written])  # [K·N, m]
            done = done | finished(new.reshape(k, num_samples, -1)).reshape(-1)
        if done.all():
            break
    tokens, log_probs = jax.device_get((state.tokens, state.log_probs))
    shape = (k, num_samples, written)
    return tokens[:, p : p + written].reshape(shape), log_probs[:, p : p + written].reshape(shape)


def _first_stop(text: str, stops: Sequence[str]) -> tuple[int, str | None]:
    """(index, stop) of the earliest stop string in ``text``, or (len(text), None)."""
    found = [(text.find(s), s) for s in stops if s and s in text]
    return min(found) if found else (len(text), None)


def _cut(tokenizer: Tokenizer, ids: np.ndarray, log_probs: np.ndarray, stops) -> Completion:
    """The completion ``ids`` [M] stand for, cut at end-of-text or the first stop string."""
    end = np.flatnonzero(ids == tokenizer.eot_id)
    keep, stop = (int(end[0]) + 1, tokenizer.eot_token) if end.size else (ids.size, None)
    text = tokenizer.decode(ids[: keep - 1 if stop else keep])
    cut, found = _first_stop(text, stops)
    if found is not None:
        # The fewest tokens whose text holds the stop string ("contains" grows with k).
        low, high = 1, keep
        while low < high:
            mid = (low + high) // 2
            if found in tokenizer.decode(ids[:mid]):
                high = mid
            else:
                low = mid + 1
        keep, stop, text = low, found, text[:cut]
    return Completion(
        text=text,
        tokens=ids[:keep],
        mean_log_prob=float(np.mean(log_probs[:keep])) if keep else 0.0,
        stop=stop,
    )


def complete(
    model,
    params,
    tokenizer: Tokenizer,
    prompt: str | Sequence[str],
    *,
    max_new_tokens: int = 64,
    num_samples: int = 1,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    stop: Sequence[str] = (),
    seed: int = 0,
    use_cache: bool = True,
) -> list[Completion] | list[list[Completion]]:
    """``num_samples`` continuations of the text ``prompt`` (see the module docstring).

    ``prompt`` is one text, giving ``list[Completion]``, or a sequence of K texts decoded in one
    batch (``generate_batch``), giving K lists, one per prompt in order. ``temperature=0`` is
    greedy decoding (then every sample is the same). Generation of a row ends at
    ``<|endoftext|>``, at the first of the ``stop`` strings (e.g. "\\n"), or after
    ``max_new_tokens``.
    """
    if tokenizer.vocab_size > model.vocab_size:
        raise InputError(
            f"the tokenizer has {tokenizer.vocab_size} ids but the model only "
            f"{model.vocab_size}: load the tokenizer the model was trained with."
        )
    texts = [prompt] if isinstance(prompt, str) else prompt
    if not texts or any(not isinstance(text, str) for text in texts):
        raise InputError(
            f"complete takes a text prompt or a non-empty sequence of them, got {prompt!r:.40}; "
            "for token ids call generate or generate_batch."
        )
    ids = [tokenizer.encode(t) if t else np.asarray([tokenizer.eot_id], np.int32) for t in texts]
    stops = tuple(s for s in stop if s)

    def finished(tokens: np.ndarray) -> np.ndarray:  # int [..., m] -> bool [...]
        rows = tokens.reshape(-1, tokens.shape[-1])
        found = [_first_stop(tokenizer.decode(row), stops)[1] is not None for row in rows]
        return np.asarray(found).reshape(tokens.shape[:-1])

    tokens, log_probs = generate_batch(
        model,
        params,
        ids,
        max_new_tokens=max_new_tokens,
        num_samples=num_samples,
        sampler=Sampler(temperature=temperature, top_k=top_k, top_p=top_p),
        seed=seed,
        end_id=tokenizer.eot_id,
        use_cache=use_cache,
        finished=finished if stops else None,
    )  # [K, N, M']
    completions = [
        [_cut(tokenizer, row, lp, stops) for row, lp in zip(rows, lps)]
        for rows, lps in zip(tokens, log_probs)
    ]
    return completions[0] if isinstance(prompt, str) else completions


def best_of(completions: Sequence[Completion]) -> Completion:
    """The completion with the highest mean log-probability (best-of-n)."""
    if not completions:
        raise InputError("best_of needs at least one completion.")
    return max(completions, key=lambda c: c.mean_log_prob)


def load_language_model(path: str) -> tuple[Any, Any, Tokenizer]:
    """(model, params, tokenizer) of a trained gpt2 workdir, or of "hf:<dir>" GPT-2 weights.

    A workdir needs the config.json, checkpoint and tokenizer.json that training writes; a
    Hugging Face directory needs config.json, model.safetensors (or pytorch_model.bin) and
    GPT-2's vocab.json + merges.txt.
    """
    trained = pretrained.load_model(path, "gpt2", use="sampling")
    if trained.config is None:  # Hugging Face: GPT-2's vocab.json + merges.txt.
        return trained.model, trained.params, Tokenizer.load(trained.directory)
    tokenizer_file = os.path.join(trained.directory, "tokenizer.json")  # Written by training.
    if not os.path.isfile(tokenizer_file):
        raise NotFoundError(
            f"{tokenizer_file!r} is missing: runs trained before tokenizers were saved must be "
            "retrained (the tokenizer is rebuilt from the config's corpus only by training)."
        )
    return trained.model, trained.params, Tokenizer.load(tokenizer_file)
