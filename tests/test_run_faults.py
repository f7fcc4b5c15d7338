"""The faults a trainer meets, made in-process on copies of one finished smoke run (checkpoints 3
and 6): corrupt checkpoints, a changed config, a held workdir, a failed save (README, "When
things go wrong"; preemption and kills are tests/test_resume.py's)."""

import errno
import json
import os
import re
import subprocess
import sys
import time

import orbax.checkpoint._src.path.async_path as orbax_async_path
import pytest
from conftest import (
    ROOT,
    assert_trees_equal,
    copy_run,
    damage_checkpoint,
    finished_steps,
    load_config,
    subprocess_env,
)

from jaxpretrain.errors import ConfigError, WorkdirInUseError
from jaxpretrain.train import CheckpointError, train
from jaxpretrain.train.checkpoint import restore_params


@pytest.mark.parametrize("how", ["flip", "overwrite"])
def test_corrupt_newest_checkpoint_is_moved_aside_and_the_run_ends_as_uninterrupted(
    finished_smoke_run, tmp_path, capsys, how
):
    workdir = copy_run(finished_smoke_run, tmp_path)
    damage_checkpoint(workdir, 6, how)
    train(load_config("supervised_digits"), workdir)  # The same command, restarted.

    err = capsys.readouterr().err
    assert re.search(r"checkpoint 6 in .* is corrupt \(.+\); moved it aside to 6\.corrupt", err)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3", "6", "6.corrupt"]
    assert_trees_equal(restore_params(workdir), restore_params(finished_smoke_run))


def test_no_intact_checkpoint_is_one_error_and_the_next_start_does_not_start_over(
    finished_smoke_run, tmp_path
):
    workdir = copy_run(finished_smoke_run, tmp_path)
    for step in (3, 6):
        damage_checkpoint(workdir, step, "flip")
    with pytest.raises(CheckpointError, match=r"no checkpoint in .* restores.*3\.corrupt"):
        train(load_config("supervised_digits"), workdir)
    # Restarting must not silently train from scratch over the run's metrics.
    with pytest.raises(CheckpointError, match="every checkpoint .* was found corrupt"):
        train(load_config("supervised_digits"), workdir)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3.corrupt", "6.corrupt"]


def test_resuming_with_changed_model_or_seed_lists_each_key(finished_smoke_run, tmp_path):
    workdir = copy_run(finished_smoke_run, tmp_path)
    config = load_config("supervised_digits")
    config.model.width *= 2
    config.seed = 7
    with pytest.raises(ConfigError) as error:
        train(config, workdir)
    message = str(error.value)
    assert "model.width: 8 -> 16" in message and "seed: 0 -> 7" in message, message
    assert "--workdir" in message  # What to do about it.
    assert finished_steps(workdir) == [3, 6]


def test_resuming_with_changed_intervals_is_allowed_and_logged(
    finished_smoke_run, tmp_path, capsys
):
    workdir = copy_run(finished_smoke_run, tmp_path)
    config = load_config("supervised_digits")
    config.log_every = 1
    config.keep_checkpoints = 5
    train(config, workdir)
    err = capsys.readouterr().err
    assert "resuming with config changes: keep_checkpoints: 3 -> 5; log_every: 2 -> 1" in err
    assert json.load(open(os.path.join(workdir, "config.json")))["log_every"] == 1


def test_a_second_trainer_refuses_a_held_workdir_naming_the_holder(finished_smoke_run, tmp_path):
    workdir = copy_run(finished_smoke_run, tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from jaxpretrain.train.workdir_lock import WorkdirLock\n"
            "with WorkdirLock(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)",
            workdir,
        ],
        cwd=ROOT,
        env=subprocess_env(1),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(WorkdirInUseError, match=rf"pid {holder.pid} on host \S+"):
            train(load_config("supervised_digits"), workdir)
        assert time.monotonic() - started < 10, "it did not refuse at once"
    finally:
        holder.kill()
        holder.wait()
    assert finished_steps(workdir) == [3, 6]


def test_a_lock_left_by_a_dead_trainer_is_taken_over_with_a_warning(
    finished_smoke_run, tmp_path, capsys
):
    workdir = copy_run(finished_smoke_run, tmp_path)
    dead = {"host": "node-7", "pid": 4194304, "since": "2026-11-30T23:59:00"}
    with open(os.path.join(workdir, "lock"), "w") as f:
        json.dump(dead, f)  # Written by a trainer that died without unlocking (no flock held).
    train(load_config("supervised_digits"), workdir)
    err = capsys.readouterr().err
    assert "took over the lock" in err and "pid 4194304 on host node-7" in err, err


def test_a_failed_save_is_one_error_and_the_previous_checkpoint_stays(
    finished_smoke_run, tmp_path, monkeypatch
):
    workdir = copy_run(finished_smoke_run, tmp_path)
    config = load_config("supervised_digits")
    config.total_steps = 9

    async def disk_full(source, target):  # Orbax's commit of a finished save: the final rename.
        raise OSError(errno.ENOSPC, "No space left on device", str(source))

    with monkeypatch.context() as patch:
        patch.setattr(orbax_async_path, "rename", disk_full)
        with pytest.raises(CheckpointError) as error:
            train(config, workdir)
    message = str(error.value)
    assert "\n" not in message, message
    assert re.search(r"could not write checkpoint 9 to .*/checkpoints/9: No space left", message)
    assert "checkpoint 6 is intact" in message, message
    assert finished_steps(workdir) == [3, 6]
    assert_trees_equal(restore_params(workdir), restore_params(finished_smoke_run))
    train(config, workdir)  # Space freed: the same command resumes from 6 and saves 9.
    assert finished_steps(workdir) == [3, 6, 9]
