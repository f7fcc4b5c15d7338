"""Saving and resuming a run: Orbax checkpoints, kept K at a time, resumed past corrupt ones.

Layout: ``<workdir>/checkpoints/<step>/{params,opt_state,meta,checksums}``. Orbax writes each
checkpoint into a temporary directory and renames it when complete, so a process killed mid-save
leaves the previous checkpoints intact and the partial one invisible (and removed on the next
start). ``checksums`` (``train.checksums``) catches the damage Orbax cannot see. A checkpoint that
fails to restore or to match its checksums is moved aside to ``<step>.corrupt`` (never deleted)
and the run resumes from the newest one that is intact. A save that fails (disk full, permission
denied) is one ``CheckpointError`` naming the path and the cause; the checkpoints before it stay.
"""

from __future__ import annotations

import sys
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from flax import traverse_util

from jaxpretrain import parallel
from jaxpretrain.errors import CheckpointError
from jaxpretrain.train import checksums
from jaxpretrain.train.checkpoint import checkpoint_dir, read_checksums, shape_mismatches
from jaxpretrain.train.state import TrainState

CORRUPT_SUFFIX = ".corrupt"
_ITEMS = ("params", "opt_state", "meta")


def _warn(message: str) -> None:
    if parallel.is_main_process():
        print(f"warning: {message}", file=sys.stderr, flush=True)


def _cause(error: BaseException) -> str:
    """The root cause of an Orbax/TensorStore error in a few words: the innermost OSError's
    ``strerror (filename)`` if there is one, else the first line of the innermost message."""
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for err in reversed(chain):
        if isinstance(err, OSError) and err.strerror:
            return f"{err.strerror} ({err.filename})" if err.filename else err.strerror
    innermost = chain[-1]
    first_line = (str(innermost).strip().splitlines() or [""])[0][:300]
    return f"{type(innermost).__name__}: {first_line}" if first_line else type(innermost).__name__


class _Corrupt(Exception):
    """A checkpoint that exists but cannot be read back as written."""


def _saved_items(state: TrainState) -> dict[str, Any]:
    """The parts of the state a checkpoint holds, by item name."""
    return {
        "params": state.params,
        "opt_state": state.opt_state,
        "meta": {"step": state.step, "rng": state.rng},
    }


def _shape_problems(step_dir: epath.Path, target: TrainState) -> list[str]:
    """How the checkpoint's arrays differ in shape from ``target``'s: the parameters by path, the
    optimizer state leaf by leaf. Raises ``_Corrupt`` if the metadata cannot be read."""
    handler = ocp.PyTreeCheckpointHandler()
    try:
        saved_params = handler.metadata(step_dir / "params").tree
        saved_opt = handler.metadata(step_dir / "opt_state").tree
    except Exception as error:
        raise _Corrupt(f"its metadata is unreadable: {_cause(error)}") from error
    finally:
        handler.close()
    problems = shape_mismatches(
        traverse_util.flatten_dict(target.params, sep="/") if target.params else {},
        traverse_util.flatten_dict(saved_params, sep="/") if saved_params else {},
        prefix="params/",
    )
    model_opt = [tuple(np.shape(x)) for x in jax.tree.leaves(target.opt_state)]
    saved_opt_shapes = [tuple(x.shape) for x in jax.tree.leaves(saved_opt)]
    if model_opt != saved_opt_shapes:
        problems.append(
            f"  opt_state: {len(saved_opt_shapes)} arrays in the checkpoint vs {len(model_opt)} "
            "for this optimizer (or other shapes)"
        )
    return problems


