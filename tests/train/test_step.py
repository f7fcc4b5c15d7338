"""Tests for jaxpretrain.train.step on toy methods whose updates can be computed by hand."""

import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxpretrain.train.state import TrainState
from jaxpretrain.train.step import make_eval_step, make_train_step

B, D = 8, 3
TOL = dict(rtol=1e-6, atol=1e-7)


def _state(params, tx, *, step=0, seed=0):
    return TrainState(
        step=jnp.asarray(step, jnp.int32),
        params=params,
        opt_state={p: t.init(params[p]) for p, t in tx.items()}
        if isinstance(tx, dict)
        else tx.init(params),
        rng=jax.random.PRNGKey(seed),
        nonfinite=jnp.zeros((), jnp.int32),
    )


# ---- one player: least squares on a linear model ------------------------------------------


def least_squares(params, batch, rng, *, model, config):
    """mean_b (x_b·w + c - y_b)^2 with x [B, D], w [D], y [B]."""
    del rng, model, config
    pred = batch["x"] @ params["w"] + params["c"]
    residual = pred - batch["y"]
    return jnp.mean(residual**2), {"mean_residual": jnp.mean(residual)}


LINEAR = types.SimpleNamespace(loss_fn=least_squares)


def _linear_params():
    # Explicit dtypes: a weakly typed scalar becomes strong after one update and retraces the step.
    return {"w": jnp.array([0.5, -1.0, 2.0], jnp.float32), "c": jnp.array(0.25, jnp.float32)}


def _batch(seed=0, nan=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, D)).astype(np.float32)
    y = (x @ np.array([1.0, 2.0, -3.0]) + 0.5).astype(np.float32)
    if nan:
        y[0] = np.nan
    return {"x": jnp.asarray(x), "y": jnp.asarray(y)}


def test_single_player_step_matches_hand_computed_update():
    schedule = optax.linear_schedule(0.1, 0.0, 10)
    tx = optax.adam(schedule)
    params = _linear_params()
    state = _state(params, tx, step=0)
    batch = _batch()
    step = make_train_step(LINEAR, None, None, tx, schedule)

    # Three steps so that adam's moment estimates and the step counter matter.
    ref_params, ref_opt_state = params, state.opt_state
    for s in range(3):
        state, metrics = step(state, batch)
        (loss, aux), grads = jax.value_and_grad(least_squares, has_aux=True)(
            ref_params, batch, None, model=None, config=None
        )
        updates, ref_opt_state = tx.update(grads, ref_opt_state, ref_params)
        ref_params = optax.apply_updates(ref_params, updates)

        chex.assert_trees_all_close(state.params, ref_params, **TOL)
        chex.assert_trees_all_close(state.opt_state, ref_opt_state, **TOL)
        assert int(state.step) == s + 1
        assert set(metrics) == {"loss", "grad_norm", "lr", "mean_residual"}
        np.testing.assert_allclose(metrics["loss"], loss, **TOL)
        np.testing.assert_allclose(metrics["mean_residual"], aux["mean_residual"], **TOL)
        np.testing.assert_allclose(metrics["grad_norm"], optax.tree.norm(grads), **TOL)
        np.testing.assert_allclose(metrics["lr"], 0.1 * (1 - s / 10), rtol=1e-6)
    assert int(state.nonfinite) == 0
    # Sanity: least squares with adam goes downhill.
    assert float(least_squares(state.params, batch, None, model=None, config=None)[0]) < float(
        least_squares(params, batch, None, model=None, config=None)[0]
    )


def test_step_passes_model_and_config_to_the_loss():
    seen = {}

    def loss_fn(params, batch, rng, *, model, config):
        seen["model"], seen["config"] = model, config
        return least_squares(params, batch, rng, model=model, config=config)

    tx = optax.sgd(0.1)
    model, config = object(), object()
    step = make_train_step(
        types.SimpleNamespace(loss_fn=loss_fn), model, config, tx, optax.constant_schedule(0.1)
    )
    step(_state(_linear_params(), tx), _batch())
    assert seen["model"] is model and seen["config"] is config


