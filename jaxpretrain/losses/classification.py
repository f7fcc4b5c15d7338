"""Classification losses for supervised and weakly supervised pretraining.

Every function returns one loss per example (shape ``[...]``, the logits' shape
without the class axis); reduction is the caller's business. All take an
optional boolean ``where`` mask of that same shape: masked-out entries are
exactly 0 and pass back exactly-0, finite gradients, whatever their inputs hold.

* ``softmax_cross_entropy``: ℓ = logsumexp(x) - x_y, with optional label
  smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture",
  Sec. 7), i.e. targets (1-ε)·onehot(y) + ε/V.
* ``soft_target_cross_entropy``: ℓ = -Σ_v t_v log softmax(x)_v.
* ``multilabel_sigmoid``: ℓ = Σ_v [-y_v log σ(x_v) - (1-y_v) log(1-σ(x_v))].
* ``khot_softmax_cross_entropy``: the soft-target loss against y/k, the form
  Mahajan et al. 2018 ("Exploring the Limits of Weakly Supervised
  Pretraining", Sec. 2.2) found better than per-class sigmoids for hashtags.

Logits are promoted to at least float32 before the log-sum-exp, so bfloat16
models still get an accurate loss.
"""

import jax
import jax.numpy as jnp

from jaxpretrain.errors import InputError
from jaxpretrain.losses.masking import apply_mask, check_where, floating, sanitize

Array = jax.Array


def _float_logits(logits, fn: str) -> Array:
    logits = floating(logits, "logits", fn)
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise InputError(
            f"{fn}: logits must have a non-empty class axis [..., V], got shape {logits.shape}."
        )
    return logits


def _check_targets(logits: Array, targets, fn: str) -> Array:
    targets = jnp.asarray(targets)
    if targets.shape != logits.shape:
        raise InputError(
            f"{fn}: targets shape {targets.shape} must equal logits shape "
            f"{logits.shape} ([..., V])."
        )
    if not (
        jnp.issubdtype(targets.dtype, jnp.floating)
        or jnp.issubdtype(targets.dtype, jnp.integer)
        or targets.dtype == jnp.bool_
    ):
        raise InputError(f"{fn}: targets have unsupported dtype {targets.dtype}.")
    return targets.astype(logits.dtype)


def softmax_cross_entropy(logits, labels, *, label_smoothing: float = 0.0, where=None) -> Array:
    """Softmax cross-entropy against integer labels, with label smoothing.

    ℓ = -Σ_v t_v log softmax(x)_v with t = (1-ε)·onehot(y) + ε/V, computed as
    ℓ = (1-ε)·(lse(x) - x_y) + ε·(lse(x) - mean_v x_v), lse = log-sum-exp.
    With ε = 0 this is -log softmax(x)_y.

    Args:
      logits: [..., V] floating unnormalised class scores; -inf excludes a class (not the
        label's; with label_smoothing 0) and keeps the loss and gradient finite.
      labels: [...] integer class indices in [0, V). An out-of-range label in an
        unmasked entry yields NaN rather than a silently wrong loss.
      label_smoothing: ε in [0, 1]; the mass spread uniformly over all V classes.
      where: optional [...] bool; False entries give loss 0 and gradient 0 (their
        logits and labels may hold anything, including inf/NaN and -1 padding).

    Returns:
      [...] per-example loss, float32 (float64 for float64 logits).

    References:
      Szegedy et al., "Rethinking the Inception Architecture for Computer
      Vision", CVPR 2016, Sec. 7 (label smoothing).
    """
    fn = "softmax_cross_entropy"
    logits = _float_logits(logits, fn)
    labels = jnp.asarray(labels)
    if labels.shape != logits.shape[:-1]:
        raise InputError(
            f"{fn}: labels shape {labels.shape} must equal logits shape "
            f"{logits.shape} without its class axis, i.e. {logits.shape[:-1]}."
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise InputError(f"{fn}: labels must be integer, got dtype {labels.dtype}.")
    if isinstance(label_smoothing, (int, float)) and not 0 <= label_smoothing <= 1:
        raise InputError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}.")
    where = check_where(where, labels.shape, fn)

    logits = sanitize(logits, where)
    labels = sanitize(labels, where)
    lse = jax.nn.logsumexp(logits, axis=-1)
    # mode="fill" + no wrapping: a bad label (e.g. -1 padding left unmasked)
    # shows up as NaN instead of quietly picking class V-1.
    label_logit = jnp.take_along_axis(
        logits, labels[..., None], axis=-1, mode="fill", wrap_negative_indices=False
    )[..., 0]
    loss = lse - label_logit
    if not (isinstance(label_smoothing, (int, float)) and label_smoothing == 0):
        # CE against the uniform target. The mean as Σ x_v/V: jnp.mean sums first, which
        # overflows to ±inf once V·|x| > 3.4e38 although the loss itself is representable.
        smooth = lse - jnp.sum(logits / logits.shape[-1], axis=-1)
        loss = (1.0 - label_smoothing) * loss + label_smoothing * smooth
    return apply_mask(loss, where)