class Checkpointer:
    """Saves and restores the :class:`TrainState` of one run."""

    def __init__(self, workdir: str, *, keep: int):
        self.directory = epath.Path(checkpoint_dir(workdir))
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, cleanup_tmp_directories=True
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=(*_ITEMS, "checksums")
        )
        self._saving: int | None = None  # The step of a save that may still be in flight.

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def moved_aside(self) -> list[str]:
        """Names of the checkpoints earlier restores found corrupt and moved aside."""
        return sorted(p.name for p in self.directory.iterdir() if CORRUPT_SUFFIX in p.name)

    def save(self, state: TrainState) -> None:
        """Save asynchronously; the caller must have checked that the state is finite.

        Raises:
          CheckpointError: this save or the previous one (still in flight) failed; the message
            names the path and the cause, and the checkpoints before it are intact.
        """
        step = int(state.step)
        items = _saved_items(state)
        sums = checksums.by_item(items)
        self.wait()  # Surfaces a failure of the previous save before starting this one.
        self._saving = step
        try:
            self._manager.save(
                step,
                args=ocp.args.Composite(
                    **{name: ocp.args.StandardSave(tree) for name, tree in items.items()},
                    checksums=ocp.args.JsonSave(sums),
                ),
                force=True,
            )
        except Exception as error:
            raise self._save_error(step, error) from error

    def _save_error(self, step: int, error: Exception) -> CheckpointError:
        self._saving = None
        previous = [s for s in self._manager.all_steps() if s < step]
        kept = (
            f"checkpoint {max(previous)} is intact" if previous else "no earlier checkpoint exists"
        )
        return CheckpointError(
            f"could not write checkpoint {step} to {self.directory / str(step)}: {_cause(error)}; "
            f"{kept}. Free space or fix the permissions there, then rerun the same command to "
            "resume."
        )

    def wait(self) -> None:
        """Wait for the save in flight. Raises ``CheckpointError`` if it failed."""
        try:
            self._manager.wait_until_finished()
        except Exception as error:
            raise self._save_error(self._saving, error) from error
        self._saving = None

    def restore(self, target: TrainState) -> TrainState:
        """The newest intact checkpoint, in the structure, shapes and shardings of ``target``.

        A checkpoint that fails to restore, or whose arrays do not match the checksums written
        with it, is reported in one line and moved aside to ``<step>.corrupt``; the next older
        one is tried.

        Raises:
          CheckpointError: no checkpoint at all, none intact, or one whose shapes do not fit
            ``target`` (a model change, not damage: nothing is moved then).
        """
        steps = sorted(self._manager.all_steps(), reverse=True)
        if not steps:
            raise CheckpointError(f"no checkpoint to resume from in {self.directory}")
        for step in steps:
            try:
                return self._restore_step(step, target)
            except _Corrupt as damage:
                moved = self._move_aside(step)
                _warn(
                    f"checkpoint {step} in {self.directory} is corrupt ({damage}); moved it "
                    f"aside to {moved} and trying the one before"
                )
        raise CheckpointError(
            f"no checkpoint in {self.directory} restores: every one was corrupt and is moved "
            f"aside ({', '.join(self.moved_aside())}). Start again in a new --workdir, or delete "
            f"{self.directory} to start over in this one."
        )

    def _restore_step(self, step: int, target: TrainState) -> TrainState:
        step_dir = self.directory / str(step)
        problems = _shape_problems(step_dir, target)
        if problems:
            raise CheckpointError(
                f"checkpoint {step} in {self.directory} does not fit the model built from this "
                f"config ({len(problems)} mismatches):\n" + "\n".join(problems) + "\nThe model "
                "code or its config changed since it was written: resume with the version that "
                "wrote it, or start a new --workdir."
            )
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _saved_items(target))
        try:
            restored = self._manager.restore(
                step,
                args=ocp.args.Composite(
                    **{name: ocp.args.StandardRestore(tree) for name, tree in abstract.items()}
                ),
            )
            expected = read_checksums(step_dir)  # None for checkpoints older than checksums.
        except Exception as error:  # Orbax and TensorStore raise many types; all mean damage.
            raise _Corrupt(_cause(error)) from error
        if expected is not None:
            actual = checksums.by_item({name: restored[name] for name in _ITEMS})
            bad = [f"{n}/{p}" for n in _ITEMS for p in checksums.differing(actual[n], expected[n])]
            if bad:
                raise _Corrupt(
                    f"{len(bad)} arrays differ from the checksums written with them, e.g. {bad[0]}"
                )
        return target.replace(
            params=restored["params"],
            opt_state=restored["opt_state"],
            step=restored["meta"]["step"],
            rng=restored["meta"]["rng"],
        )

    def _move_aside(self, step: int) -> str:
        """Rename ``<step>`` to ``<step>.corrupt`` (``.corrupt-2``, ... if taken); process 0
        renames, every process then sees the new listing."""
        name = f"{step}{CORRUPT_SUFFIX}"
        taken = set(self.moved_aside())
        for n in range(2, len(taken) + 3):
            if name not in taken:
                break
            name = f"{step}{CORRUPT_SUFFIX}-{n}"
        if parallel.is_main_process():
            (self.directory / str(step)).rename(self.directory / name)
        parallel.barrier(f"checkpoint {step} moved aside")
        self._manager.reload()
        return name

    def close(self) -> None:
        self._manager.close()