@pytest.mark.parametrize("start", [0, 5])
def test_step_rng_is_fold_in_of_state_step(start):
    keys = []

    def loss_fn(params, batch, rng, *, model, config):
        keys.append(np.asarray(rng))
        return least_squares(params, batch, rng, model=model, config=config)

    tx = optax.sgd(0.1)
    state = _state(_linear_params(), tx, step=start, seed=3)
    step = make_train_step(
        types.SimpleNamespace(loss_fn=loss_fn), None, None, tx, optax.constant_schedule(0.1)
    )
    batch = _batch()
    state, _ = step(state, batch)
    state, _ = step(state, batch)
    base = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(keys[0], jax.random.fold_in(base, start))
    np.testing.assert_array_equal(keys[1], jax.random.fold_in(base, start + 1))
    assert not np.array_equal(keys[0], keys[1])


# ---- two players: the second sees the first's updated parameters ---------------------------

G0, D0, LR = 1.0, -0.5, {"generator": 0.1, "discriminator": 0.3}


def generator_loss(params, batch, rng, *, model, config):
    """(g - t)^2 + g d: depends on the discriminator's d."""
    del rng, model, config
    g, d = params["generator"]["g"], params["discriminator"]["d"]
    return (g - batch["t"]) ** 2 + g * d, {"g": g}


def discriminator_loss(params, batch, rng, *, model, config):
    """(d - 2g)^2: its gradient 2(d - 2g) depends on the generator's g."""
    del batch, rng, model, config
    g, d = params["generator"]["g"], params["discriminator"]["d"]
    return (d - 2 * g) ** 2, {"d": d}


def _gan(order):
    fns = {"generator": generator_loss, "discriminator": discriminator_loss}
    return types.SimpleNamespace(loss_fns={p: fns[p] for p in order})


def _gan_setup(order):
    tx = {p: optax.sgd(LR[p]) for p in order}
    schedule = {p: optax.constant_schedule(LR[p]) for p in order}
    params = {"generator": {"g": jnp.float32(G0)}, "discriminator": {"d": jnp.float32(D0)}}
    return tx, schedule, _state(params, tx)


def test_two_players_alternate_and_use_updated_params():
    order = ("generator", "discriminator")
    tx, schedule, state = _gan_setup(order)
    batch = {"t": jnp.float32(3.0)}
    state, metrics = make_train_step(_gan(order), None, None, tx, schedule)(state, batch)

    # By hand: the generator steps on (g0, d0), the discriminator on (g1, d0).
    grad_g = 2 * (G0 - 3.0) + D0
    g1 = G0 - LR["generator"] * grad_g
    grad_d = 2 * (D0 - 2 * g1)
    d1 = D0 - LR["discriminator"] * grad_d
    stale_d1 = D0 - LR["discriminator"] * 2 * (D0 - 2 * G0)  # What a simultaneous update gives.
    assert abs(d1 - stale_d1) > 0.1

    np.testing.assert_allclose(state.params["generator"]["g"], g1, **TOL)
    np.testing.assert_allclose(state.params["discriminator"]["d"], d1, **TOL)
    assert set(metrics) == {
        "loss",
        "generator/loss",
        "generator/grad_norm",
        "generator/lr",
        "generator/g",
        "discriminator/loss",
        "discriminator/grad_norm",
        "discriminator/lr",
        "discriminator/d",
    }
    gen_loss = (G0 - 3.0) ** 2 + G0 * D0
    disc_loss = (D0 - 2 * g1) ** 2
    np.testing.assert_allclose(metrics["generator/loss"], gen_loss, **TOL)
    np.testing.assert_allclose(metrics["discriminator/loss"], disc_loss, **TOL)
    np.testing.assert_allclose(metrics["loss"], gen_loss + disc_loss, **TOL)
    np.testing.assert_allclose(metrics["generator/grad_norm"], abs(grad_g), **TOL)
    np.testing.assert_allclose(metrics["discriminator/grad_norm"], abs(grad_d), **TOL)
    np.testing.assert_allclose(metrics["generator/lr"], LR["generator"])
    np.testing.assert_allclose(metrics["discriminator/lr"], LR["discriminator"])
    np.testing.assert_allclose(metrics["generator/g"], G0)
    np.testing.assert_allclose(metrics["discriminator/d"], D0)
    assert int(state.step) == 1


def test_player_order_follows_loss_fns():
    """Discriminator first: it sees the old g, and the generator sees the new d."""
    order = ("discriminator", "generator")
    tx, schedule, state = _gan_setup(order)
    step = make_train_step(_gan(order), None, None, tx, schedule)
    state, _ = step(state, {"t": jnp.float32(3.0)})
    d1 = D0 - LR["discriminator"] * 2 * (D0 - 2 * G0)
    g1 = G0 - LR["generator"] * (2 * (G0 - 3.0) + d1)
    np.testing.assert_allclose(state.params["discriminator"]["d"], d1, **TOL)
    np.testing.assert_allclose(state.params["generator"]["g"], g1, **TOL)


