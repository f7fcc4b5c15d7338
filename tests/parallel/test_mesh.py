"""Data parallelism over a mesh: 8 fake CPU devices with FSDP give the same steps as 1."""

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


def test_eight_devices_with_fsdp_take_the_step_of_one():
    """Data parallelism over 8 devices with FSDP's largest-dimension rule (a ResNet names no
    axes) gives one device's 3 steps; the large kernels are really split."""
    assert jax.device_count() == 8, "tests/conftest.py must force 8 CPU devices"
    config = load_config("supervised_digits")
    config.model.width = 32  # Stage 2's 3x3x64x64 kernels pass FSDP's size threshold.
    losses_1, params_1, _ = _run(config, jax.devices()[:1])
    config.fsdp = True
    losses_8, params_8, state = _run(config, jax.devices())
    np.testing.assert_allclose(losses_8, losses_1, rtol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), params_8, params_1
    )
    leaves = jax.tree.leaves(state.params)
    assert all(len(leaf.sharding.device_set) == 8 for leaf in leaves)
    split = [leaf.sharding.shard_shape(leaf.shape) != leaf.shape for leaf in leaves]
    assert any(split), "FSDP should split at least one large parameter"
    assert not all(split), "small parameters (norms, biases) should stay replicated"


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
