"""End-to-end guarantees of the training loop: kill, preemption, corrupt checkpoints, a changed
config, a held workdir, failed saves, divergence, pretrained starts.

The kill and preemption tests run the real entry point (``scripts/train.py``) in a subprocess and
SIGKILL or SIGTERM it mid-run; restarting the same command must end with exactly the parameters of
a run that was never interrupted (DESIGN.md, "Data and determinism"). The other faults are made
in-process on copies of one finished smoke run.
"""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint._src.path.async_path as orbax_async_path
import pytest
from conftest import ROOT, load_config, subprocess_env, train_command

from jaxpretrain import parallel
from jaxpretrain.errors import ConfigError, WorkdirInUseError
from jaxpretrain.train import CheckpointError, NonFiniteLossError, load_pretrained, train
from jaxpretrain.train.checkpoint import restore_params
from jaxpretrain.train.experiment import build_experiment
from jaxpretrain.train.metrics import read_metrics

# Long enough that the kill (as soon as checkpoint 10 exists) and the SIGTERM (as soon as step 10
# is logged) land well before the end: the smoke model runs ~80 steps/s on one CPU device.
TOTAL_STEPS = 150
INTERRUPT_AFTER = 10
TIMEOUT_S = 240


def _command(workdir, checkpoint_every: int = 1000) -> list[str]:
    # One device for every run (interrupted, restarted, reference): cheapest, and the guarantee
    # is about the same command being restarted, not about device counts.
    return train_command(
        workdir,
        f"--config.total_steps={TOTAL_STEPS}",
        f"--config.checkpoint_every={checkpoint_every}",
        "--config.log_every=5",
        "--config.eval_every=0",
    )


def _finished_steps(workdir) -> list[int]:
    """Steps of the finished checkpoints (Orbax renames a temporary dir when a save completes)."""
    directory = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(directory):
        return []
    return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


def _logged_steps(workdir) -> list[int]:
    """Steps of the complete rows of a run's metrics.jsonl so far (it may be mid-write)."""
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [int(m.group(1)) for m in re.finditer(r'^\{"step": (\d+),.*\}$', f.read(), re.M)]


def _run_to_completion(command, log_path) -> subprocess.CompletedProcess:
    with open(log_path, "w") as err:
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=subprocess_env(1),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=TIMEOUT_S,
        )
    assert result.returncode == 0, f"{command} failed:\n{open(log_path).read()[-4000:]}"
    return result


def _interrupt(command, log_path, ready, sig) -> subprocess.Popen:
    """Start ``command``, wait until ``ready()`` holds, send ``sig``, and wait for the end."""
    with open(log_path, "w") as err:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=subprocess_env(1), stdout=subprocess.DEVNULL, stderr=err
        )
        deadline = time.monotonic() + TIMEOUT_S
        try:
            while not ready():
                if proc.poll() is not None:
                    pytest.fail(
                        f"the run exited (rc={proc.returncode}) before it could be interrupted; "
                        f"stderr:\n{open(log_path).read()[-4000:]}"
                    )
                assert time.monotonic() < deadline, "the run never got ready to be interrupted"
                time.sleep(0.01)
            assert proc.poll() is None, "the run had already finished: raise TOTAL_STEPS"
            proc.send_signal(sig)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return proc