def test_each_player_has_its_own_optimizer_state():
    order = ("generator", "discriminator")
    tx = {"generator": optax.sgd(0.1, momentum=0.9), "discriminator": optax.adam(0.3)}
    schedule = {p: optax.constant_schedule(0.0) for p in order}
    params = {"generator": {"g": jnp.float32(G0)}, "discriminator": {"d": jnp.float32(D0)}}
    state = _state(params, tx)
    step = make_train_step(_gan(order), None, None, tx, schedule)
    batch = {"t": jnp.float32(3.0)}
    new, _ = step(state, batch)

    # Manual reference: generator with momentum sgd, then the discriminator with adam on new g.
    def gen(g):
        both = {"generator": g, "discriminator": params["discriminator"]}
        return generator_loss(both, batch, None, model=None, config=None)[0]

    grads = jax.grad(gen)(params["generator"])
    u, gen_state = tx["generator"].update(grads, state.opt_state["generator"], params["generator"])
    g1 = optax.apply_updates(params["generator"], u)

    def disc(d):
        both = {"generator": g1, "discriminator": d}
        return discriminator_loss(both, batch, None, model=None, config=None)[0]

    grads = jax.grad(disc)(params["discriminator"])
    u, disc_state = tx["discriminator"].update(
        grads, state.opt_state["discriminator"], params["discriminator"]
    )
    d1 = optax.apply_updates(params["discriminator"], u)
    chex.assert_trees_all_close(new.params, {"generator": g1, "discriminator": d1}, **TOL)
    chex.assert_trees_all_close(
        new.opt_state, {"generator": gen_state, "discriminator": disc_state}, **TOL
    )
    # Adam's first step moves d by lr regardless of the gradient's size.
    np.testing.assert_allclose(abs(float(d1["d"]) - D0), 0.3, rtol=1e-4)


def test_players_draw_different_keys():
    keys = {}

    def record(player, fn):
        def loss_fn(params, batch, rng, *, model, config):
            keys[player] = np.asarray(rng)
            return fn(params, batch, rng, model=model, config=config)

        return loss_fn

    order = ("generator", "discriminator")
    tx, schedule, state = _gan_setup(order)
    state = state.replace(step=jnp.asarray(4, jnp.int32))
    method = types.SimpleNamespace(
        loss_fns={
            "generator": record("generator", generator_loss),
            "discriminator": record("discriminator", discriminator_loss),
        }
    )
    make_train_step(method, None, None, tx, schedule)(state, {"t": jnp.float32(3.0)})
    step_key = jax.random.fold_in(state.rng, 4)
    np.testing.assert_array_equal(keys["generator"], jax.random.fold_in(step_key, 0))
    np.testing.assert_array_equal(keys["discriminator"], jax.random.fold_in(step_key, 1))


# ---- non-finite losses ---------------------------------------------------------------------


def test_nonfinite_counter_increments_on_nan_loss():
    tx = optax.sgd(0.1)
    step = make_train_step(LINEAR, None, None, tx, optax.constant_schedule(0.1))
    state = _state(_linear_params(), tx)
    state, metrics = step(state, _batch())
    assert int(state.nonfinite) == 0 and np.isfinite(metrics["loss"])
    state, metrics = step(state, _batch(nan=True))
    assert int(state.nonfinite) == 1 and np.isnan(metrics["loss"])
    state, _ = step(state, _batch(nan=True))
    assert int(state.nonfinite) == 2
    assert int(state.step) == 3


def test_nonfinite_counter_with_two_players():
    order = ("generator", "discriminator")
    tx, schedule, state = _gan_setup(order)
    step = make_train_step(_gan(order), None, None, tx, schedule)
    state, _ = step(state, {"t": jnp.float32(np.inf)})
    assert int(state.nonfinite) == 1


# ---- tracing -------------------------------------------------------------------------------


def test_jitted_step_does_not_retrace():
    tx = optax.adam(optax.linear_schedule(0.1, 0.0, 10))
    step = make_train_step(LINEAR, None, None, tx, optax.linear_schedule(0.1, 0.0, 10))
    chex.clear_trace_counter()
    jitted = jax.jit(chex.assert_max_traces(step, n=1))
    state = _state(_linear_params(), tx)
    for s in range(4):
        state, metrics = jitted(state, _batch(seed=s))
    assert int(state.step) == 4
    # The guard is live: a batch of another shape needs a second trace.
    with pytest.raises(AssertionError):
        jitted(state, {k: v[:4] for k, v in _batch().items()})


