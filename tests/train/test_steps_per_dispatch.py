"""config.steps_per_dispatch: k steps per jitted call give the parameters of single steps, logs
and checkpoints land on their steps, and a resumed run (with another k) ends the same."""

import json
import shutil

import jax
import pytest
from conftest import assert_trees_equal, finished_steps, load_config

from jaxpretrain.config import validate
from jaxpretrain.train import train
from jaxpretrain.train.loop import _dispatch_length
from jaxpretrain.train.resume_config import SAFE_TO_CHANGE


def _config(k, total_steps=11):
    config = load_config("cbow_kjv")  # Its batches are drawn inside the step.
    config.total_steps = total_steps
    config.log_every = 3
    config.checkpoint_every = 5
    config.steps_per_dispatch = k
    return config


def _logged(workdir):
    with open(workdir / "metrics.jsonl") as f:
        return {row["step"]: row["loss"] for row in map(json.loads, f) if "loss" in row}


def test_dispatches_end_at_logs_checkpoints_and_the_last_step():
    config = _config(4)
    lengths, step = [], 0
    while step < config.total_steps:
        lengths.append(_dispatch_length(config, step))
        step += lengths[-1]
    # Logs at 3, 6, 9, 11 (the last step), checkpoints at 5, 10, 11.
    assert lengths == [3, 2, 1, 3, 1, 1]
    assert _dispatch_length(_config(1), 0) == 1


def test_k_steps_per_dispatch_equal_single_steps_and_resume(tmp_path):
    single = train(_config(1), str(tmp_path / "one"))
    many = train(_config(4), str(tmp_path / "many"))
    assert_trees_equal(jax.device_get(many.params), jax.device_get(single.params))
    assert _logged(tmp_path / "many") == _logged(tmp_path / "one")  # Steps 3, 6, 9, 11.
    assert finished_steps(tmp_path / "many") == finished_steps(tmp_path / "one")
    # Back to checkpoint 5, then resumed with another k: steps_per_dispatch is layout only.
    for step in (10, 11):
        shutil.rmtree(tmp_path / "many" / "checkpoints" / str(step))
    resumed = train(_config(3), str(tmp_path / "many"))
    assert_trees_equal(jax.device_get(resumed.params), jax.device_get(single.params))


@pytest.mark.parametrize("value", [0, -2])
def test_steps_per_dispatch_must_be_a_positive_int(value):
    config = _config(value)
    with pytest.raises(ValueError, match="config.steps_per_dispatch must be a positive int"):
        validate(config, num_devices=1)
    assert "steps_per_dispatch" in SAFE_TO_CHANGE