def _assert_trees_equal(actual, expected):
    flat_actual = jax.tree_util.tree_flatten_with_path(actual)[0]
    flat_expected = jax.tree_util.tree_flatten_with_path(expected)[0]
    assert [p for p, _ in flat_actual] == [p for p, _ in flat_expected]
    for (path, a), (_, e) in zip(flat_actual, flat_expected):
        np.testing.assert_allclose(a, e, rtol=0, atol=0, err_msg=jax.tree_util.keystr(path))


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """The uninterrupted run the interrupted ones must end equal to."""
    workdir = tmp_path_factory.mktemp("reference") / "run"
    _run_to_completion(_command(workdir), workdir.parent / "stderr")
    return workdir


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_matches_uninterrupted_run(tmp_path, reference_run):
    killed = tmp_path / "killed"
    command = _command(killed, checkpoint_every=25)
    proc = _interrupt(
        command,
        tmp_path / "killed.stderr",
        lambda: any(s >= INTERRUPT_AFTER for s in _finished_steps(killed)),
        signal.SIGKILL,
    )
    assert proc.returncode == -signal.SIGKILL
    steps_at_kill = _finished_steps(killed)
    assert steps_at_kill and max(steps_at_kill) < TOTAL_STEPS, (
        f"the kill did not land mid-run: finished checkpoints {steps_at_kill}"
    )

    resumed = _run_to_completion(command, tmp_path / "resumed.stderr")
    match = re.search(r"resumed .* from step (\d+)", resumed.stdout)
    assert match, f"the restarted run did not say it resumed; stdout:\n{resumed.stdout}"
    resume_step = int(match.group(1))
    assert INTERRUPT_AFTER <= resume_step < TOTAL_STEPS

    assert _finished_steps(killed)[-1] == TOTAL_STEPS
    assert not [n for n in os.listdir(killed / "checkpoints") if "tmp" in n], (
        "a partial save was left"
    )
    _assert_trees_equal(restore_params(str(killed)), restore_params(str(reference_run)))

    rows = read_metrics(str(killed))
    after = [r["step"] for r in rows if r["step"] > resume_step]
    assert after and after[-1] == TOTAL_STEPS, f"no metrics rows after the resume at {resume_step}"
    assert all(np.isfinite(r["loss"]) for r in rows)
    # Logged losses of the restarted part equal the reference run's at the same steps.
    reference_loss = {r["step"]: r["loss"] for r in read_metrics(str(reference_run))}
    for row in rows:
        if row["step"] > resume_step:
            assert row["loss"] == reference_loss[row["step"]], row["step"]


@pytest.mark.slow
def test_sigterm_checkpoints_the_step_it_reached_and_the_restart_matches(tmp_path, reference_run):
    workdir = tmp_path / "preempted"
    command = _command(workdir)  # No periodic checkpoint before the end: only the signal's.
    proc = _interrupt(
        command,
        tmp_path / "preempted.stderr",
        lambda: any(s >= INTERRUPT_AFTER for s in _logged_steps(workdir)),
        signal.SIGTERM,
    )
    stderr = open(tmp_path / "preempted.stderr").read()
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-4000:]
    match = re.search(rf"stopped: SIGTERM after step (\d+) of {TOTAL_STEPS}", stderr)
    assert match, stderr[-4000:]
    stopped_at = int(match.group(1))
    assert INTERRUPT_AFTER <= stopped_at < TOTAL_STEPS
    # The step where the signal arrived is saved, so no step is lost.
    assert _finished_steps(workdir) == [stopped_at]
    assert "Traceback" not in stderr

    resumed = _run_to_completion(command, tmp_path / "resumed.stderr")
    assert f"from step {stopped_at}" in resumed.stdout
    _assert_trees_equal(restore_params(str(workdir)), restore_params(str(reference_run)))


def _diverge(finished_smoke_run, workdir, **overrides):
    """Continue a copy of the pretrained run with an absurd learning rate until it stops."""
    shutil.copytree(finished_smoke_run, workdir)
    config = load_config("supervised_digits")  # Smoke: log every 2, checkpoint every 3.
    config.total_steps = 12
    config.optimizer.base_lr = 1e30
    config.update(overrides)
    with pytest.raises(NonFiniteLossError) as error:
        train(config, str(workdir))
    return str(error.value)


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(finished_smoke_run, tmp_path):
    workdir = tmp_path / "run"
    # Step 7's update blows the parameters up, step 8's loss is NaN/inf, and the check at step 8
    # (a log step) stops the run before checkpoint 9.
    message = _diverge(finished_smoke_run, workdir)
    assert "last good checkpoint (step 6)" in message, message
    assert "base_lr" in message  # It says what to do about it.

    steps = sorted(int(n) for n in os.listdir(workdir / "checkpoints"))
    assert steps == [3, 6], f"a diverged state was checkpointed, or a partial save left: {steps}"
    params = restore_params(str(workdir))
    _assert_trees_equal(params, restore_params(finished_smoke_run))
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(params))
    # The diverged steps were not logged as if they were fine.
    rows = read_metrics(str(workdir))
    assert rows[-1]["step"] == 6 and all(np.isfinite(r["loss"]) for r in rows)


