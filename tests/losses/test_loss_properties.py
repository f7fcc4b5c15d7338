"""Every public loss under hostile input: property-based tests (Hypothesis) over shapes, masks and
extreme values.

For each loss a small builder turns a Hypothesis draw into a ``Case`` (the loss, its inputs, which
of them are per-row, i.e. lead with the ``where`` axes, and which to differentiate); one shared
check then asserts, for a random, all-true or all-false mask:

* the values are finite and have the per-example (``where``) shape;
* the gradient with respect to every float input is finite;
* masked rows give exactly 0 and an exactly-0 gradient;
* masked rows contribute nothing: filling their per-row inputs with junk (NaN, ±inf, ±3e38 and
  out-of-range ids: every loss promises "whatever their inputs hold") changes neither the unmasked
  values nor any gradient, shared parameters' included;
* an all-masked batch of junk gives zero loss and zero gradient, never NaN;
* ``where=None`` equals an all-true mask.

Magnitudes go from 1e-30 to the largest at which the exact result is still a float32 (a
cross-entropy is at most a difference of two logits, so ±1e38 rather than ±3e38; a single softplus
takes ±3e38, a sum of n of them ±3e38/n). ``-inf`` appears only where a loss documents it:
excluded classes (target probability 0, or any class but the label) and impossible codes. Corners
too narrow for a few random draws (``CORNERS``) go through the same checks. Hypothesis runs
derandomized, 6 examples per loss (checks in ``loss_property_checks``), every evaluation jitted and shared per loss: about 40 s with a
cold compilation cache on a loaded 2-core machine, 10 s warm.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from loss_property_checks import (
    FLOAT_JUNK,
    INT_JUNK,
    LOGIT_SCALES,
    SETTINGS,
    Case,
    check_properties,
    random_mask,
    random_values,
)

from jaxpretrain import losses


def _distributions(rng, shape, zero_frac=0.3) -> np.ndarray:
    """Rows of probabilities over the last axis, some entries exactly 0 (never a whole row)."""
    p = rng.random(shape) * (rng.random(shape) >= zero_frac)
    first = np.zeros(shape, bool)
    first[..., 0] = True
    p = np.where((p.sum(-1, keepdims=True) == 0) & first, 1.0, p)
    return (p / p.sum(-1, keepdims=True)).astype(np.float32)


def _exclude(rng, logits, keep) -> np.ndarray:
    """-inf in some logits, never where ``keep`` (bool, logits' shape) is True."""
    return np.where(~keep & (rng.random(logits.shape) < 0.4), -np.inf, logits).astype(np.float32)


def _smoothed_cross_entropy(smoothing):
    def loss(logits, labels, where=None):
        return losses.softmax_cross_entropy(logits, labels, label_smoothing=smoothing, where=where)

    return loss


_SMOOTHED = {eps: _smoothed_cross_entropy(eps) for eps in (0.0, 0.1, 1.0)}


def build_softmax_cross_entropy(draw, rng, lead=(), vocab=None, loss=None):
    batch = (draw(st.integers(1, 4)),) + lead
    v = vocab or draw(st.integers(2, 7))
    logits = random_values(rng, batch + (v,), draw(st.sampled_from(LOGIT_SCALES)))
    labels = rng.integers(0, v, batch)
    smoothing = 0.0 if loss else draw(st.sampled_from(sorted(_SMOOTHED)))
    if smoothing == 0 and draw(st.booleans()):
        # Excluded vocabulary entries: -inf anywhere but at the label.
        logits = _exclude(rng, logits, np.arange(v) == labels[..., None])
    return Case(loss or _SMOOTHED[smoothing], [logits, labels], [True, True], batch), random_mask(
        draw, rng, batch
    )


def build_next_token(draw, rng):
    t = draw(st.integers(1, 3))
    return build_softmax_cross_entropy(draw, rng, lead=(t,), loss=losses.next_token)


def build_masked_lm(draw, rng):
    p = draw(st.integers(1, 3))
    return build_softmax_cross_entropy(draw, rng, lead=(p,), loss=losses.masked_lm)


def build_next_sentence(draw, rng):
    return build_softmax_cross_entropy(draw, rng, vocab=2, loss=losses.next_sentence)


def build_soft_target_cross_entropy(draw, rng):
    shape = (draw(st.integers(1, 5)), draw(st.integers(2, 7)))
    logits = random_values(rng, shape, draw(st.sampled_from(LOGIT_SCALES)))
    targets = _distributions(rng, shape)
    excluded = draw(st.booleans())
    if excluded:  # Documented: classes with target 0 may have logit -inf.
        logits = _exclude(rng, logits, targets > 0)
    # With an excluded class, ∂ℓ/∂t_v = -log p_v = +inf there: only the logits' gradient is finite.
    case = Case(
        losses.soft_target_cross_entropy,
        [logits, targets],
        [True, True],
        shape[:1],
        grad=[True, not excluded],
    )
    return case, random_mask(draw, rng, shape[:1])


def build_multilabel_sigmoid(draw, rng):
    shape = (draw(st.integers(1, 5)), draw(st.integers(2, 7)))
    # V softplus terms: ±3e38 / V keeps their sum a float32.
    logits = random_values(rng, shape, draw(st.sampled_from([1e-30, 1.0, 1e4, 3e38 / shape[1]])))
    targets = (rng.random(shape) < 0.4).astype(np.float32)
    if draw(st.booleans()):
        targets = rng.random(shape).astype(np.float32)  # Soft targets.
    case = Case(losses.multilabel_sigmoid, [logits, targets], [True, True], shape[:1])
    return case, random_mask(draw, rng, shape[:1])


def build_khot_softmax_cross_entropy(draw, rng):
    shape = (draw(st.integers(1, 5)), draw(st.integers(2, 7)))
    logits = random_values(rng, shape, draw(st.sampled_from(LOGIT_SCALES)))
    targets = (rng.random(shape) < 0.4).astype(np.float32)  # Some rows k = 0.
    case = Case(losses.khot_softmax_cross_entropy, [logits, targets], [True, True], shape[:1])
    return case, random_mask(draw, rng, shape[:1])


def build_info_nce(draw, rng):
    b, n1 = draw(st.integers(1, 5)), draw(st.integers(2, 7))
    scores = random_values(rng, (b, n1), draw(st.sampled_from(LOGIT_SCALES)))
    positives = rng.integers(0, n1, (b,))
    if draw(st.booleans()):
        positives = np.eye(n1, dtype=bool)[positives]  # The one-hot form.
    case = Case(losses.info_nce, [scores, positives], [True, True], (b,))
    return case, random_mask(draw, rng, (b,))


def build_cross_entropy_entropy(draw, rng):
    b, k = draw(st.integers(1, 5)), draw(st.integers(2, 7))
    q = _distributions(rng, (b, k))
    marginal = draw(st.booleans())  # P(z) [K] shared by the batch, or P(z|c) [B, K].
    logits = random_values(rng, (k,) if marginal else (b, k), draw(st.sampled_from(LOGIT_SCALES)))
    excluded = draw(st.booleans())
    if excluded:  # q = 0 entries contribute exactly 0, even against ln P = -inf.
        logits = _exclude(rng, logits, (q > 0).any(0) if marginal else q > 0)
    # With ln P_k = -inf, ∂ℓ/∂q_k = -ln P_k = +inf: only the model logits' gradient is finite.
    case = Case(
        losses.cross_entropy_entropy,
        [q, logits],
        [True, not marginal],
        (b,),
        grad=[not excluded, True],
    )
    return case, random_mask(draw, rng, (b,))


def build_code_entropy(draw, rng):
    b, k = draw(st.integers(1, 5)), draw(st.integers(2, 7))
    logits = random_values(rng, (b, k), draw(st.sampled_from(LOGIT_SCALES)))
    if draw(st.booleans()):  # Impossible codes (q = 0 exactly); one code per row stays.
        logits = _exclude(rng, logits, np.arange(k) == rng.integers(0, k, (b, 1)))
    return Case(losses.code_entropy, [logits], [True], (b,)), random_mask(draw, rng, (b,))


def build_gaussian_kl(draw, rng):
    b, d = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    prior = draw(st.sampled_from(["none", "shared", "per_example"]))
    pshape = {"none": (b, d), "shared": (d,), "per_example": (b, d)}[prior]
    # Prior scales from e^-100 (below float32's normal range) to e^80; the posterior's log-scale
    # differs by d <= 40 (e^{2d} stays a float32) and down to -1e4 (a collapsed posterior);
    # its mean sits z prior standard deviations away.
    prior_log_scale = np.full(pshape, draw(st.sampled_from([0.0, -100.0, -40.0, 40.0, 80.0])))
    prior_log_scale += rng.standard_normal(pshape)
    prior_mean = random_values(rng, pshape, draw(st.sampled_from([1e-30, 1.0, 1e4])))
    delta = np.minimum(
        rng.standard_normal((b, d)) * draw(st.sampled_from([0.0, 1.0, 30.0, 1e4])), 40.0
    )
    z = rng.standard_normal((b, d)) * draw(st.sampled_from([0.0, 1.0, 1e3]))
    log_scale = (prior_log_scale + delta).astype(np.float32)
    mean = (prior_mean + z * np.exp(prior_log_scale)).astype(np.float32)
    if prior == "none":
        log_scale, mean = delta.astype(np.float32), (prior_mean + z).astype(np.float32)
        args = [mean, log_scale, None, None]
    else:
        args = [mean, log_scale, prior_mean, prior_log_scale.astype(np.float32)]
    rows = [True, True, prior == "per_example", prior == "per_example"]
    return Case(losses.gaussian_kl, args, rows, (b,)), random_mask(draw, rng, (b,))


def build_masked_l2(draw, rng):
    b, h, c = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    scale = draw(st.sampled_from([1e-30, 1.0, 1e4, 1e15]))
    targets = random_values(rng, (b, h, c), scale)
    predictions = (targets + random_values(rng, (b, h, c), scale)).astype(np.float32)
    mask_kind = draw(st.sampled_from(["none", "pixels", "channels"]))
    mask_shape = {"none": None, "pixels": (b, h, 1), "channels": (b, h, c)}[mask_kind]
    mask = None
    if mask_shape:  # 0/1/10 weights (the context encoder's overlap band), some rows all 0.
        mask = rng.choice(np.array([0.0, 1.0, 10.0]), mask_shape, p=[0.4, 0.4, 0.2])
        mask = (mask * draw(st.sampled_from([1e-6, 1.0, 1e6]))).astype(np.float32)
    case = Case(losses.masked_l2, [predictions, targets, mask], [True, True, True], (b,))
    return case, random_mask(draw, rng, (b,))


def build_gan_discriminator(draw, rng):
    b = draw(st.integers(1, 5))
    # ℓ_D adds two softplus terms: ±1e38 keeps their sum a float32.
    scale = draw(st.sampled_from([1e-30, 1.0, 1e4, 1e38]))
    args = [random_values(rng, (b,), scale), random_values(rng, (b,), scale)]
    return Case(losses.gan_discriminator, args, [True, True], (b,)), random_mask(draw, rng, (b,))


def build_gan_generator(draw, rng):
    b = draw(st.integers(1, 5))
    fake = random_values(rng, (b,), draw(st.sampled_from([1e-30, 1.0, 1e4, 3e38])))
    return Case(losses.gan_generator, [fake], [True], (b,)), random_mask(draw, rng, (b,))


def build_cbow_negative_sampling(draw, rng):
    b, k = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    # K + 1 softplus terms: ±3e38 / (K + 1) keeps their sum a float32.
    scale = draw(st.sampled_from([1e-30, 1.0, 1e4, 3e38 / (k + 1)]))
    args = [random_values(rng, (b,), scale), random_values(rng, (b, k), scale)]
    return Case(losses.cbow_negative_sampling, args, [True, True], (b,)), random_mask(
        draw, rng, (b,)
    )


def build_sampled_softmax_cross_entropy(draw, rng):
    n, p, v, k = (draw(st.integers(1, 4)), draw(st.integers(1, 2)), draw(st.integers(2, 5)),
                  draw(st.integers(1, 3)))  # fmt: skip
    # Logits h·W + b of at most P·1e15² = 2e30.
    hidden = random_values(rng, (n, p), draw(st.sampled_from([1e-30, 1.0, 1e4, 1e15])))
    kernel = random_values(rng, (p, v), draw(st.sampled_from([1e-30, 1.0, 1e4, 1e15])))
    bias = random_values(rng, (v,), draw(st.sampled_from([1e-30, 1.0, 1e4])))
    targets = rng.integers(0, v, (n,))
    samples = rng.integers(0, v, (k,))  # Any ids; the sampler has its own test below.
    if draw(st.booleans()):
        samples[0] = targets[0]  # An accidental hit.
    case = Case(
        losses.sampled_softmax_cross_entropy,
        [hidden, kernel, bias, targets, samples],
        [True, False, False, True, False],
        (n,),
    )
    return case, random_mask(draw, rng, (n,))


BUILDERS = {
    "cbow_negative_sampling": build_cbow_negative_sampling,
    "code_entropy": build_code_entropy,
    "cross_entropy_entropy": build_cross_entropy_entropy,
    "gan_discriminator": build_gan_discriminator,
    "gan_generator": build_gan_generator,
    "gaussian_kl": build_gaussian_kl,
    "info_nce": build_info_nce,
    "khot_softmax_cross_entropy": build_khot_softmax_cross_entropy,
    "masked_l2": build_masked_l2,
    "masked_lm": build_masked_lm,
    "multilabel_sigmoid": build_multilabel_sigmoid,
    "next_sentence": build_next_sentence,
    "next_token": build_next_token,
    "sampled_softmax_cross_entropy": build_sampled_softmax_cross_entropy,
    "soft_target_cross_entropy": build_soft_target_cross_entropy,
    "softmax_cross_entropy": build_softmax_cross_entropy,
}
# Not masked per-example losses: mi_lower_bound (a bound from a loss) and the samplers.
UNMASKED = {"mi_lower_bound", "log_uniform_probabilities", "log_uniform_samples"}


def test_every_public_loss_has_a_property_case():
    assert set(BUILDERS) | UNMASKED == set(losses.__all__)


@pytest.mark.parametrize("name", sorted(BUILDERS))
@SETTINGS
@given(data=st.data())
def test_loss_properties(name, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    case, where = BUILDERS[name](data.draw, rng)
    float_junk = data.draw(st.sampled_from(FLOAT_JUNK), label="float_junk")
    int_junk = data.draw(st.sampled_from(INT_JUNK), label="int_junk")
    check_properties(case, where, float_junk, int_junk)


_TOP = np.array([[-1e38] + [1e38] * 6, [1e38] + [-1e38] * 6, [0.0] * 7], np.float32)
_TINY_PRIOR = np.full((3, 2), -100.0, np.float32)  # σ_p = e^-100: e^{-ln σ_p} is inf in float32.
# Corners too narrow for a few random draws to hit, fed to the same checks.
CORNERS = {
    # Σ_v x_v overflows although the smoothed loss is representable.
    "softmax_cross_entropy_smoothed_1e38": Case(
        _SMOOTHED[0.1], [_TOP, np.array([1, 1, 0])], [True, True], (3,)
    ),
    # μ = μ_p with a prior scale below float32's range: exactly 0, not 0·inf.
    "gaussian_kl_tiny_prior_scale": Case(
        losses.gaussian_kl,
        [np.ones((3, 2), np.float32), _TINY_PRIOR, np.ones((2,), np.float32), _TINY_PRIOR],
        [True, True, False, True],
        (3,),
    ),
    # An impossible code: H is finite and so is its gradient (the limit 0).
    "code_entropy_impossible_code": Case(
        losses.code_entropy, [np.array([[0.0, -np.inf, 1.0]] * 3, np.float32)], [True], (3,)
    ),
}


@pytest.mark.parametrize("name", sorted(CORNERS))
@pytest.mark.parametrize("where", [[1, 1, 1], [1, 0, 1], [0, 0, 0]])
def test_loss_corners(name, where):
    check_properties(CORNERS[name], np.array(where, bool), np.nan, -1)


@SETTINGS
@given(data=st.data())
def test_mi_lower_bound_is_finite_and_at_most_log_candidates(data):
    # Not a masked per-example loss: it maps an InfoNCE loss (masked rows already 0) to ln(N+1) - L.
    # Its properties: finite, <= ln(N+1) for any InfoNCE loss, gradient -1, the same when N+1 is
    # traced.
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    case, where = build_info_nce(data.draw, rng)
    scores, positives = case.args
    mi, grad, dloss, traced = _mi_bound(scores, positives, where)
    assert mi.shape == where.shape and np.all(np.isfinite(mi)) and np.all(np.isfinite(grad))
    assert np.all(np.asarray(mi) <= math.log(scores.shape[-1]) + 1e-5)
    np.testing.assert_array_equal(dloss, -1.0)
    np.testing.assert_allclose(traced, mi, rtol=1e-6, atol=1e-6)


@jax.jit
def _mi_bound(scores, positives, where):
    n1 = scores.shape[-1]

    def bound(s):
        return losses.mi_lower_bound(losses.info_nce(s, positives, where=where), n1)

    mi, vjp = jax.vjp(bound, scores)
    (grad,) = vjp(jnp.ones_like(mi))
    loss = losses.info_nce(scores, positives, where=where)
    dloss = jax.grad(lambda x: losses.mi_lower_bound(x, n1).sum())(loss)
    traced = losses.mi_lower_bound(loss, jnp.asarray(n1))  # N+1 as an array.
    return mi, grad, dloss, traced


@SETTINGS
@given(
    vocab=st.sampled_from([1, 2, 7, 1000, 793_471]),
    num=st.sampled_from([1, 5, 16]),
    seed=st.integers(0, 2**31 - 1),
)
def test_log_uniform_sampler_properties(vocab, num, seed):
    # The samplers are no losses: finite probabilities in [0, 1] summing to ≤ 1 (to float32
    # rounding), and samples that are valid ids.
    q = np.asarray(losses.log_uniform_probabilities(vocab))
    assert q.shape == (vocab,) and np.all(np.isfinite(q)) and np.all((q >= 0) & (q <= 1))
    assert q.sum() <= 1 + 1e-5
    ids = np.asarray(losses.log_uniform_samples(jax.random.PRNGKey(seed), num, vocab))
    assert ids.shape == (num,) and np.all((ids >= 0) & (ids < vocab))
