"""Reading Hugging Face model directories, shared by the importers (``hf_gpt2``, ``hf_bert``).

A directory written by ``save_pretrained`` holds ``config.json`` and ``model.safetensors`` (or the
older ``pytorch_model.bin``). An importer states, for every tensor it needs, the shape it
expects and how each of our parameters is computed from it; ``convert_tensors`` checks the whole
checkpoint against that before converting anything, so one ``CheckpointError`` lists every
missing, mis-shaped, unexpected or untied tensor at once.
"""

import json
import os
from typing import Callable

import jax.numpy as jnp
import numpy as np

from jaxpretrain.errors import CheckpointError, NotFoundError

# HF name -> (expected shape, {our "a/b/c" path: HF array -> our array}).
Expected = dict[str, tuple[tuple[int, ...], dict[str, Callable[[np.ndarray], np.ndarray]]]]


def read_config(directory: str, model_name: str) -> dict:
    """The parsed ``config.json`` of a Hugging Face directory.

    Args:
      directory: the folder ``save_pretrained`` wrote.
      model_name: e.g. "GPT-2", for the messages.

    Raises:
      FileNotFoundError: the directory or its config.json is missing.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise NotFoundError(
            f"Hugging Face {model_name} directory {directory!r} does not exist; expected a folder "
            "with config.json and model.safetensors (from `save_pretrained` or the Hub)."
        )
    config_path = os.path.join(directory, "config.json")
    if not os.path.exists(config_path):
        raise NotFoundError(
            f"No config.json in {directory!r}; expected a Hugging Face {model_name} directory "
            "with config.json and model.safetensors."
        )
    with open(config_path) as f:
        return json.load(f)


def read_tensors(directory: str) -> dict[str, np.ndarray]:
    """Every tensor of ``model.safetensors``, else of ``pytorch_model.bin`` (read with
    ``weights_only=True``), as float32-or-native NumPy arrays keyed by HF name.

    Raises:
      FileNotFoundError: neither file exists (sharded checkpoints are not supported).
    """
    directory = os.fspath(directory)
    safetensors_path = os.path.join(directory, "model.safetensors")
    bin_path = os.path.join(directory, "pytorch_model.bin")
    if os.path.exists(safetensors_path):
        from safetensors.numpy import load_file

        return dict(load_file(safetensors_path))
    if os.path.exists(bin_path):
        import torch

        state = torch.load(bin_path, map_location="cpu", weights_only=True)
        return {k: v.detach().to(torch.float32).numpy() for k, v in state.items()}
    raise NotFoundError(
        f"No weights in {directory!r}: expected model.safetensors (or pytorch_model.bin) next to "
        "config.json, as written by `save_pretrained`. Sharded checkpoints are not supported."
    )


def convert_tensors(
    tensors: dict[str, np.ndarray],
    expected: Expected,
    *,
    model_name: str,
    tied: dict[str, str] | None = None,
    ignore: Callable[[str], bool] = lambda name: False,
) -> dict[str, jnp.ndarray]:
    """HF tensors -> our flat {"a/b/c": array}, after checking the whole checkpoint.

    Args:
      tensors: HF name -> array (``read_tensors``, names already normalised by the importer).
      expected: HF name -> (shape, {our path: converter}) for every tensor the model needs.
      model_name: e.g. "GPT-2", for the message.
      tied: optional HF name -> the HF name it must equal when present (a tied output head
        saved alongside the embedding it shares); such tensors are checked, not converted.
      ignore: names that are not parameters (buffers such as position_ids), skipped.

    Returns:
      The flat dict of float32 jax arrays.

    Raises:
      CheckpointError: one message listing every missing or mis-shaped expected tensor, every
        tied tensor that differs from its source, and every unexpected tensor.
    """
    tied = tied or {}
    problems = []
    for name, (shape, _) in expected.items():
        if name not in tensors:
            problems.append(f"  {name}: expected {shape}, missing in the checkpoint")
        elif tuple(tensors[name].shape) != shape:
            problems.append(
                f"  {name}: expected {shape}, checkpoint has {tuple(tensors[name].shape)}"
            )
    for name, a in tensors.items():
        if name in expected or ignore(name):
            continue
        if name in tied:
            source = tensors.get(tied[name])
            if source is None or source.shape != a.shape or not np.array_equal(source, a):
                problems.append(
                    f"  {name} {tuple(a.shape)}: differs from {tied[name]}; only tied weights "
                    "are supported"
                )
            continue
        problems.append(f"  {name}: unexpected tensor {tuple(a.shape)}")
    if problems:
        raise CheckpointError(
            f"{model_name} checkpoint does not fit the config ({len(problems)} mismatches):\n"
            + "\n".join(problems)
        )
    flat = {}
    for name, (_, targets) in expected.items():
        a = np.asarray(tensors[name], np.float32)
        for path, convert in targets.items():
            flat[path] = jnp.asarray(convert(a))
    return flat
