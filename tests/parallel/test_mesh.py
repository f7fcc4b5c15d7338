"""Data parallelism over a mesh: 8 fake CPU devices give the same step as 1; FSDP as replication."""

import jax
import numpy as np
import pytest
from conftest import load_config

from jaxpretrain import parallel
from jaxpretrain.train.experiment import build_experiment


def _run(config, devices, steps=3):
    experiment = build_experiment(config, parallel.make_mesh(devices))
    state = experiment.state
    losses = []
    for step in range(steps):
        state, metrics = experiment.step(state, experiment.global_batch(step))
        losses.append(float(metrics["loss"]))
    return losses, jax.device_get(state.params), state


def test_eight_devices_match_one():
    assert jax.device_count() == 8, "tests/conftest.py must force 8 CPU devices"
    config = load_config("supervised_digits")
    losses_1, params_1, _ = _run(config, jax.devices()[:1])
    losses_8, params_8, state_8 = _run(config, jax.devices())
    np.testing.assert_allclose(losses_8, losses_1, rtol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), params_8, params_1
    )
    # The parameters really are replicated over the 8 devices.
    kernel = jax.tree.leaves(state_8.params)[0]
    assert len(kernel.sharding.device_set) == 8 and kernel.sharding.is_fully_replicated


def test_fsdp_matches_replicated_and_shards():
    config = load_config("supervised_digits")
    config.model.width = 32  # Stage 2's 3x3x64x64 kernels pass FSDP's size threshold.
    losses_rep, params_rep, _ = _run(config, jax.devices())
    config.fsdp = True
    losses_fsdp, params_fsdp, state = _run(config, jax.devices())
    np.testing.assert_allclose(losses_fsdp, losses_rep, rtol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), params_fsdp, params_rep
    )
    shapes = [
        leaf.sharding.shard_shape(leaf.shape) != leaf.shape
        for leaf in jax.tree.leaves(state.params)
    ]
    assert any(shapes), "FSDP should split at least one large parameter"


@pytest.mark.parametrize(
    "shape,expected",
    [
        ((3, 3, 64, 64), (None, None, "data", None)),  # Largest divisible dim (ties: the first).
        ((10, 4096), (None, "data")),
        ((7, 8191), ()),  # Nothing divisible by 8: replicated.
        ((64,), ()),  # Too small to be worth sharding.
    ],
)
def test_fsdp_spec(shape, expected):
    mesh = parallel.make_mesh()
    sharding = parallel.param_shardings({"w": np.zeros(shape)}, mesh, fsdp=True)["w"]
    assert tuple(sharding.spec) == expected


def test_global_batch_is_split_over_devices():
    mesh = parallel.make_mesh()
    batch = parallel.to_global_batch({"x": np.arange(16).reshape(16, 1)}, mesh)
    assert batch["x"].shape == (16, 1)
    assert {shard.data.shape for shard in batch["x"].addressable_shards} == {(2, 1)}
