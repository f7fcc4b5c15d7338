"""Import Hugging Face GPT-2 weights (Radford et al. 2019) into ``jaxpretrain.models.GPT``.

A Hugging Face GPT-2 directory holds ``config.json`` and ``model.safetensors`` (or the older
``pytorch_model.bin``). HF's ``Conv1D`` stores weights as [in, out] and computes y = x W + b, so
the MLP kernels copy over unchanged. The fused attention input projection ``c_attn`` [D, 3D]
holds W_Q | W_K | W_V side by side, each [D, H·K] with column h·K + k; our kernels are W[h, k, j]:

    W_Q[h, k, j] = c_attn[j, 0·D + h·K + k]     (W_K at offset D, W_V at 2D; biases likewise)
    W_O[h, k, J] = c_proj[h·K + k, J]           (the heads' concatenation is row h·K + k)

Name mapping (``transformer.`` prefix optional, as in the original OpenAI-converted files):

    wte.weight [V, D]             -> wte/embedding
    wpe.weight [P, D]             -> wpe/embedding
    h.{i}.ln_{1,2}.{weight,bias}  -> h_{i}/ln_{1,2}/{scale,bias}
    h.{i}.attn.c_attn.*           -> h_{i}/attn/{query,key,value}/*
    h.{i}.attn.c_proj.*           -> h_{i}/attn/out/*
    h.{i}.mlp.c_fc.*, c_proj.*    -> h_{i}/mlp/fc/*, h_{i}/mlp/proj/*
    ln_f.{weight,bias}            -> ln_f/{scale,bias}
    lm_head.weight (optional)     -> tied to wte, must equal it
    h.{i}.attn.bias, masked_bias  -> buffers (causal mask constants), ignored
"""

from typing import Any

import numpy as np
from flax import traverse_util

from jaxpretrain.errors import InputError
from jaxpretrain.interop.hf_files import convert_tensors, read_config, read_tensors
from jaxpretrain.models.gpt import GPT

_SUPPORTED_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh")
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")


def gpt2_config_from_hf(config: dict) -> dict:
    """Maps a Hugging Face ``GPT2Config`` dict (``config.json``) to ``GPT`` fields.

    Args:
      config: the parsed ``config.json``.

    Returns:
      A dict of GPT keyword arguments (vocab_size, max_length, width, num_layers, num_heads,
      dropout_rate, layer_norm_epsilon).

    Raises:
      ValueError: one message listing every unsupported setting.
    """
    problems = []
    for key in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
        if not isinstance(config.get(key), int):
            problems.append(f"{key} must be an int, got {config.get(key)!r}")
    activation = config.get("activation_function", "gelu_new")
    if activation not in _SUPPORTED_ACTIVATIONS:
        problems.append(
            f"activation_function={activation!r} (only {' / '.join(_SUPPORTED_ACTIVATIONS)}, "
            "the tanh GELU, is supported)"
        )
    for flag in (
        "scale_attn_by_inverse_layer_idx",
        "reorder_and_upcast_attn",
        "add_cross_attention",
    ):
        if config.get(flag, False):
            problems.append(f"{flag}=true is not supported")
    if not config.get("scale_attn_weights", True):
        problems.append("scale_attn_weights=false is not supported (attention scales by 1/√K)")
    width, heads = config.get("n_embd"), config.get("n_head")
    n_inner = config.get("n_inner")
    if n_inner is not None and isinstance(width, int) and n_inner != 4 * width:
        problems.append(f"n_inner={n_inner} is not supported (only null or 4·n_embd={4 * width})")
    if isinstance(width, int) and isinstance(heads, int) and heads > 0 and width % heads:
        problems.append(f"n_embd={width} is not divisible by n_head={heads}")
    if problems:
        raise InputError(
            "Unsupported GPT-2 config: " + "; ".join(problems) + ". Only the original GPT-2 "
            "architecture can be imported."
        )
    return dict(
        vocab_size=config["vocab_size"],
        max_length=config["n_positions"],
        width=width,
        num_layers=config["n_layer"],
        num_heads=heads,
        dropout_rate=float(config.get("resid_pdrop", 0.0)),
        layer_norm_epsilon=float(config.get("layer_norm_epsilon", 1e-5)),
    )