def soft_target_cross_entropy(logits, targets, *, where=None) -> Array:
    """Softmax cross-entropy against a target distribution.

    ℓ = -Σ_v t_v log softmax(x)_v = Σ_v t_v (lse(x) - x_v).

    Entries with t_v = 0 contribute exactly 0, even where x_v = -inf (classes
    excluded by the caller), instead of 0·(-inf) = NaN.

    Args:
      logits: [..., V] floating unnormalised class scores.
      targets: [..., V] floating target probabilities, normally summing to 1 over
        V (not checked: it cannot be under jit). Rows summing to s give s times
        the loss of their normalised version.
      where: optional [...] bool; False entries give loss 0 and gradient 0.

    Returns:
      [...] per-example loss, float32 (float64 for float64 logits).

    References:
      Hinton et al., "Distilling the Knowledge in a Neural Network", 2015
      (cross-entropy with soft targets).
    """
    fn = "soft_target_cross_entropy"
    logits = _float_logits(logits, fn)
    targets = _check_targets(logits, targets, fn)
    where = check_where(where, logits.shape[:-1], fn)

    logits = sanitize(logits, where)
    targets = sanitize(targets, where)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    terms = jnp.where(targets != 0, targets * log_probs, 0.0)
    return apply_mask(-jnp.sum(terms, axis=-1), where)


def multilabel_sigmoid(logits, targets, *, where=None) -> Array:
    """Per-class binary cross-entropy, summed over classes.

    ℓ = Σ_v [-y_v log σ(x_v) - (1-y_v) log(1-σ(x_v))]
      = -Σ_v [y_v log_sigmoid(x_v) + (1-y_v) log_sigmoid(-x_v)],
    using 1-σ(x) = σ(-x) so neither term overflows for large |x|.

    Args:
      logits: [..., V] floating unnormalised per-class scores.
      targets: [..., V] in {0, 1}, float or bool (soft values in [0, 1] also give
        the usual binary cross-entropy).
      where: optional [...] bool; False entries give loss 0 and gradient 0.

    Returns:
      [...] per-example loss summed over the V classes, float32 (float64 for
      float64 logits).

    References:
      Mahajan et al., "Exploring the Limits of Weakly Supervised Pretraining",
      ECCV 2018, Sec. 2.2 (per-hashtag sigmoid baseline).
    """
    fn = "multilabel_sigmoid"
    logits = _float_logits(logits, fn)
    targets = _check_targets(logits, targets, fn)
    where = check_where(where, logits.shape[:-1], fn)

    logits = sanitize(logits, where)
    targets = sanitize(targets, where)
    per_class = -(
        targets * jax.nn.log_sigmoid(logits) + (1.0 - targets) * jax.nn.log_sigmoid(-logits)
    )
    return apply_mask(jnp.sum(per_class, axis=-1), where)


def khot_softmax_cross_entropy(logits, targets, *, where=None) -> Array:
    """Softmax cross-entropy against a k-hot target normalised to sum to 1.

    ℓ = -Σ_v (y_v / k) log softmax(x)_v with k = Σ_v y_v; rows with k = 0 give 0.

    Args:
      logits: [..., V] floating unnormalised class scores.
      targets: [..., V] k-hot labels in {0, 1}, float or bool.
      where: optional [...] bool; False entries give loss 0 and gradient 0.

    Returns:
      [...] per-example loss, float32 (float64 for float64 logits).

    References:
      Mahajan et al., "Exploring the Limits of Weakly Supervised Pretraining",
      ECCV 2018, Sec. 2.2: for hashtag pretraining this beat per-class sigmoids.
    """
    fn = "khot_softmax_cross_entropy"
    logits = _float_logits(logits, fn)
    targets = _check_targets(logits, targets, fn)
    where = check_where(where, logits.shape[:-1], fn)

    # Masked rows' targets are zeroed before k: NaN there must not reach the gradient via y/k.
    targets = sanitize(targets, where)
    k = jnp.sum(targets, axis=-1, keepdims=True)
    # max(k, 1) keeps k = 0 rows finite; their all-zero targets then give ℓ = 0.
    return soft_target_cross_entropy(logits, targets / jnp.maximum(k, 1.0), where=where)
