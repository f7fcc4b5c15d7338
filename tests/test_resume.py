"""End-to-end guarantees of the training loop: kill, preemption, divergence, pretrained starts
(the faults made on copies of a finished run are tests/test_run_faults.py's).

The kill and preemption tests run the real entry point (``scripts/train.py``) in a subprocess and
SIGKILL or SIGTERM it mid-run; restarting the same command must end with exactly the parameters of
a run that was never interrupted (DESIGN.md, "Data and determinism").
"""

import os
import re
import shutil
import signal
import subprocess
import time

import jax
import numpy as np
import pytest
from conftest import (
    ROOT,
    assert_trees_equal,
    finished_steps,
    load_config,
    subprocess_env,
    train_command,
)

from jaxpretrain import parallel
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
        lambda: any(s >= INTERRUPT_AFTER for s in finished_steps(killed)),
        signal.SIGKILL,
    )
    assert proc.returncode == -signal.SIGKILL
    steps_at_kill = finished_steps(killed)
    assert steps_at_kill and max(steps_at_kill) < TOTAL_STEPS, (
        f"the kill did not land mid-run: finished checkpoints {steps_at_kill}"
    )

    resumed = _run_to_completion(command, tmp_path / "resumed.stderr")
    match = re.search(r"resumed .* from step (\d+)", resumed.stdout)
    assert match, f"the restarted run did not say it resumed; stdout:\n{resumed.stdout}"
    resume_step = int(match.group(1))
    assert INTERRUPT_AFTER <= resume_step < TOTAL_STEPS

    assert finished_steps(killed)[-1] == TOTAL_STEPS
    assert not [n for n in os.listdir(killed / "checkpoints") if "tmp" in n], (
        "a partial save was left"
    )
    assert_trees_equal(restore_params(str(killed)), restore_params(str(reference_run)))

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
    assert finished_steps(workdir) == [stopped_at]
    assert "Traceback" not in stderr

    resumed = _run_to_completion(command, tmp_path / "resumed.stderr")
    assert f"from step {stopped_at}" in resumed.stdout
    assert_trees_equal(restore_params(str(workdir)), restore_params(str(reference_run)))


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
    assert_trees_equal(params, restore_params(finished_smoke_run))
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
    assert not finished_steps(tmp_path / "finetune")


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

    assert_trees_equal(params["backbone"], pretrained["backbone"])
    assert set(params["head"]) == {"kernel", "bias"}
    for name, value in params["head"].items():
        assert not np.any(value), f"head/{name} does not start at zero"
    # The pretrained run's head was trained (digits 0-4), so it is really replaced, not inherited.
    assert np.any(pretrained["head"]["kernel"])
    assert int(experiment.state.step) == 0
