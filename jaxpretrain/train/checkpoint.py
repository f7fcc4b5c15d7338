"""Reading checkpoints: a run's parameters, its config, and a pretrained subtree for a fine-tune.

Layout of a run: ``<workdir>/config.json`` and ``<workdir>/checkpoints/<step>/{params, opt_state,
meta, checksums}``, written by ``train.checkpointer.Checkpointer``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Sequence

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from flax import traverse_util

from jaxpretrain.errors import CheckpointError, ConfigError, NotFoundError
from jaxpretrain.train import checksums

CONFIG_FILE = "config.json"


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "checkpoints")


def _find_step_dir(path: str) -> epath.Path:
    """Accept a workdir, its ``checkpoints/`` directory, or one step directory."""
    root = epath.Path(os.path.abspath(path))  # Orbax reads no metadata through relative paths.
    if not root.exists():
        raise CheckpointError(
            f"init_from={path!r} does not exist; point it at a pretraining workdir"
        )
    if (root / "params").exists():
        return root
    if (root / "checkpoints").exists():
        root = root / "checkpoints"
    steps = sorted(
        (int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / "params").exists()),
    )
    if not steps:
        raise CheckpointError(
            f"no finished checkpoint under {path!r}: expected <workdir>/checkpoints/<step>/params; "
            "did the pretraining run write one (config.checkpoint_every, or run to the end)?"
        )
    return root / str(steps[-1])


def restore_params(path: str) -> dict[str, Any]:
    """The parameters of the latest checkpoint at ``path``, as host numpy arrays."""
    step_dir = _find_step_dir(path)
    # The item handler reads the params directory alone (a Checkpointer would also look for
    # step-level metadata there and warn), and restores host arrays whatever the saved topology.
    handler = ocp.PyTreeCheckpointHandler()
    try:
        metadata = handler.metadata(step_dir / "params")
        restore_args = jax.tree.map(
            lambda _: ocp.RestoreArgs(restore_type=np.ndarray), metadata.tree
        )
        params = handler.restore(
            step_dir / "params", args=ocp.args.PyTreeRestore(restore_args=restore_args)
        )
        expected = read_checksums(step_dir)
    except Exception as error:
        raise CheckpointError(f"checkpoint {step_dir} is unreadable or corrupt: {error}") from error
    finally:
        handler.close()
    bad = [] if expected is None else checksums.mismatches(params, expected["params"])
    if bad:
        raise CheckpointError(
            f"checkpoint {step_dir} is corrupt: {len(bad)} parameters differ from the checksums "
            f"written with them, e.g. params/{bad[0]}; use an earlier step's directory"
        )
    return params


def read_checksums(step_dir: epath.Path) -> dict[str, dict[str, int]] | None:
    """``{item: {leaf path: checksum}}`` saved with a checkpoint; None for older checkpoints."""
    if not (step_dir / "checksums").exists():
        return None
    handler = ocp.JsonCheckpointHandler()
    try:
        return handler.restore(step_dir / "checksums")
    finally:
        handler.close()


def source_config(path: str) -> dict[str, Any] | None:
    """The config.json the pretraining run wrote into its workdir, if ``path`` is a workdir."""
    config_file = epath.Path(path) / CONFIG_FILE
    return json.loads(config_file.read_text()) if config_file.exists() else None


def load_run(workdir: str, method: str, *, use: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, params) of a finished ``method`` run: its config.json and latest checkpoint.

    Args:
      workdir: the run's workdir.
      method: the method the run must have trained.
      use: what the run is loaded for, e.g. "sampling", named in the error for another method.

    Raises:
      NotFoundError: ``workdir`` holds no config.json.
      ConfigError: the run trained another method.
      CheckpointError: no readable checkpoint.
    """
    config = source_config(workdir)
    if config is None:
        raise NotFoundError(f"{workdir!r} holds no config.json: give a {method} training workdir.")
    if config.get("method") != method:
        raise ConfigError(
            f"{workdir!r} was trained with method {config.get('method')!r}; {use} needs a "
            f"{method} run."
        )
    return config, restore_params(workdir)


def _subtree(tree: Any, path: str, where: str) -> Any:
    for key in path.split("/") if path else ():
        if not isinstance(tree, dict) or key not in tree:
            keys = sorted(tree) if isinstance(tree, dict) else type(tree).__name__
            raise CheckpointError(f"{where} has no subtree {path!r} (top-level keys: {keys})")
        tree = tree[key]
    return tree