@pytest.mark.slow
def test_last_good_checkpoint_resumes_after_lowering_the_lr(finished_smoke_run, tmp_path):
    workdir = tmp_path / "run"
    message = _diverge(finished_smoke_run, workdir, checkpoint_every=1, log_every=1)
    # What the error message tells the user to do: lower the lr and rerun the same command.
    config = load_config("supervised_digits")
    config.total_steps = 12
    config.checkpoint_every = 1
    train(config, str(workdir))  # Raises NonFiniteLossError again if the checkpoint is diverged.
    assert all(np.isfinite(r["loss"]) for r in read_metrics(str(workdir))[-3:]), message


def test_init_from_missing_directory_is_an_error(tmp_path):
    config = load_config("finetune_digits")
    config.init_from = str(tmp_path / "no_such_run")
    with pytest.raises(CheckpointError, match="no_such_run.*does not exist"):
        train(config, str(tmp_path / "finetune"))
    assert not (tmp_path / "finetune" / "metrics.jsonl").exists(), (
        "it started training from scratch"
    )
    assert not _finished_steps(tmp_path / "finetune")


def test_init_from_directory_without_checkpoint_is_an_error(tmp_path):
    (tmp_path / "empty_run" / "checkpoints").mkdir(parents=True)
    with pytest.raises(CheckpointError, match="no finished checkpoint"):
        load_pretrained({"backbone": {}}, str(tmp_path / "empty_run"))


def test_finetune_starts_from_pretrained_backbone_and_zero_head(finished_smoke_run):
    config = load_config("finetune_digits")
    config.init_from = finished_smoke_run
    experiment = build_experiment(config, parallel.make_mesh(), init_from=config.init_from)
    params = jax.device_get(experiment.state.params)
    pretrained = restore_params(finished_smoke_run)

    _assert_trees_equal(params["backbone"], pretrained["backbone"])
    assert set(params["head"]) == {"kernel", "bias"}
    for name, value in params["head"].items():
        assert not np.any(value), f"head/{name} does not start at zero"
    # The pretrained run's head was trained (digits 0-4), so it is really replaced, not inherited.
    assert np.any(pretrained["head"]["kernel"])
    assert int(experiment.state.step) == 0


# ---- Faults made on copies of the finished smoke run (checkpoints 3 and 6) --------------------


def _copy(finished_smoke_run, tmp_path) -> str:
    workdir = tmp_path / "run"
    shutil.copytree(finished_smoke_run, workdir)
    return str(workdir)


