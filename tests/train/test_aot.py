"""The dry run: the step compiled for the configured mesh, with its memory per device and FLOPs,
and a step too large for the device refused with the knobs that shrink it."""

import pytest
from conftest import load_config

from jaxpretrain import config as config_lib
from jaxpretrain.train import aot


def _gpt(**overrides):
    config = load_config("gpt2_kjv")
    config.update(overrides)
    return config


def test_a_split_layout_shrinks_the_state_per_device():
    # 2x4 with FSDP, as tests/parallel/test_logical_mesh.py trains it (the same compiled step).
    cost = aot.compile_step(_gpt(fsdp=True, mesh=dict(model=4)))
    assert cost.mesh == {"data": 2, "model": 4}
    # Replicated, the arguments would hold the whole state; split, much less of it.
    assert 0 < cost.argument_bytes < cost.state_bytes / 2
    assert cost.memory_bytes > cost.argument_bytes and cost.flops > 0
    assert "memory per device" in str(cost) and "FLOPs per step" in str(cost)


def test_step_too_large_names_the_knobs(monkeypatch):
    monkeypatch.setattr(aot, "device_bytes", lambda device: 1024)
    with pytest.raises(aot.StepTooLargeError) as error:
        aot.dry_run(_gpt())
    for knob in ("config.microbatches", "config.fsdp", "config.mesh.model", "dtype"):
        assert knob in str(error.value)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(mesh=dict(model=3)), "config.mesh.model=3 does not divide the 8 devices"),
        (dict(microbatches=4), "use a multiple of 32"),  # 16 rows: 4 slices x 8 data devices.
    ],
)
def test_layouts_that_cannot_run_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        config_lib.validate(_gpt(**overrides), num_devices=8)
    # Fewer data devices fit the same batch: 4 slices x 4 data devices (mesh.model = 2).
    if "microbatches" in overrides:
        config_lib.validate(_gpt(mesh=dict(model=2), **overrides), num_devices=8)


def test_several_steps_per_dispatch_compile_the_loop_the_run_executes():
    """With k steps per dispatch the dry run compiles the k-step loop: its arguments hold k
    batches (k − 1 more than one step's, plus the int32 count), and its FLOPs are one step's."""
    costs = {}
    for k in (1, 4):
        config = load_config("cbow_kjv")
        config.steps_per_dispatch = k
        costs[k] = aot.compile_step(config)
    rows_per_device = config.batch_size // 8  # The 8 test devices split the batch.
    batch_bytes = rows_per_device * config.data.chunk * 4  # int32 chunk ids [B, L].
    assert costs[4].argument_bytes - costs[1].argument_bytes == 3 * batch_bytes + 4
    assert abs(costs[4].flops / costs[1].flops - 1) < 0.01
    assert "4 steps per dispatch" in str(costs[4]) and "per dispatch" not in str(costs[1])
