"""Hugging Face GPT-2 import: logits and greedy decoding match the PyTorch reference; errors."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file
from transformers import GPT2Config, GPT2LMHeadModel

from jaxpretrain.evaluate.generation import generate
from jaxpretrain.evaluate.sampling import Sampler
from jaxpretrain.interop import gpt2_config_from_hf, load_hf_gpt2
from jaxpretrain.models import gpt2, init_gpt, num_params
from jaxpretrain.train.checkpoint import CheckpointError

TINY = dict(n_layer=2, n_head=2, n_embd=32, n_positions=64, vocab_size=101)


def _reference(**overrides) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    # bos/eos ids inside the tiny vocabulary, to silence HF's config warning.
    config = GPT2Config(**{**TINY, "bos_token_id": 0, "eos_token_id": 0, **overrides})
    return GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A random tiny HF GPT-2 saved both ways: {"safetensors": dir, "bin": dir}, and the model."""
    reference = _reference()
    dirs = {kind: str(tmp_path_factory.mktemp(kind)) for kind in ("safetensors", "bin")}
    for directory in dirs.values():
        reference.save_pretrained(directory)
    # transformers 5 always writes safetensors (safe_serialization=False is gone), so write the
    # legacy pytorch_model.bin by hand: the full state dict, tied lm_head.weight included.
    os.remove(os.path.join(dirs["bin"], "model.safetensors"))
    torch.save(reference.state_dict(), os.path.join(dirs["bin"], "pytorch_model.bin"))
    return reference, dirs


def _tokens(b=2, t=16, seed=0):
    return np.random.default_rng(seed).integers(0, TINY["vocab_size"], size=(b, t))


def _torch_logits(reference, tokens):
    with torch.no_grad():
        return reference(torch.as_tensor(tokens)).logits.numpy()


@pytest.mark.parametrize("kind", ["safetensors", "bin"])
def test_logits_match_pytorch(saved, kind):
    reference, dirs = saved
    assert os.path.exists(
        os.path.join(
            dirs[kind], "model.safetensors" if kind == "safetensors" else "pytorch_model.bin"
        )
    )
    model, params = load_hf_gpt2(dirs[kind])
    assert (model.width, model.num_layers, model.num_heads, model.max_length) == (32, 2, 2, 64)
    assert all(isinstance(x, jax.Array) for x in jax.tree_util.tree_leaves(params))
    assert jax.tree.structure(params) == jax.tree.structure(init_gpt(model, jax.random.key(0)))
    tokens = _tokens()
    ours = jax.jit(lambda p, t: model.apply({"params": p}, t))(params, jnp.asarray(tokens))
    diff = float(np.max(np.abs(np.asarray(ours) - _torch_logits(reference, tokens))))
    print(f"max |logits diff| ({kind}) = {diff:.2e}")
    assert diff <= 1e-4


def test_greedy_continuation_matches_pytorch(saved):
    reference, dirs = saved
    model, params = load_hf_gpt2(dirs["safetensors"])
    prompt = _tokens(b=1, t=5, seed=1)
    # Ours: the jitted decoder with its key/value cache; theirs: argmax of full recomputation.
    ours, _ = generate(model, params, prompt[0], max_new_tokens=20, sampler=Sampler(temperature=0))
    theirs = prompt
    for _ in range(20):
        next_token = _torch_logits(reference, theirs)[:, -1].argmax(-1)
        theirs = np.concatenate([theirs, next_token[:, None]], axis=1)
    np.testing.assert_array_equal(ours[0], theirs[0, 5:])


def test_tied_lm_head_is_accepted_and_buffers_ignored(saved, tmp_path):
    _, dirs = saved
    tensors = load_file(os.path.join(dirs["safetensors"], "model.safetensors"))
    tensors["lm_head.weight"] = tensors["transformer.wte.weight"].copy()
    tensors["transformer.h.0.attn.bias"] = np.tril(np.ones((1, 1, 64, 64), np.float32))
    tensors["transformer.h.0.attn.masked_bias"] = np.array(-1e4, np.float32)
    # The original OpenAI-converted files have no "transformer." prefix.
    save_file(
        {k.removeprefix("transformer."): v for k, v in tensors.items()},
        tmp_path / "model.safetensors",
    )
    (tmp_path / "config.json").write_text(
        open(os.path.join(dirs["safetensors"], "config.json")).read()
    )
    _, params = load_hf_gpt2(str(tmp_path))
    np.testing.assert_array_equal(params["wte"]["embedding"], tensors["transformer.wte.weight"])


