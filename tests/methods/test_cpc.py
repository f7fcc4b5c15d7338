"""CPC on sequences: the loss against a numpy reference, masks, bad input, overfitting, devices,
and the probe inheriting a CPC run's frozen backbone."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config, overfit_one_batch

from jaxpretrain import parallel
from jaxpretrain.methods import cpc
from jaxpretrain.train import train
from jaxpretrain.train.checkpoint import restore_params
from jaxpretrain.train.experiment import build_experiment


def _reference(z, predictions):
    """Per-offset mean of -ln softmax_j(z_jᵀ p)[positive] over all positions, loop by loop: the
    candidates are every latent of the batch, the positive the same row's latent k steps on."""
    K, (B, T) = predictions.shape[0], z.shape[:2]
    flat = z.reshape(B * T, -1)
    out = []
    for k in range(1, K + 1):
        terms = []
        for b in range(B):
            for t in range(T - k):
                scores = flat @ predictions[k - 1, b, t]
                log_norm = math.log(sum(math.exp(s) for s in scores))
                terms.append(log_norm - scores[b * T + t + k])
        out.append(np.mean(terms))
    return np.array(out)


def test_loss_matches_numpy_reference():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 5, 4))  # [B, T, D]
    predictions = rng.normal(size=(2, 3, 5, 4))  # [K, B, T, D]
    loss, accuracy, candidates = jax.jit(cpc.cpc_losses)(jnp.asarray(z), jnp.asarray(predictions))
    np.testing.assert_allclose(loss, _reference(z, predictions), rtol=1e-5)
    assert candidates == 15 and loss.shape == accuracy.shape == (2,)


def test_mask_equals_slicing():
    rng = np.random.default_rng(1)
    z = jnp.asarray(rng.normal(size=(4, 6, 3)), jnp.float32)
    predictions = jnp.asarray(rng.normal(size=(3, 4, 6, 3)), jnp.float32)
    mask = jnp.array([True, False, True, False])
    losses = jax.jit(cpc.cpc_losses)
    got = losses(z.at[1].set(jnp.nan), predictions, mask=mask)
    want = losses(z[mask], predictions[:, mask])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5)


def test_loss_is_the_weighted_sum_over_offsets():
    config = load_config("cpc_mnist1d")
    config.cpc.offset_weights = (1.0, 0.5, 0.25, 0.0)
    model = cpc.make_model(config)
    batch = {"signal": jax.random.normal(jax.random.PRNGKey(0), (4, 40, 1))}
    params = model.init(jax.random.PRNGKey(1), batch["signal"])["params"]
    kernel = params["predictors"]["kernel"]  # Zero-initialised: make the offsets differ.
    params["predictors"]["kernel"] = jax.random.normal(jax.random.PRNGKey(2), kernel.shape)
    loss, metrics = jax.jit(lambda p, b: cpc.loss_fn(p, b, None, model=model, config=config))(
        params, batch
    )
    per_offset = [float(metrics[f"loss/dt{k}"]) for k in range(1, 5)]
    assert len(set(per_offset)) == 4
    np.testing.assert_allclose(loss, np.dot([1.0, 0.5, 0.25, 0.0], per_offset), rtol=1e-5)
    for k in range(1, 5):
        np.testing.assert_allclose(
            metrics[f"mi_bound/dt{k}"], math.log(40) - per_offset[k - 1], rtol=1e-5, atol=1e-5
        )


def test_first_step_is_k_ln_candidates_and_one_batch_overfits():
    config = load_config("cpc_mnist1d")
    first, last = overfit_one_batch(config, steps=60, lr=1e-2)
    candidates = config.batch_size * (40 // math.prod(config.model.strides))  # B x T' latents
    assert first["candidates"] == candidates
    # Zero-initialised predictors: every candidate equally likely, bound exactly 0.
    np.testing.assert_allclose(first["loss"], 4 * math.log(candidates), rtol=1e-5)
    np.testing.assert_allclose(first["mi_bound/dt1"], 0.0, atol=1e-5)
    assert last["loss"] < 0.8 * first["loss"], last
    for k in range(1, 5):  # Chance is 1 / candidates and a bound of 0.
        assert last[f"accuracy/dt{k}"] > 10 / candidates, last
        assert 1.0 < last[f"mi_bound/dt{k}"] < math.log(candidates), last


def test_sequence_shorter_than_the_offsets_is_an_error_before_compiling():
    config = load_config("cpc_mnist1d")
    steps = 40 // math.prod(config.model.strides)
    config.cpc.offsets = steps  # 40 samples encode to T' latents: no z_{t+T'}.
    with pytest.raises(ValueError, match=f"too short for the largest offset K = {steps}"):
        build_experiment(config, parallel.make_mesh())
    config.cpc.offsets, config.cpc.offset_weights = 2, (1.0, 0.5, 0.25)
    with pytest.raises(ValueError, match="one λ per offset"):
        cpc.make_model(config)


def test_8_devices_give_the_step_of_1():
    def run(devices):
        config = load_config("cpc_mnist1d")
        experiment = build_experiment(config, parallel.make_mesh(devices))
        state = experiment.state
        for step in range(2):
            state, metrics = experiment.step(state, experiment.global_batch(step))
        return jax.device_get((state.params, metrics))

    assert jax.device_count() == 8
    (eight, m8), (one, m1) = run(jax.devices()), run(jax.devices()[:1])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6), eight, one)
    np.testing.assert_allclose(m8["loss"], m1["loss"], rtol=1e-5)


@pytest.mark.slow
def test_probe_inherits_the_frozen_cpc_backbone(tmp_path):
    """CPC smoke run -> linear probe with init_from: the probe's backbone is the CPC backbone and
    stays frozen while the head learns."""
    pretrain = load_config("cpc_mnist1d")
    train(pretrain, str(tmp_path / "cpc"))
    pretrained = restore_params(str(tmp_path / "cpc"))["backbone"]

    probe = load_config("cpc_probe_mnist1d")
    probe.init_from = str(tmp_path / "cpc")
    state = train(probe, str(tmp_path / "probe"))
    params = jax.device_get(state.params)
    jax.tree.map(np.testing.assert_array_equal, params["backbone"], pretrained)
    assert np.abs(params["head"]["kernel"]).sum() > 0  # The head trained from its zero init.