def _damage(workdir: str, step: int, how: str) -> None:
    """``flip``: one bit at a quarter, half and three quarters of each parameter data file (most
    such flips restore without an Orbax error, as other values); ``overwrite``: every file of the
    parameters replaced by junk (Orbax cannot read them)."""
    params = os.path.join(workdir, "checkpoints", str(step), "params")
    files = [os.path.join(root, name) for root, _, names in os.walk(params) for name in names]
    for file in files:
        if how == "overwrite":
            open(file, "wb").write(b"not a checkpoint")
        elif os.sep + "d" + os.sep in file:  # TensorStore's OCDBT keeps the array data in d/.
            data = bytearray(open(file, "rb").read())
            for quarter in (1, 2, 3):
                data[len(data) * quarter // 4] ^= 0x10
            open(file, "wb").write(bytes(data))


@pytest.mark.parametrize("how", ["flip", "overwrite"])
def test_corrupt_newest_checkpoint_is_moved_aside_and_the_run_ends_as_uninterrupted(
    finished_smoke_run, tmp_path, capsys, how
):
    workdir = _copy(finished_smoke_run, tmp_path)
    _damage(workdir, 6, how)
    train(load_config("supervised_digits"), workdir)  # The same command, restarted.

    err = capsys.readouterr().err
    assert re.search(r"checkpoint 6 in .* is corrupt \(.+\); moved it aside to 6\.corrupt", err)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3", "6", "6.corrupt"]
    _assert_trees_equal(restore_params(workdir), restore_params(finished_smoke_run))


def test_no_intact_checkpoint_is_one_error_and_the_next_start_does_not_start_over(
    finished_smoke_run, tmp_path
):
    workdir = _copy(finished_smoke_run, tmp_path)
    for step in (3, 6):
        _damage(workdir, step, "flip")
    with pytest.raises(CheckpointError, match=r"no checkpoint in .* restores.*3\.corrupt"):
        train(load_config("supervised_digits"), workdir)
    # Restarting must not silently train from scratch over the run's metrics.
    with pytest.raises(CheckpointError, match="every checkpoint .* was found corrupt"):
        train(load_config("supervised_digits"), workdir)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3.corrupt", "6.corrupt"]


def test_resuming_with_changed_model_or_seed_lists_each_key(finished_smoke_run, tmp_path):
    workdir = _copy(finished_smoke_run, tmp_path)
    config = load_config("supervised_digits")
    config.model.width *= 2
    config.seed = 7
    with pytest.raises(ConfigError) as error:
        train(config, workdir)
    message = str(error.value)
    assert "model.width: 8 -> 16" in message and "seed: 0 -> 7" in message, message
    assert "--workdir" in message  # What to do about it.
    assert _finished_steps(workdir) == [3, 6]


def test_resuming_with_changed_intervals_is_allowed_and_logged(
    finished_smoke_run, tmp_path, capsys
):
    workdir = _copy(finished_smoke_run, tmp_path)
    config = load_config("supervised_digits")
    config.log_every = 1
    config.keep_checkpoints = 5
    train(config, workdir)
    err = capsys.readouterr().err
    assert "resuming with config changes: keep_checkpoints: 3 -> 5; log_every: 2 -> 1" in err
    assert json.load(open(os.path.join(workdir, "config.json")))["log_every"] == 1


def test_a_second_trainer_refuses_a_held_workdir_naming_the_holder(finished_smoke_run, tmp_path):
    workdir = _copy(finished_smoke_run, tmp_path)
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
    assert _finished_steps(workdir) == [3, 6]


def test_a_lock_left_by_a_dead_trainer_is_taken_over_with_a_warning(
    finished_smoke_run, tmp_path, capsys
):
    workdir = _copy(finished_smoke_run, tmp_path)
    dead = {"host": "node-7", "pid": 4194304, "since": "2026-11-30T23:59:00"}
    with open(os.path.join(workdir, "lock"), "w") as f:
        json.dump(dead, f)  # Written by a trainer that died without unlocking (no flock held).
    train(load_config("supervised_digits"), workdir)
    err = capsys.readouterr().err
    assert "took over the lock" in err and "pid 4194304 on host node-7" in err, err


def test_a_failed_save_is_one_error_and_the_previous_checkpoint_stays(
    finished_smoke_run, tmp_path, monkeypatch
):
    workdir = _copy(finished_smoke_run, tmp_path)
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
    assert _finished_steps(workdir) == [3, 6]
    _assert_trees_equal(restore_params(workdir), restore_params(finished_smoke_run))
    train(config, workdir)  # Space freed: the same command resumes from 6 and saves 9.
    assert _finished_steps(workdir) == [3, 6, 9]