def load_pretrained(
    init_params: Any,
    path: str,
    *,
    subtree: str = "backbone",
    source_subtree: str | None = None,
    dont_load: Sequence[str] = (),
) -> Any:
    """Fine-tune parameters: ``init_params`` with ``subtree`` replaced by the checkpoint's.

    Args:
      init_params: the freshly initialised parameters of the fine-tune model.
      path: a pretraining workdir, its ``checkpoints/`` directory, or one step directory.
      subtree: '/'-separated path of the inherited subtree in ``init_params`` ("" = everything).
      source_subtree: its path in the checkpoint (default: the same as ``subtree``).
      dont_load: '/'-separated parameter paths (relative to ``subtree``) kept from
        ``init_params``, e.g. a head whose size changed.

    Returns:
      A tree of the structure of ``init_params``; inherited leaves are host numpy arrays.

    Raises:
      CheckpointError: listing *every* parameter path that is missing, unexpected or mis-shaped.
    """
    return merge_pretrained(
        init_params,
        restore_params(path),
        subtree=subtree,
        source_subtree=source_subtree,
        dont_load=dont_load,
        source_name=f"checkpoint {path!r}",
    )


def shape_mismatches(
    model: dict[str, Any],
    checkpoint: dict[str, Any],
    *,
    prefix: str = "",
    skip: Callable[[str], bool] = lambda key: False,
) -> list[str]:
    """One line per parameter path missing on either side or shaped differently.

    Args:
      model, checkpoint: flat ``{"a/b/kernel": array-like with .shape}`` trees.
      prefix: prepended to each path in the lines.
      skip: paths not compared (e.g. ``dont_load``).
    """
    problems = []
    for key, value in model.items():
        if skip(key):
            continue
        if key not in checkpoint:
            problems.append(
                f"  {prefix}{key}: in the model {tuple(value.shape)}, missing in the checkpoint"
            )
        elif tuple(checkpoint[key].shape) != tuple(value.shape):
            problems.append(
                f"  {prefix}{key}: model {tuple(value.shape)} vs checkpoint "
                f"{tuple(checkpoint[key].shape)}"
            )
    for key, value in checkpoint.items():
        if key not in model and not skip(key):
            problems.append(
                f"  {prefix}{key}: in the checkpoint {tuple(value.shape)}, not in the model"
            )
    return problems


def merge_pretrained(
    init_params: Any,
    source_params: Any,
    *,
    subtree: str = "backbone",
    source_subtree: str | None = None,
    dont_load: Sequence[str] = (),
    source_name: str = "the pretrained parameters",
) -> Any:
    """``load_pretrained`` for parameters already in memory (e.g. imported Hugging Face weights).

    Args: as ``load_pretrained``, with ``source_params`` (a params tree) in place of a path and
    ``source_name`` naming it in errors.
    """
    source = _subtree(
        source_params,
        subtree if source_subtree is None else source_subtree,
        source_name,
    )
    target = _subtree(init_params, subtree, "the model")
    flat_source = traverse_util.flatten_dict(source, sep="/")
    flat_target = traverse_util.flatten_dict(target, sep="/")
    prefix = f"{subtree}/" if subtree else ""

    def kept(key: str) -> bool:  # Listed in dont_load, as a whole path or a parent of one.
        return any(key == p or key.startswith(p.rstrip("/") + "/") for p in dont_load)

    if flat_source and not set(flat_source) & set(flat_target):
        raise CheckpointError(
            f"{source_name} is another architecture: none of its {len(flat_source)} parameters"
            f" (e.g. {next(iter(flat_source))!r}) is one of the model's {prefix or 'parameters'}"
            f" (e.g. {prefix}{next(iter(flat_target))!r}); init_from must name a run whose"
            " model the config's model block describes."
        )
    problems = shape_mismatches(flat_target, flat_source, prefix=prefix, skip=kept)
    if problems:
        raise CheckpointError(
            f"{source_name} does not fit the model ({len(problems)} mismatches):\n"
            + "\n".join(problems)
            + "\nUse the pretraining run's model config, or list changed parameters in dont_load."
        )
    merged = {
        key: value if kept(key) else np.asarray(flat_source[key]).astype(value.dtype)
        for key, value in flat_target.items()
    }
    merged = traverse_util.unflatten_dict(merged, sep="/")
    if not subtree:
        return merged
    result = jax.tree.map(lambda x: x, init_params)  # Copy the containers, share the leaves.
    parent = _subtree(result, "/".join(subtree.split("/")[:-1]), "the model")
    parent[subtree.split("/")[-1]] = merged
    return result