def _convert(tensors: dict[str, np.ndarray], fields: dict) -> dict:
    """HF tensors -> our flat {path: array}; raises one CheckpointError listing all mismatches."""
    d, h, n = fields["width"], fields["num_heads"], fields["num_layers"]
    k, v, p = d // h, fields["vocab_size"], fields["max_length"]
    tensors = {
        (name[len("transformer.") :] if name.startswith("transformer.") else name): a
        for name, a in tensors.items()
    }
    # HF name -> (expected shape, our path(s), converter to our layout).
    expected = {
        "wte.weight": ((v, d), {"wte/embedding": lambda a: a}),
        "wpe.weight": ((p, d), {"wpe/embedding": lambda a: a}),
        "ln_f.weight": ((d,), {"ln_f/scale": lambda a: a}),
        "ln_f.bias": ((d,), {"ln_f/bias": lambda a: a}),
    }

    def to_hkd(a):  # [D, H·K] -> W[h, k, j] [H, K, D]
        return a.reshape(d, h, k).transpose(1, 2, 0)

    for i in range(n):
        hf, ours = f"h.{i}.", f"h_{i}/"
        for ln in ("ln_1", "ln_2"):
            expected[f"{hf}{ln}.weight"] = ((d,), {f"{ours}{ln}/scale": lambda a: a})
            expected[f"{hf}{ln}.bias"] = ((d,), {f"{ours}{ln}/bias": lambda a: a})
        qkv = ("query", "key", "value")
        expected[f"{hf}attn.c_attn.weight"] = (
            (d, 3 * d),
            {
                f"{ours}attn/{name}/kernel": (lambda a, j=j: to_hkd(a[:, j * d : (j + 1) * d]))
                for j, name in enumerate(qkv)
            },
        )
        expected[f"{hf}attn.c_attn.bias"] = (
            (3 * d,),
            {
                f"{ours}attn/{name}/bias": (lambda a, j=j: a[j * d : (j + 1) * d].reshape(h, k))
                for j, name in enumerate(qkv)
            },
        )
        expected[f"{hf}attn.c_proj.weight"] = (
            (d, d),
            {f"{ours}attn/out/kernel": lambda a: a.reshape(h, k, d)},  # [H·K, D] -> [H, K, D]
        )
        expected[f"{hf}attn.c_proj.bias"] = ((d,), {f"{ours}attn/out/bias": lambda a: a})
        expected[f"{hf}mlp.c_fc.weight"] = ((d, 4 * d), {f"{ours}mlp/fc/kernel": lambda a: a})
        expected[f"{hf}mlp.c_fc.bias"] = ((4 * d,), {f"{ours}mlp/fc/bias": lambda a: a})
        expected[f"{hf}mlp.c_proj.weight"] = ((4 * d, d), {f"{ours}mlp/proj/kernel": lambda a: a})
        expected[f"{hf}mlp.c_proj.bias"] = ((d,), {f"{ours}mlp/proj/bias": lambda a: a})

    return convert_tensors(
        tensors,
        expected,
        model_name="GPT-2",
        tied={"lm_head.weight": "wte.weight"},
        ignore=lambda name: name.endswith(_IGNORED_SUFFIXES),
    )


def load_hf_gpt2(directory: str, **overrides: Any) -> tuple[GPT, dict]:
    """Loads a Hugging Face GPT-2 directory as a GPT module and its params.

    Args:
      directory: holds ``config.json`` and ``model.safetensors`` (or ``pytorch_model.bin``),
        e.g. the output of ``GPT2LMHeadModel.save_pretrained``.
      **overrides: GPT fields replacing the imported ones (e.g. dtype=jnp.bfloat16).

    Returns:
      (model, params): an unbound ``GPT`` and its params as plain float32 arrays (no
      ``{"params": ...}`` wrapper), so ``model.apply({"params": params}, tokens)`` gives logits.

    Raises:
      FileNotFoundError: the directory, config.json or the weights file is missing.
      ValueError: the config uses a GPT-2 variant this model does not implement.
      CheckpointError: tensors are missing, unexpected or mis-shaped (all listed in one error).
    """
    config = read_config(directory, "GPT-2")
    fields = gpt2_config_from_hf(config)
    flat = _convert(read_tensors(directory), fields)
    params = traverse_util.unflatten_dict(flat, sep="/")
    return GPT(**{**fields, **overrides}), params
