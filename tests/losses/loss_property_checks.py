"""The shared checks of tests/losses/test_loss_properties.py: a ``Case`` (a loss, its inputs, which
are per-row and which to differentiate), random values and masks, and ``check_properties``,
which asserts every property that module's docstring lists for one case and one mask."""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FLOAT_JUNK = [np.nan, np.inf, -np.inf, 3e38, -3e38]
INT_JUNK = [-1, 10**6]
# Logit magnitudes: a cross-entropy is at most a difference of two logits plus ln V, so it stays
# a float32 up to ±1e38 (not ±3e38).
LOGIT_SCALES = [1e-30, 1.0, 1e4, 1e38]


@dataclasses.dataclass
class Case:
    fn: Callable  # fn(*args, where=...) -> per-example values of the where shape.
    args: list  # numpy arrays (None for an omitted optional input).
    rows: list  # per arg: its leading axes are the where axes (junk goes into masked rows).
    where_shape: tuple
    grad: list | None = None  # per arg: differentiate (default: every floating arg).

    def __post_init__(self):
        if self.grad is None:
            self.grad = [_is_float(a) for a in self.args]


def _is_float(a) -> bool:
    return a is not None and np.issubdtype(np.asarray(a).dtype, np.floating)


def random_values(rng, shape, scale) -> np.ndarray:
    """Normal values times ``scale`` within ±scale, a quarter of them exactly ±scale."""
    x = np.clip(rng.standard_normal(shape), -1.0, 1.0) * scale
    if rng.random() < 0.5:  # One sign throughout: sums of the values are the largest.
        x = np.abs(x)
    x = np.where(rng.random(shape) < 0.25, np.sign(x) * scale, x)
    return x.astype(np.float32)


def random_mask(draw, rng, shape) -> np.ndarray:
    kind = draw(st.sampled_from(["random", "all", "none"]))
    if kind == "all":
        return np.ones(shape, bool)
    if kind == "none":
        return np.zeros(shape, bool)
    return rng.random(shape) < 0.5


_RUNS: dict = {}


def _evaluator(case: Case):
    """(args, where) -> values and the gradient of their sum w.r.t. every differentiated arg (None
    for the rest). Jitted and shared by every case of one loss, so each input shape compiles once
    for the clean, junk and all-masked evaluations alike."""
    idx = tuple(i for i, g in enumerate(case.grad) if g)
    key = (case.fn, idx, tuple(a is None for a in case.args))
    if key not in _RUNS:
        fn = case.fn

        @jax.jit
        def run(args, where):
            def f(*diff):
                full = list(args)
                for i, a in zip(idx, diff):
                    full[i] = a
                return fn(*full, where=where)

            out, vjp = jax.vjp(f, *[args[i] for i in idx])
            return out, vjp(jnp.ones_like(out))

        _RUNS[key] = run
    run = _RUNS[key]

    def evaluate(args, where):
        out, diff_grads = run(list(args), where)
        grads = [None] * len(args)
        for i, g in zip(idx, diff_grads):
            grads[i] = np.asarray(g)
        return np.asarray(out), grads

    return evaluate


_PLAIN: dict = {}


def _plain(fn):
    """fn jitted, called without ``where``."""
    if fn not in _PLAIN:
        _PLAIN[fn] = jax.jit(fn)
    return _PLAIN[fn]


def _with_junk(case: Case, where, float_junk, int_junk) -> list:
    out = []
    for a, row in zip(case.args, case.rows):
        if a is not None and row:
            a = np.array(a, copy=True)
            a[~where] = float_junk if _is_float(a) else int_junk
        out.append(a)
    return out


def check_properties(case: Case, where: np.ndarray, float_junk, int_junk):
    assert where.shape == case.where_shape
    _evaluate = _evaluator(case)
    out, grads = _evaluate(case.args, where)
    assert out.shape == case.where_shape
    assert np.all(np.isfinite(out)), out
    for g in grads:
        assert g is None or np.all(np.isfinite(g)), g
    # Masked rows: exactly 0, with an exactly-0 gradient for their per-row inputs.
    np.testing.assert_array_equal(out[~where], 0.0)
    for g, row in zip(grads, case.rows):
        if g is not None and row:
            np.testing.assert_array_equal(g[~where], 0.0)
    # where=None is the all-true mask (to rounding: XLA may fuse the two programs differently).
    if where.all():
        full = _plain(case.fn)(*case.args)
        np.testing.assert_allclose(np.asarray(full), out, rtol=1e-6, atol=0)
    # Junk in the masked rows changes nothing: values, per-row and shared gradients.
    if not where.all():
        junk_out, junk_grads = _evaluate(_with_junk(case, where, float_junk, int_junk), where)
        np.testing.assert_array_equal(junk_out, out)
        for g, jg in zip(grads, junk_grads):
            if g is not None:
                np.testing.assert_array_equal(jg, g)
    # A batch of junk, all masked: zero loss, zero gradient.
    none = np.zeros_like(where)
    zero_out, zero_grads = _evaluate(_with_junk(case, none, float_junk, int_junk), none)
    np.testing.assert_array_equal(zero_out, np.zeros(case.where_shape))
    for g in zero_grads:
        if g is not None:
            np.testing.assert_array_equal(g, 0.0)


# ---------------------------------------------------------------------------------------------
# Builders: one per loss, each returning (Case, mask).
