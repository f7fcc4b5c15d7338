"""The one training loop: resume, step, log, evaluate, checkpoint, stop cleanly.

``train(config, workdir)`` is what ``scripts/train.py`` runs on every host. The batch of step
``s`` is a pure function of ``(config.seed, s)`` and the step's randomness is
``fold_in(rng, s)``, so a run killed at any point and restarted with the same command resumes
from its latest intact checkpoint and ends with the parameters of an uninterrupted run. What the
loop guards against, each with one error that names the fix:
- two trainers on one workdir (``workdir_lock``);
- resuming with a config that changes the parameters or the data (``resume_config``);
- corrupt checkpoints (skipped and moved aside) and failed saves (``checkpointer``);
- SIGTERM / Ctrl-C: the step in progress is finished and checkpointed (``preemption``);
- a NaN/inf loss: the run stops before the diverged state is saved.

With ``config.steps_per_dispatch`` = k > 1 the loop runs up to k steps per jitted call
(``Experiment.steps``, one compiled program for any count ≤ k): a dispatch ends early at a log,
evaluation, checkpoint or final step, so every one lands on its own step, with the parameters of
a run of single steps (step s draws from ``fold_in(rng, s)`` either way). A logged row holds the
metrics of its own step (a dispatch's last); preemption is checked after each dispatch, so a
signal is answered at most k steps later.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os

import jax
import ml_collections

from jaxpretrain import parallel
from jaxpretrain.config import validate
from jaxpretrain.errors import CheckpointError, JaxpretrainError, Preempted
from jaxpretrain.train import pretrained
from jaxpretrain.train.checkpoint import CONFIG_FILE
from jaxpretrain.train.checkpointer import Checkpointer
from jaxpretrain.train.experiment import Experiment, build_experiment, make_mesh
from jaxpretrain.train.metrics import MetricsWriter, Throughput
from jaxpretrain.train.preemption import PreemptionWatch
from jaxpretrain.train.resume_config import check_resume
from jaxpretrain.train.state import TrainState
from jaxpretrain.train.workdir_lock import WorkdirLock


class NonFiniteLossError(JaxpretrainError, FloatingPointError):
    """The loss became NaN or inf; the run stopped without saving the diverged state."""


def _check_finite(
    state: TrainState, step: int, last_checked: int, checkpointer: Checkpointer
) -> None:
    if int(state.nonfinite):
        latest = checkpointer.latest_step()
        kept = (
            f"the last good checkpoint (step {latest}) is kept"
            if latest is not None
            else "no checkpoint was written"
        )
        raise NonFiniteLossError(
            f"the loss became NaN/inf between steps {last_checked} and {step}; {kept}. Lower "
            "config.optimizer.base_lr (config.optimizers.<player>.base_lr for a player of a "
            "multi-player method such as a GAN discriminator), set grad_clip_norm, or add warm-up "
            "steps."
        )


def _dispatch_length(config, step: int) -> int:
    """Steps the dispatch starting after ``step`` runs: ``steps_per_dispatch``, shortened to end
    at the next log, evaluation, checkpoint or final step."""
    k = config.get("steps_per_dispatch", 1)
    if k == 1:
        return 1
    every = [config.log_every, config.eval_every, config.checkpoint_every]
    boundary = min(
        [config.total_steps] + [(step // n + 1) * n for n in every if n and n > 0]
    )  # The first step after `step` that must be finished on its own.
    return min(k, boundary - step)


def _check_resumable(config, workdir: str, checkpointer: Checkpointer) -> bool:
    """Whether the run resumes; raises if it must not start (see ``resume_config``)."""
    if checkpointer.latest_step() is None:
        if checkpointer.moved_aside():
            raise CheckpointError(
                f"every checkpoint in {checkpointer.directory} was found corrupt and moved aside "
                f"({', '.join(checkpointer.moved_aside())}); start again in a new --workdir, or "
                f"delete {checkpointer.directory} to start over in this one."
            )
        return False
    config_file = os.path.join(workdir, CONFIG_FILE)
    if os.path.exists(config_file):
        with open(config_file) as f:
            check_resume(json.load(f), config, workdir)
    return True


def train(config: ml_collections.ConfigDict, workdir: str) -> TrainState:
    """Train ``config`` in ``workdir`` to ``config.total_steps``, resuming if it holds a checkpoint.

    Raises:
      Preempted: SIGTERM or SIGINT arrived; the step reached is checkpointed.
      NonFiniteLossError, CheckpointError, WorkdirInUseError, ConfigError: see the module doc.
    """
    if config.init_from:
        pretrained.parse(config.init_from)  # A missing source fails before anything is built.
    parallel.initialize()
    validate(config, num_devices=jax.device_count())
    mesh = make_mesh(config)
    main = parallel.is_main_process()
    with contextlib.ExitStack() as stack:
        if main:  # Process 0 speaks for the job.
            stack.enter_context(WorkdirLock(workdir))
        checkpointer = Checkpointer(workdir, keep=config.keep_checkpoints)
        stack.callback(checkpointer.close)
        resuming = _check_resumable(config, workdir, checkpointer)
        experiment = build_experiment(
            config, mesh, init_from=None if resuming else config.init_from
        )
        state = experiment.state
        if resuming:
            state = checkpointer.restore(state)
            if main:
                print(f"resumed {workdir} from step {int(state.step)}", flush=True)
        if main:
            with open(os.path.join(workdir, CONFIG_FILE), "w") as f:
                f.write(config.to_json_best_effort(indent=2))
            tokenizer = experiment.dataset.tokenizer
            if tokenizer is not None:  # Sampling and evaluation decode with the training ids.
                tokenizer.save(workdir)  # <workdir>/tokenizer.json
        return _loop(config, workdir, experiment, state, checkpointer)


def _loop(
    config: ml_collections.ConfigDict,
    workdir: str,
    experiment: Experiment,
    state: TrainState,
    checkpointer: Checkpointer,
) -> TrainState:
    main = parallel.is_main_process()
    start, total = int(state.step), config.total_steps
    writer = MetricsWriter(workdir, total_steps=total, start_step=start, enabled=main)
    throughput = Throughput(start)
    last_checked = start
    # Read the next batch on a host thread while the devices run the current step.
    loader = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    def fetch(step: int):
        count = _dispatch_length(config, step)
        if experiment.train_steps is None:
            return count, experiment.global_batch(step)
        return count, experiment.global_batches(step, count)

    upcoming = loader.submit(fetch, start)
    with PreemptionWatch() as preemption:
        try:
            step = start
            while step < total:
                count, batch = upcoming.result()
                if step + count < total:
                    upcoming = loader.submit(fetch, step + count)
                if experiment.train_steps is None:
                    state, metrics = experiment.step(state, batch)
                else:
                    state, metrics = experiment.steps(state, batch, count)
                done = step + count
                is_last = done == total
                evaluate_now = (config.eval_every and done % config.eval_every == 0) or is_last
                if done % config.log_every == 0 or evaluate_now or is_last:
                    _check_finite(state, done, last_checked, checkpointer)
                    last_checked = done
                    row = jax.device_get(metrics)
                    row["examples_per_sec"] = throughput.measure(done, config.batch_size)
                    if evaluate_now:
                        row.update(
                            {f"eval/{k}": v for k, v in experiment.evaluate(state.params).items()}
                        )
                        writer.write_pictures(done, experiment.pictures(state.params))
                        throughput.restart(done)  # Evaluation time is not training throughput.
                    writer.write(done, row)
                # Every step number is offered: a multi-host sync point may fall inside.
                stop = any([preemption.requested(s) for s in range(step + 1, done + 1)])
                if done % config.checkpoint_every == 0 or is_last or stop:
                    _check_finite(state, done, last_checked, checkpointer)
                    last_checked = done
                    checkpointer.save(state)
                writer.advance(done)
                step = done
                if stop and not is_last:
                    checkpointer.wait()
                    raise Preempted(
                        f"{preemption.signal_name} after step {done} of {total}: checkpoint {done} "
                        f"is written to {checkpointer.directory}; rerun the same command to resume",
                        preemption.signum,
                    )
        finally:
            loader.shutdown(cancel_futures=True)
            try:
                checkpointer.wait()
            finally:
                writer.close()
    return state
