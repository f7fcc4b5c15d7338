"""A checkpoint restores onto any device count or mesh shape (DESIGN.md, "Devices").

One GPT smoke run of 9 steps changes layout twice: written on 8 devices as a 2x4 mesh with FSDP,
it is cut back to its checkpoint at step 3 (as if killed right after writing it) and resumed by
``scripts/train.py`` on 1 device; cut back to step 6, it is resumed on the 8 devices as 2x4 with
FSDP again. Orbax reads each saved array into the shardings of the new layout. Both resumed runs
end with the parameters of an uninterrupted 1-device run, to the float tolerance of a change of
layout (the layouts' sums round differently, tests/parallel/test_logical_mesh.py). The layouts are
that test's, so the compiled steps are shared.
"""

import os
import shutil

import jax
import pytest
from conftest import load_config, max_relative_difference, run_script, train_command

from jaxpretrain import parallel
from jaxpretrain.train import train
from jaxpretrain.train.checkpoint import restore_params
from jaxpretrain.train.experiment import build_experiment

# The smoke config's 6 steps, so the compiled steps are test_logical_mesh's (the compilation
# cache serves them); checkpoints every 2 steps (kept: 2, 4, 6).
STEPS = 6
SETTINGS = ("--config.checkpoint_every=2",)


def _config(model: int = 1, fsdp: bool = False):
    config = load_config("gpt2_kjv")
    assert config.total_steps == STEPS and config.eval_every == 0
    config.checkpoint_every = 2
    config.mesh.model, config.fsdp = model, fsdp
    return config


def _cut_back(workdir, step: int) -> None:
    """Delete the checkpoints after ``step``: the run was killed right after writing ``step``."""
    directory = os.path.join(workdir, "checkpoints")
    for name in os.listdir(directory):
        if name.isdigit() and int(name) > step:
            shutil.rmtree(os.path.join(directory, name))


def _resume_in_subprocess(workdir, num_devices: int) -> str:
    command = train_command(workdir, *SETTINGS, config="gpt2_kjv")
    return run_script(command, num_devices=num_devices, timeout=300).stdout


@pytest.mark.slow
def test_resume_across_device_counts_and_mesh_shapes(tmp_path):
    workdir = str(tmp_path / "run")
    train(_config(model=4, fsdp=True), workdir)  # 8 devices, 2x4, FSDP.
    _cut_back(workdir, 2)
    stdout = _resume_in_subprocess(workdir, 1)
    assert "from step 2" in stdout, stdout
    on_one = restore_params(workdir)
    _cut_back(workdir, 4)  # Written on 1 device.
    final = train(_config(model=4, fsdp=True), workdir)
    assert int(final.step) == STEPS

    experiment = build_experiment(_config(), parallel.make_mesh(jax.devices()[:1]))
    state = experiment.state
    for step in range(STEPS):
        state, _ = experiment.step(state, experiment.global_batch(step))
    reference = jax.device_get(state.params)
    assert max_relative_difference(on_one, reference) < 1e-5
    assert max_relative_difference(final.params, reference) < 1e-5
    # The restored state really took the new layout.
    embedding = final.params["wte"]["embedding"]
    assert tuple(embedding.sharding.spec) == ("model", "data")
    assert dict(embedding.sharding.mesh.shape) == {"data": 2, "model": 4}
    assert int(final.nonfinite) == 0
