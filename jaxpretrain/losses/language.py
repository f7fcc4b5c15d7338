"""Language-modelling losses: next-token cross-entropy for causal (GPT-style) models, and BERT's
two pretraining losses, masked language modelling and next sentence prediction.

A causal model reads tokens x_0..x_{T} and, at each position t, predicts the next token:

    ℓ_t = -log p(x_{t+1} | x_{≤t}) = lse(z_t) - z_t[x_{t+1}],   z_t = logits[..., t, :]

The shift is the caller's: feed the model ``tokens[..., :-1]`` and pass ``tokens[..., 1:]`` as
``targets``, so that ``logits[..., t, :]`` is scored against ``targets[..., t] = tokens[..., t+1]``.
Like every loss here, one value per (sequence, position) is returned; callers reduce.

BERT (Devlin et al. 2019, §3.1) scores a masked LM at the P masked positions m_p only,

    ℓ_p = -log softmax(z_{m_p})[x_{m_p}]                       (Task #1, masked LM)

and a binary classifier on the pooled [CLS] vector: is sentence B the one that follows A?

    ℓ = -log softmax(z)[y],  y = 0: B is A's next sentence, y = 1: B is random   (Task #2, NSP)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
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
        raise InputError(f"next_token: logits must be [..., T, V], got shape {logits.shape}.")
    if targets.shape != logits.shape[:-1]:
        raise InputError(
            f"next_token: targets shape {targets.shape} must equal logits shape {logits.shape}"
            f" without its vocabulary axis, i.e. {logits.shape[:-1]} (targets = tokens[..., 1:]"
            " for logits = model(tokens[..., :-1]))."
        )
    return softmax_cross_entropy(logits, targets, where=where)


def masked_lm(logits, targets, *, where=None) -> Array:
    """Per-position masked-LM cross-entropy ℓ[..., p] = lse(z[..., p, :]) - z[..., p, y[..., p]].

    BERT §3.1, Task #1: "the final hidden vectors corresponding to the mask tokens are fed into
    an output softmax over the vocabulary", and only those positions are scored. Give the
    logits at the P masked positions (``Bert(..., masked_positions=m)``) with the original
    tokens there as targets; ``where`` marks the real predictions of rows padded to P.
    google-research/bert reduces them as Σ_p w_p ℓ_p / (Σ_p w_p + 1e-5), w = where as 0/1
    (run_pretraining.py); that reduction is the caller's.

    Args:
      logits: [..., P, V] floating scores at the predicted positions.
      targets: [..., P] integer ids in [0, V), the original tokens at those positions.
      where: optional bool [..., P]; False entries (padding predictions) give loss 0 and
        gradient 0, whatever their logits and targets hold.

    Returns:
      [..., P] loss in nats, float32 (float64 for float64 logits).

    References:
      Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for Language
      Understanding", NAACL 2019, §3.1 Task #1.
    """
    logits = jnp.asarray(logits)
    targets = jnp.asarray(targets)
    if logits.ndim < 2:
        raise InputError(f"masked_lm: logits must be [..., P, V], got shape {logits.shape}.")
    if targets.shape != logits.shape[:-1]:
        raise InputError(
            f"masked_lm: targets shape {targets.shape} must equal logits shape {logits.shape}"
            f" without its vocabulary axis, i.e. {logits.shape[:-1]} (one target id per"
            " predicted position)."
        )
    return softmax_cross_entropy(logits, targets, where=where)


def next_sentence(logits, labels, *, where=None) -> Array:
    """Per-example next-sentence cross-entropy ℓ[...] = lse(z[..., :]) - z[..., y[...]].

    BERT §3.1, Task #2: a binary classifier on the pooled [CLS] vector, label y = 0 when
    sentence B is the one that follows A ("IsNext"), y = 1 when B is a random sentence
    ("NotNext"), as google-research/bert's create_pretraining_data.py and Hugging Face's
    ``next_sentence_label``. google-research/bert takes the mean over the batch.

    Args:
      logits: [..., 2] floating scores (class 0 IsNext, 1 NotNext).
      labels: [...] integer labels in {0, 1}.
      where: optional bool [...]; False entries give loss 0 and gradient 0.

    Returns:
      [...] loss in nats, float32 (float64 for float64 logits).

    References:
      Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for Language
      Understanding", NAACL 2019, §3.1 Task #2.
    """
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    if logits.ndim < 1 or logits.shape[-1] != 2:
        raise InputError(
            f"next_sentence: logits must be [..., 2] (IsNext, NotNext), got shape {logits.shape}."
        )
    if labels.shape != logits.shape[:-1]:
        raise InputError(
            f"next_sentence: labels shape {labels.shape} must equal logits shape {logits.shape}"
            f" without its class axis, i.e. {logits.shape[:-1]}."
        )
    return softmax_cross_entropy(logits, labels, where=where)
