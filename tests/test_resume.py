"""End-to-end guarantees of the training loop: kill-and-resume, divergence, pretrained starts.

The kill test runs the real entry point (``scripts/train.py``) in a subprocess and SIGKILLs it
mid-run, right after a checkpoint has landed; restarting the same command must end with exactly
the parameters of a run that was never interrupted (DESIGN.md, "Data and determinism").
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
from conftest import ROOT, load_config, subprocess_env, train_command

from jaxpretrain import parallel
from jaxpretrain.train import CheckpointError, NonFiniteLossError, load_pretrained, train
from jaxpretrain.train.checkpoint import restore_params
from jaxpretrain.train.experiment import build_experiment
from jaxpretrain.train.metrics import read_metrics

# Long enough that the kill (as soon as checkpoint 10 exists) lands well before the end: the
# smoke model runs ~25 steps/s on one CPU device, so ~90 steps are left, several seconds.
TOTAL_STEPS = 100
KILL_AFTER = 10
TIMEOUT_S = 240


def _env() -> dict:
    # One device for every run (the kill run, its restart and the reference): cheapest, and the
    # guarantee is about the same command being restarted, not about device counts.
    return subprocess_env(1)


def _command(workdir) -> list[str]:
    return train_command(
        workdir,
        f"--config.total_steps={TOTAL_STEPS}",
        "--config.checkpoint_every=5",
        "--config.log_every=5",
        "--config.eval_every=0",
    )


def _finished_steps(workdir) -> list[int]:
    """Steps of the finished checkpoints (Orbax renames a temporary dir when a save completes)."""
    directory = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(directory):
        return []
    return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


def _run_to_completion(workdir, log_path) -> subprocess.CompletedProcess:
    with open(log_path, "w") as err:
        result = subprocess.run(
            _command(workdir),
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=TIMEOUT_S,
        )
    assert result.returncode == 0, f"{_command(workdir)} failed:\n{open(log_path).read()[-4000:]}"
    return result


def _assert_trees_equal(actual, expected):
    flat_actual = jax.tree_util.tree_flatten_with_path(actual)[0]
    flat_expected = jax.tree_util.tree_flatten_with_path(expected)[0]
    assert [p for p, _ in flat_actual] == [p for p, _ in flat_expected]
    for (path, a), (_, e) in zip(flat_actual, flat_expected):
        np.testing.assert_allclose(a, e, rtol=0, atol=0, err_msg=jax.tree_util.keystr(path))


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_matches_uninterrupted_run(tmp_path):
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    # The reference run shares the CPUs with the killed run; that only slows the latter down,
    # which keeps the kill mid-run.
    reference_err = open(tmp_path / "reference.stderr", "w")
    reference_proc = subprocess.Popen(
        _command(reference),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=reference_err,
        text=True,
    )
    try:
        with open(tmp_path / "killed.stderr", "w") as err:
            proc = subprocess.Popen(
                _command(killed), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=err
            )
            deadline = time.monotonic() + TIMEOUT_S
            try:
                while not any(s >= KILL_AFTER for s in _finished_steps(killed)):
                    if proc.poll() is not None:
                        pytest.fail(
                            f"the run exited (rc={proc.returncode}) before checkpoint {KILL_AFTER} "
                            f"existed; stderr:\n{open(tmp_path / 'killed.stderr').read()[-4000:]}"
                        )
                    assert time.monotonic() < deadline, "no checkpoint 10 before the timeout"
                    time.sleep(0.01)
                if proc.poll() is not None:
                    pytest.fail(
                        f"the run had already finished (rc={proc.returncode}) when checkpoint "
                        f"{KILL_AFTER} appeared, so the kill could not land mid-run; raise TOTAL_STEPS"
                    )
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert proc.returncode == -signal.SIGKILL
        steps_at_kill = _finished_steps(killed)
        assert steps_at_kill and max(steps_at_kill) < TOTAL_STEPS, (
            f"the kill did not land mid-run: finished checkpoints {steps_at_kill}"
        )

        resumed = _run_to_completion(killed, tmp_path / "resumed.stderr")
        match = re.search(r"resumed .* from step (\d+)", resumed.stdout)
        assert match, f"the restarted run did not say it resumed; stdout:\n{resumed.stdout}"
        resume_step = int(match.group(1))
        assert KILL_AFTER <= resume_step < TOTAL_STEPS

        rc = reference_proc.wait(timeout=TIMEOUT_S)
        reference_err.close()
        assert rc == 0, (
            f"reference run failed:\n{open(tmp_path / 'reference.stderr').read()[-4000:]}"
        )
    finally:
        if reference_proc.poll() is None:
            reference_proc.kill()
            reference_proc.wait()
        reference_err.close()

    assert "resumed" not in reference_proc.stdout.read()
    assert _finished_steps(killed)[-1] == TOTAL_STEPS
    assert not [n for n in os.listdir(killed / "checkpoints") if "tmp" in n], (
        "a partial save was left"
    )
    _assert_trees_equal(restore_params(str(killed)), restore_params(str(reference)))

    rows = read_metrics(str(killed))
    after = [r["step"] for r in rows if r["step"] > resume_step]
    assert after and after[-1] == TOTAL_STEPS, f"no metrics rows after the resume at {resume_step}"
    assert all(np.isfinite(r["loss"]) for r in rows)
    # Logged losses of the restarted part equal the reference run's at the same steps.
    reference_loss = {r["step"]: r["loss"] for r in read_metrics(str(reference))}
    for row in rows:
        if row["step"] > resume_step:
            assert row["loss"] == reference_loss[row["step"]], row["step"]


@pytest.fixture(scope="module")
def pretrained_workdir(tmp_path_factory):
    """A finished supervised smoke run: 6 steps on digits 0-4, checkpoints 3 and 6."""
    workdir = tmp_path_factory.mktemp("supervised")
    train(load_config("supervised_digits"), str(workdir))
    return str(workdir)


def _diverge(pretrained_workdir, workdir, **overrides):
    """Continue a copy of the pretrained run with an absurd learning rate until it stops."""
    shutil.copytree(pretrained_workdir, workdir)
    config = load_config("supervised_digits")  # Smoke: log every 2, checkpoint every 3.
    config.total_steps = 12
    config.optimizer.base_lr = 1e30
    config.update(overrides)
    with pytest.raises(NonFiniteLossError) as error:
        train(config, str(workdir))
    return str(error.value)


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(pretrained_workdir, tmp_path):
    workdir = tmp_path / "run"
    # Step 7's update blows the parameters up, step 8's loss is NaN/inf, and the check at step 8
    # (a log step) stops the run before checkpoint 9.
    message = _diverge(pretrained_workdir, workdir)
    assert "last good checkpoint (step 6)" in message, message
    assert "base_lr" in message  # It says what to do about it.

    steps = sorted(int(n) for n in os.listdir(workdir / "checkpoints"))
    assert steps == [3, 6], f"a diverged state was checkpointed, or a partial save left: {steps}"
    params = restore_params(str(workdir))
    _assert_trees_equal(params, restore_params(pretrained_workdir))
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(params))
    # The diverged steps were not logged as if they were fine.
    rows = read_metrics(str(workdir))
    assert rows[-1]["step"] == 6 and all(np.isfinite(r["loss"]) for r in rows)


@pytest.mark.slow
def test_last_good_checkpoint_resumes_after_lowering_the_lr(pretrained_workdir, tmp_path):
    workdir = tmp_path / "run"
    message = _diverge(pretrained_workdir, workdir, checkpoint_every=1, log_every=1)
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


def test_finetune_starts_from_pretrained_backbone_and_zero_head(pretrained_workdir):
    config = load_config("finetune_digits")
    config.init_from = pretrained_workdir
    experiment = build_experiment(config, parallel.make_mesh(), init_from=config.init_from)
    params = jax.device_get(experiment.state.params)
    pretrained = restore_params(pretrained_workdir)

    _assert_trees_equal(params["backbone"], pretrained["backbone"])
    assert set(params["head"]) == {"kernel", "bias"}
    for name, value in params["head"].items():
        assert not np.any(value), f"head/{name} does not start at zero"
    # The pretrained run's head was trained (digits 0-4), so it is really replaced, not inherited.
    assert np.any(pretrained["head"]["kernel"])
    assert int(experiment.state.step) == 0
