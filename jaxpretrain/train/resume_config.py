"""Resuming with the config a run was started with: which keys may change, and the error if not.

A run's ``<workdir>/config.json`` records its config. On resume, a key that changes the parameters
or the data stream (the model, the data, the method and its own keys, the seed, the batch size,
the optimizer's kind) would silently make a run that neither the old nor the new config
describes, or fail deep in Orbax on a shape: it is an error listing each such key, old and new
value. Keys that say how long to train, how often to log, evaluate or save, how the work is laid
out on the devices, and the optimizer's hyperparameters (lowering the lr is the fix for a diverged
run) may change; the changes are logged.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import ml_collections

from jaxpretrain import parallel
from jaxpretrain.errors import ConfigError

# Keys (or their parents) that may differ on resume. total_steps and the optimizer's
# hyperparameters change the updates from the resumed step on, as the user asks; the rest change no
# number the run computes beyond rounding (fsdp, mesh, microbatches and steps_per_dispatch lay the
# same computation out differently, model.attention computes the same heads another way, e.g.
# "cudnn" on the GPU a CPU run moves to; init_from only matters for a fresh start). The optimizer's
# `name` is the exception: another optimizer keeps another state.
SAFE_TO_CHANGE = (
    "optimizer",
    "optimizers",
    "total_steps",
    "log_every",
    "eval_every",
    "checkpoint_every",
    "keep_checkpoints",
    "init_from",
    "init_subtree",
    "fsdp",
    "mesh",
    "microbatches",
    "steps_per_dispatch",
    "model.attention",
    "data.workers",
)


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat = {}
    for key, value in tree.items():
        flat.update(_flat(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}"))
    return flat


def _safe(key: str) -> bool:
    if key.split(".")[0] in ("optimizer", "optimizers") and key.endswith(".name"):
        return False
    return any(key == safe or key.startswith(safe + ".") for safe in SAFE_TO_CHANGE)


def check_resume(saved: dict[str, Any], config: ml_collections.ConfigDict, workdir: str) -> None:
    """Compare ``config`` with the ``saved`` config.json of the run being resumed.

    Keys present in only one of them (a key added or removed by a newer jaxpretrain) are logged,
    not errors. Process 0 prints the safe changes on stderr.

    Raises:
      ConfigError: listing every key outside ``SAFE_TO_CHANGE`` whose value differs.
    """
    old = _flat(saved)
    new = _flat(json.loads(config.to_json_best_effort()))
    changed = sorted(k for k in old.keys() & new.keys() if old[k] != new[k])
    unsafe = [k for k in changed if not _safe(k)]
    if unsafe:
        lines = "\n".join(f"  {k}: {old[k]!r} -> {new[k]!r}" for k in unsafe)
        raise ConfigError(
            f"the config differs from the one {workdir} was trained with ({workdir}/config.json) "
            f"in {'1 key that changes' if len(unsafe) == 1 else f'{len(unsafe)} keys that change'} "
            f"the parameters or the data stream:\n{lines}\n"
            "Resume with the run's values (drop these overrides), or start a new --workdir. "
            f"Keys that may change on resume: {', '.join(SAFE_TO_CHANGE)} (except the "
            "optimizer's name)."
        )
    notes = [f"{k}: {old[k]!r} -> {new[k]!r}" for k in changed]
    notes += [f"{k}: {new[k]!r} (new key)" for k in sorted(new.keys() - old.keys())]
    notes += [f"{k}: no longer a key (was {old[k]!r})" for k in sorted(old.keys() - new.keys())]
    if notes and parallel.is_main_process():
        print(f"resuming with config changes: {'; '.join(notes)}", file=sys.stderr, flush=True)
