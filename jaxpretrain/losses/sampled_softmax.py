"""Sampled softmax: a cross-entropy over the target and K sampled words instead of all V.

Jean et al. 2015 ("On Using Very Large Target Vocabulary for Neural Machine Translation",
Sec. 3), as TensorFlow's `sampled_softmax_loss` that bilm-tf trains ELMo with (8,192 samples
of a 793k vocabulary). K candidate ids S are drawn from a proposal q shared by the whole batch;
each logit is corrected by the log of its expected count in the draw, Q(k) = K q(k) (draws
with replacement), and a candidate equal to the row's target (an "accidental hit") is dropped:

    ℓ = -log softmax([z_y - ln Q(y), (z_s - ln Q(s) if s ≠ y else -∞) for s in S])[0],
    z_k = h · W[:, k] + b_k.

Its gradient is a biased but consistent estimate of the full softmax's; evaluate with the full
softmax (``next_token``), never with this.

The proposal is log-uniform (Zipfian) over ids sorted by descending frequency, TensorFlow's
`log_uniform_candidate_sampler`: q(k) = ln((k + 2) / (k + 1)) / ln(V + 1), drawn by inverse
CDF as k = ⌊exp(u ln(V + 1))⌋ - 1, u ~ U[0, 1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.losses.masking import apply_mask, check_where, sanitize

Array = jax.Array


def log_uniform_probabilities(vocab_size: int) -> Array:
    """q(k) = ln((k + 2) / (k + 1)) / ln(V + 1) for k in [0, V): float32 [V], summing to 1."""
    k = jnp.arange(vocab_size, dtype=jnp.float32)
    return jnp.log1p(1.0 / (k + 1.0)) / jnp.log(vocab_size + 1.0)


def log_uniform_samples(rng: Array, num_samples: int, vocab_size: int) -> Array:
    """int32 [K]: K ids drawn with replacement from the log-uniform q over [0, V)."""
    u = jax.random.uniform(rng, (num_samples,))
    ids = jnp.floor(jnp.exp(u * jnp.log(vocab_size + 1.0))).astype(jnp.int32) - 1
    return jnp.clip(ids, 0, vocab_size - 1)


def sampled_softmax_cross_entropy(
    hidden: Array,
    kernel: Array,
    bias: Array,
    targets: Array,
    samples: Array,
    *,
    where: Array | None = None,
) -> Array:
    """Per-row sampled-softmax loss ℓ (module docstring).

    Args:
      hidden: float [N, P], the rows' final hidden states h.
      kernel: float [P, V] and bias float [V], the softmax's params (z = h W + b).
      targets: int [N] ids in [0, V).
      samples: int [K], candidate ids from the log-uniform proposal (`log_uniform_samples`).
      where: optional bool [N]; False rows give loss 0 and gradient 0 (to the shared kernel and
        bias too), whatever their hidden states and targets hold (NaN, -1 padding).

    Returns:
      float32 [N], nats.
    """
    if hidden.ndim != 2 or targets.shape != hidden.shape[:1] or samples.ndim != 1:
        raise InputError(
            "sampled_softmax_cross_entropy expects hidden [N, P], targets [N] and samples [K],"
            f" got {hidden.shape}, {targets.shape} and {samples.shape}."
        )
    where = check_where(where, targets.shape, "sampled_softmax_cross_entropy")
    # Masked rows are zeroed before the matmul: their NaN/inf would otherwise reach the gradient
    # of the shared kernel and bias (0·NaN = NaN).
    hidden = sanitize(hidden, where)
    targets = sanitize(targets, where)
    vocab_size = kernel.shape[1]
    log_expected = jnp.log(samples.shape[0] * log_uniform_probabilities(vocab_size))  # ln Q [V]
    hidden = hidden.astype(jnp.float32)
    true_logits = jnp.einsum("np,pn->n", hidden, kernel[:, targets]) + bias[targets]
    sampled_logits = hidden @ kernel[:, samples] + bias[samples]  # [N, K]
    true_logits = true_logits - log_expected[targets]
    sampled_logits = sampled_logits - log_expected[samples]
    hits = samples[None, :] == targets[:, None]
    sampled_logits = jnp.where(hits, -jnp.inf, sampled_logits)
    logits = jnp.concatenate([true_logits[:, None], sampled_logits], axis=1)  # [N, 1 + K]
    loss = jax.nn.logsumexp(logits, axis=1) - true_logits
    return apply_mask(loss, where)
