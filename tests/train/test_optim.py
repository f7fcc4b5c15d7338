"""Tests for jaxpretrain.train.optim: schedules, decay masks, freezing, clipping, config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import traverse_util

from jaxpretrain.config import optimizer_config
from jaxpretrain.train import optim


def _opt(**overrides):
    opt = optimizer_config()
    opt.update(overrides)
    return opt


def _params():
    """A tiny classifier-shaped tree: a backbone conv + norm scale, and a dense head."""
    return {
        "backbone": {
            "conv": {"kernel": jnp.full((3, 3, 2, 4), 0.5), "bias": jnp.full((4,), 0.25)},
            "norm": {"scale": jnp.ones((4,))},
        },
        "head": {"kernel": jnp.full((4, 3), 0.5), "bias": jnp.full((3,), 0.25)},
    }


def _zeros_like(tree):
    return jax.tree.map(jnp.zeros_like, tree)


def _run(tx, params, grads, steps=1):
    opt_state = tx.init(params)
    for _ in range(steps):
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


# ---- learning rate -------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [64, 256, 1024, 8])
def test_linear_scaling_rule(batch_size):
    opt = _opt(base_lr=0.1, lr_scaling="linear")
    assert optim.peak_learning_rate(opt, batch_size) == pytest.approx(0.1 * batch_size / 256)


def test_no_scaling_keeps_base_lr():
    opt = _opt(base_lr=0.3, lr_scaling="none")
    assert optim.peak_learning_rate(opt, 4096) == pytest.approx(0.3)


def test_warmup_is_linear_from_zero_to_peak():
    opt = _opt(base_lr=0.1, warmup_steps=10, decay="cosine")
    schedule = optim.learning_rate_schedule(opt, batch_size=512, total_steps=100)
    peak = 0.2  # 0.1 * 512 / 256
    assert float(schedule(0)) == 0.0
    for s in range(11):
        assert float(schedule(s)) == pytest.approx(peak * s / 10, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("end_fraction", [0.0, 0.1])
def test_cosine_ends_at_fraction_of_peak(end_fraction):
    opt = _opt(base_lr=0.1, warmup_steps=5, decay="cosine", end_lr_fraction=end_fraction)
    schedule = optim.learning_rate_schedule(opt, batch_size=256, total_steps=25)
    assert float(schedule(5)) == pytest.approx(0.1)
    # Half-way through the decay the cosine is at the mean of peak and end.
    assert float(schedule(15)) == pytest.approx(0.1 * (1 + end_fraction) / 2, rel=1e-5)
    assert float(schedule(25)) == pytest.approx(0.1 * end_fraction, abs=1e-8)


def test_linear_decay():
    opt = _opt(base_lr=0.1, lr_scaling="none", warmup_steps=2, decay="linear", end_lr_fraction=0.2)
    schedule = optim.learning_rate_schedule(opt, batch_size=256, total_steps=12)
    expected = {2: 0.1, 7: 0.06, 12: 0.02}  # 10 decay steps from 0.1 to 0.02.
    for s, lr in expected.items():
        assert float(schedule(s)) == pytest.approx(lr, rel=1e-5)


def test_rsqrt_is_vaswani_eq_3():
    """lr = d^-½ · min(s^-½, s · W^-3/2) with peak = d^-½ · W^-½ (Vaswani et al. 2017, Eq. 3)."""
    d, w = 512, 4000
    opt = _opt(base_lr=d**-0.5 * w**-0.5, lr_scaling="none", warmup_steps=w, decay="rsqrt")
    schedule = optim.learning_rate_schedule(opt, batch_size=256, total_steps=100_000)
    for s in (1, 100, 3999, 4000, 4001, 10_000, 100_000):
        expected = d**-0.5 * min(s**-0.5, s * w**-1.5)
        # optax's float32 warm-up computes peak - peak·(1 - s/W): ~W·eps relative error.
        assert float(schedule(s)) == pytest.approx(expected, rel=1e-5 if s >= w else 1e-3)
    with pytest.raises(ValueError, match="warmup_steps > 0"):
        optim.learning_rate_schedule(_opt(decay="rsqrt"), batch_size=256, total_steps=10)


def test_constant_after_warmup():
    opt = _opt(
        base_lr=0.1, lr_scaling="none", warmup_steps=4, decay="constant", end_lr_fraction=0.5
    )  # Ignored by "constant".
    schedule = optim.learning_rate_schedule(opt, batch_size=256, total_steps=20)
    assert float(schedule(2)) == pytest.approx(0.05)
    for s in (4, 10, 20):
        assert float(schedule(s)) == pytest.approx(0.1)


def test_no_warmup_starts_at_peak():
    opt = _opt(base_lr=0.1, lr_scaling="none", warmup_steps=0, decay="constant")
    schedule = optim.learning_rate_schedule(opt, batch_size=256, total_steps=20)
    assert float(schedule(0)) == pytest.approx(0.1)


# ---- weight decay --------------------------------------------------------------------------


def test_decay_mask_exempts_one_dimensional_params():
    mask = optim.decay_mask(_params())
    assert mask == {
        "backbone": {"conv": {"kernel": True, "bias": False}, "norm": {"scale": False}},
        "head": {"kernel": True, "bias": False},
    }


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_weight_decay_only_on_kernels(name):
    opt = _opt(
        name=name, base_lr=0.1, lr_scaling="none", decay="constant", weight_decay=0.5, momentum=0.0
    )
    tx, _ = optim.make_optimizer(opt, batch_size=256, total_steps=10)
    params = _params()
    new = _run(tx, params, _zeros_like(params))
    for path in [("backbone", "conv", "bias"), ("backbone", "norm", "scale"), ("head", "bias")]:
        a, b = params, new
        for key in path:
            a, b = a[key], b[key]
        np.testing.assert_array_equal(b, a, err_msg="/".join(path))
    # Both optimizers shrink a kernel by lr * wd * p with zero gradient (adamw: decoupled; sgd: the
    # L2 term is the only gradient, without momentum).
    for old_kernel, new_kernel in [
        (params["head"]["kernel"], new["head"]["kernel"]),
        (params["backbone"]["conv"]["kernel"], new["backbone"]["conv"]["kernel"]),
    ]:
        np.testing.assert_allclose(new_kernel, old_kernel * (1 - 0.1 * 0.5), rtol=1e-6)


# ---- freezing ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_freeze_backbone_leaves_it_bit_identical(name):
    opt = _opt(
        name=name,
        base_lr=0.1,
        lr_scaling="none",
        weight_decay=0.1,
        freeze="backbone",
        grad_clip_norm=1.0,
    )
    params = _params()
    tx, _ = optim.make_optimizer(opt, batch_size=256, total_steps=10, params=params)
    grads = jax.tree.map(jnp.ones_like, params)
    new_params = _run(tx, params, grads, steps=3)
    old, new = jax.tree.leaves(params["backbone"]), jax.tree.leaves(new_params["backbone"])
    for old_leaf, new_leaf in zip(old, new):
        np.testing.assert_array_equal(np.asarray(new_leaf), np.asarray(old_leaf))
    old, new = jax.tree.leaves(params["head"]), jax.tree.leaves(new_params["head"])
    for old_leaf, new_leaf in zip(old, new):
        assert not np.allclose(new_leaf, old_leaf)


def test_freeze_a_nested_path_trains_its_siblings():
    """Freezing "backbone/conv" freezes that subtree only: the backbone's other params still
    train (the ELMo probe freezes "backbone/bilm" and trains "backbone/mix")."""
    opt = _opt(base_lr=0.1, lr_scaling="none", freeze="backbone/conv")
    params = _params()
    tx, _ = optim.make_optimizer(opt, batch_size=256, total_steps=10, params=params)
    new = _run(tx, params, jax.tree.map(jnp.ones_like, params), steps=2)
    flat_old = traverse_util.flatten_dict(params, sep="/")
    flat_new = traverse_util.flatten_dict(new, sep="/")
    assert any(k.startswith("backbone/conv/") for k in flat_old)
    assert any(k.startswith("backbone/") and not k.startswith("backbone/conv/") for k in flat_old)
    for key, old in flat_old.items():
        if key.startswith("backbone/conv/"):
            np.testing.assert_array_equal(np.asarray(flat_new[key]), np.asarray(old))
        else:
            assert not np.allclose(flat_new[key], old), key


def test_freeze_accepts_a_list_with_spaces():
    opt = _opt(base_lr=0.1, freeze=" backbone , head ")
    params = _params()
    tx, _ = optim.make_optimizer(opt, batch_size=256, total_steps=10, params=params)
    new = _run(tx, params, jax.tree.map(jnp.ones_like, params), steps=2)
    jax.tree.map(np.testing.assert_array_equal, new, params)


def test_freeze_unknown_name_raises():
    opt = _opt(freeze="backbone,encoder,backbone/nothing")
    with pytest.raises(ValueError, match=r"\[.backbone/nothing., .encoder.\]") as info:
        optim.make_optimizer(opt, batch_size=256, total_steps=10, params=_params())
    assert "'backbone'" not in str(info.value).split("(")[0]  # Only the unknown name is blamed.


def test_freeze_needs_params():
    with pytest.raises(ValueError, match="params"):
        optim.make_optimizer(_opt(freeze="backbone"), batch_size=256, total_steps=10)


# ---- clipping ------------------------------------------------------------------------------


def test_grad_clip_bounds_the_update():
    opt = _opt(
        name="sgd",
        base_lr=1.0,
        lr_scaling="none",
        decay="constant",
        momentum=0.0,
        grad_clip_norm=0.5,
    )
    tx, _ = optim.make_optimizer(opt, batch_size=256, total_steps=10)
    params = {"w": jnp.zeros((3, 4)), "b": jnp.zeros((4,))}
    big = {"w": jnp.full((3, 4), 10.0), "b": jnp.full((4,), -7.0)}
    updates, _ = tx.update(big, tx.init(params), params)
    assert float(optax.tree.norm(updates)) == pytest.approx(0.5, rel=1e-5)
    # The direction is kept.
    scale = 0.5 / float(optax.tree.norm(big))
    np.testing.assert_allclose(updates["w"], -scale * big["w"], rtol=1e-5)

    small = jax.tree.map(lambda g: g * 1e-3, big)  # norm 0.0166 < 0.5: untouched.
    updates, _ = tx.update(small, tx.init(params), params)
    np.testing.assert_allclose(updates["b"], -small["b"], rtol=1e-6)


def test_no_clipping_when_zero():
    opt = _opt(
        name="sgd",
        base_lr=1.0,
        lr_scaling="none",
        decay="constant",
        momentum=0.0,
        grad_clip_norm=0.0,
    )
    tx, _ = optim.make_optimizer(opt, batch_size=256, total_steps=10)
    params = {"w": jnp.zeros((2, 2))}
    big = {"w": jnp.full((2, 2), 10.0)}
    updates, _ = tx.update(big, tx.init(params), params)
    assert float(optax.tree.norm(updates)) == pytest.approx(20.0)


def test_sgd_momentum_and_nesterov():
    """Heavy ball: v = g + m v, p -= lr v; Nesterov: p -= lr (g + m v)."""
    params = {"w": jnp.zeros((2, 2))}
    g = {"w": jnp.ones((2, 2))}
    for nesterov, second in [(False, 1.0 + 0.9), (True, 1.0 + 0.9 * (1.0 + 0.9))]:
        opt = _opt(
            name="sgd",
            base_lr=1.0,
            lr_scaling="none",
            decay="constant",
            momentum=0.9,
            nesterov=nesterov,
        )
        tx, _ = optim.make_optimizer(opt, batch_size=256, total_steps=10)
        state = tx.init(params)
        u1, state = tx.update(g, state, params)
        u2, state = tx.update(g, state, params)
        first = 1.0 + 0.9 if nesterov else 1.0
        np.testing.assert_allclose(u1["w"], -first, rtol=1e-6)
        np.testing.assert_allclose(u2["w"], -second, rtol=1e-6)


# ---- config errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field,value",
    [
        ("name", "lamb"),
        ("decay", "exponential"),
        ("lr_scaling", "sqrt"),
    ],
)
def test_unknown_setting_raises(field, value):
    opt = _opt(**{field: value})
    with pytest.raises(ValueError, match=f"{field}.*{value}"):
        optim.make_optimizer(opt, batch_size=256, total_steps=10)