def _copy_with(source_dir, target, *, config=None, drop=(), add=None, untie=False):
    with open(os.path.join(source_dir, "config.json")) as f:
        cfg = {**json.load(f), **(config or {})}
    (target / "config.json").write_text(json.dumps(cfg))
    tensors = load_file(os.path.join(source_dir, "model.safetensors"))
    tensors = {k: v for k, v in tensors.items() if k not in drop}
    tensors.update(add or {})
    if untie:
        tensors["lm_head.weight"] = tensors["transformer.wte.weight"] + 1
    save_file(tensors, target / "model.safetensors")
    return str(target)


def test_missing_and_unexpected_tensors_listed_in_one_error(saved, tmp_path):
    _, dirs = saved
    directory = _copy_with(
        dirs["safetensors"],
        tmp_path,
        drop=("transformer.h.1.mlp.c_fc.weight", "transformer.ln_f.bias"),
        add={"transformer.h.0.attn.extra": np.zeros((3, 4), np.float32)},
        untie=True,
    )
    with pytest.raises(CheckpointError) as error:
        load_hf_gpt2(directory)
    message = str(error.value)
    assert "4 mismatches" in message
    assert "h.1.mlp.c_fc.weight: expected (32, 128), missing" in message
    assert "ln_f.bias: expected (32,), missing" in message
    assert "h.0.attn.extra: unexpected tensor (3, 4)" in message
    assert "lm_head.weight (101, 32): differs from wte.weight" in message


def test_misshaped_tensor_is_reported(saved, tmp_path):
    _, dirs = saved
    directory = _copy_with(
        dirs["safetensors"],
        tmp_path,
        add={"transformer.wpe.weight": np.zeros((32, 32), np.float32)},
    )
    with pytest.raises(
        CheckpointError, match=r"wpe.weight: expected \(64, 32\), checkpoint has \(32, 32\)"
    ):
        load_hf_gpt2(directory)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"activation_function": "relu"}, "activation_function='relu'"),
        ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx=true"),
        ({"reorder_and_upcast_attn": True}, "reorder_and_upcast_attn=true"),
        ({"add_cross_attention": True}, "add_cross_attention=true"),
        ({"n_inner": 64}, r"n_inner=64 is not supported \(only null or 4·n_embd=128\)"),
    ],
)
def test_unsupported_configs_raise_one_clear_error(saved, tmp_path, change, match):
    _, dirs = saved
    directory = _copy_with(dirs["safetensors"], tmp_path, config=change)
    with pytest.raises(ValueError, match=match):
        load_hf_gpt2(directory)


def test_all_unsupported_settings_are_listed_together():
    config = {**TINY, "activation_function": "gelu", "add_cross_attention": True, "n_inner": 7}
    with pytest.raises(ValueError) as error:
        gpt2_config_from_hf(config)
    message = str(error.value)
    assert "activation_function" in message and "add_cross_attention" in message
    assert "n_inner=7" in message


def test_missing_directory_and_files_name_the_directory(saved, tmp_path):
    with pytest.raises(
        FileNotFoundError, match="does not exist.*config.json and model.safetensors"
    ):
        load_hf_gpt2(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match=f"No config.json in '{tmp_path}'"):
        load_hf_gpt2(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    with pytest.raises(
        FileNotFoundError, match="expected model.safetensors .or pytorch_model.bin."
    ):
        load_hf_gpt2(str(tmp_path))


def test_config_mapping():
    fields = gpt2_config_from_hf(GPT2Config(**TINY).to_dict())
    assert fields == dict(
        vocab_size=101,
        max_length=64,
        width=32,
        num_layers=2,
        num_heads=2,
        dropout_rate=0.1,
        layer_norm_epsilon=1e-5,
    )


@pytest.mark.parametrize("variant", ["gpt2", "gpt2-xl"])
def test_preset_parameter_counts_equal_huggingface(variant):
    """HF's own count, built on the meta device (no memory), equals ours from jax.eval_shape."""
    sizes = {"gpt2": (12, 12, 768), "gpt2-xl": (48, 25, 1600)}[variant]
    config = GPT2Config(n_layer=sizes[0], n_head=sizes[1], n_embd=sizes[2])
    with torch.device("meta"):
        theirs = GPT2LMHeadModel(config).num_parameters()
    model = gpt2(variant)
    ours = num_params(jax.eval_shape(lambda rng: init_gpt(model, rng), jax.random.key(0)))
    assert ours == theirs