def test_jitted_two_player_step_does_not_retrace():
    order = ("generator", "discriminator")
    tx, schedule, state = _gan_setup(order)
    chex.clear_trace_counter()
    step = make_train_step(_gan(order), None, None, tx, schedule)
    jitted = jax.jit(chex.assert_max_traces(step, n=1))
    for t in (3.0, 2.0, 1.0):
        state, _ = jitted(state, {"t": jnp.float32(t)})
    assert int(state.step) == 3


# ---- evaluation ----------------------------------------------------------------------------


def test_eval_step_returns_loss_fn_metrics_and_loss():
    params, batch = _linear_params(), _batch()
    metrics = jax.jit(make_eval_step(LINEAR, None, None))(params, batch)
    loss, aux = least_squares(params, batch, None, model=None, config=None)
    assert set(metrics) == {"loss", "mean_residual"}
    np.testing.assert_allclose(metrics["loss"], loss, **TOL)
    np.testing.assert_allclose(metrics["mean_residual"], aux["mean_residual"], **TOL)


def test_eval_step_prefers_eval_metrics():
    def eval_metrics(params, batch, *, model, config):
        return {"custom": jnp.sum(params["w"]) + model}

    method = types.SimpleNamespace(loss_fn=least_squares, eval_metrics=eval_metrics)
    metrics = make_eval_step(method, 10.0, None)(_linear_params(), _batch())
    assert set(metrics) == {"custom"}
    np.testing.assert_allclose(metrics["custom"], 11.5)


def test_eval_step_of_two_players_uses_the_first_loss():
    order = ("generator", "discriminator")
    params = {"generator": {"g": jnp.float32(G0)}, "discriminator": {"d": jnp.float32(D0)}}
    metrics = make_eval_step(_gan(order), None, None)(params, {"t": jnp.float32(3.0)})
    assert set(metrics) == {"loss", "g"}
    np.testing.assert_allclose(metrics["loss"], (G0 - 3.0) ** 2 + G0 * D0, **TOL)


def test_a_frozen_subtree_gets_no_backward_pass():
    """With ``optimizer.freeze="backbone"`` the head trains exactly as before, the backbone stays
    put, and the compiled step skips the backbone's backward pass (fewer FLOPs)."""
    from jaxpretrain.config import optimizer_config
    from jaxpretrain.train.optim import make_optimizer

    def probe_loss(params, batch, rng, *, model, config):
        del rng, model, config
        h = batch["x"]
        for kernel in params["backbone"]:  # A deep frozen backbone: [D, D] kernels.
            h = jnp.tanh(h @ kernel)
        return jnp.mean((h @ params["head"] - batch["y"]) ** 2), {}

    rng = np.random.default_rng(0)
    params = {
        "backbone": [jnp.asarray(rng.normal(size=(64, 64)) / 8, jnp.float32) for _ in range(6)],
        "head": jnp.asarray(rng.normal(size=(64,)) / 8, jnp.float32),
    }
    batch = {
        "x": jnp.asarray(rng.normal(size=(32, 64)), jnp.float32),
        "y": jnp.asarray(rng.normal(size=(32,)), jnp.float32),
    }
    method = types.SimpleNamespace(loss_fn=probe_loss)
    steps, flops = {}, {}
    for freeze in ("", "backbone"):
        config = types.SimpleNamespace(optimizer=optimizer_config())
        config.optimizer.update(name="sgd", base_lr=0.1, lr_scaling="none", freeze=freeze)
        tx, schedule = make_optimizer(
            config.optimizer, batch_size=32, total_steps=10, params=params
        )
        step = jax.jit(make_train_step(method, None, config, tx, schedule))
        state = _state(params, tx)
        flops[freeze] = step.lower(state, batch).compile().cost_analysis()["flops"]
        steps[freeze] = step(state, batch)[0].params
    chex.assert_trees_all_close(steps["backbone"]["head"], steps[""]["head"], **TOL)
    chex.assert_trees_all_equal(steps["backbone"]["backbone"], params["backbone"])
    assert not np.allclose(steps[""]["backbone"][0], params["backbone"][0])
    assert flops["backbone"] < 0.7 * flops[""], flops
