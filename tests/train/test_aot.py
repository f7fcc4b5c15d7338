"""The dry run: the step compiled for the configured mesh, with its memory per device and FLOPs,
and a step too large for the device refused with the knobs that shrink it."""

import pytest
from conftest import load_config

from jaxpretrain.train import aot


def _gpt(**overrides):
    config = load_config("gpt2_kjv")
    config.update(overrides)
    return config


def test_fsdp_shrinks_the_arguments_per_device():
    replicated = aot.compile_step(_gpt())
    sharded = aot.compile_step(_gpt(fsdp=True))
    assert replicated.mesh == sharded.mesh == {"data": 8, "model": 1}
    assert 0 < sharded.argument_bytes < replicated.argument_bytes
    assert replicated.flops and replicated.flops > 0
    assert "memory per device" in str(sharded) and "FLOPs per step" in str(sharded)


def test_step_too_large_names_the_knobs(monkeypatch):
    monkeypatch.setattr(aot, "device_bytes", lambda device: 1024)
    with pytest.raises(aot.StepTooLargeError) as error:
        aot.dry_run(_gpt())
    for knob in ("config.microbatches", "config.fsdp", "config.mesh.model", "dtype"):
        assert knob in str(error.value)
