"""Hugging Face BERT import: MLM and NSP logits match the PyTorch reference (no mask, padding,
token types, gathered positions, gelu_new); config and checkpoint errors list every problem."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file
from transformers import BertConfig, BertForPreTraining

from jaxpretrain.errors import CheckpointError
from jaxpretrain.interop import HF_IMPORTERS, bert_config_from_hf, load_hf_bert
from jaxpretrain.models import BertEncoder, bert, init_bert, num_params

TINY = dict(
    vocab_size=101,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=37,  # Not 4·hidden: intermediate_size maps to mlp_width.
    max_position_embeddings=64,
    type_vocab_size=2,
)


def _reference(**overrides) -> BertForPreTraining:
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(**{**TINY, **overrides})).eval()
    with torch.no_grad():  # Random non-trivial LayerNorms and biases, so every mapping counts.
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def _save(reference, directory, *, bin_file=False):
    reference.save_pretrained(directory)
    if bin_file:
        # transformers 5 always writes safetensors, so write the legacy pytorch_model.bin by
        # hand: the full state dict, tied decoder weight and bias included.
        os.remove(os.path.join(directory, "model.safetensors"))
        torch.save(reference.state_dict(), os.path.join(directory, "pytorch_model.bin"))
    return directory


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A random tiny HF BERT saved both ways: (model, {"safetensors": dir, "bin": dir})."""
    reference = _reference()
    dirs = {
        kind: _save(reference, str(tmp_path_factory.mktemp(kind)), bin_file=kind == "bin")
        for kind in ("safetensors", "bin")
    }
    return reference, dirs


def _inputs(b=3, t=12, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, TINY["vocab_size"], size=(b, t))
    token_types = (np.arange(t)[None, :] >= rng.integers(2, t - 1, size=(b, 1))).astype(np.int64)
    valid = np.arange(t)[None, :] < np.array([[t], [t - 4], [5]])[:b]
    return tokens, token_types, valid


def _torch(reference, tokens, token_types=None, valid=None):
    kwargs = {}
    if token_types is not None:
        kwargs["token_type_ids"] = torch.as_tensor(token_types)
    if valid is not None:
        kwargs["attention_mask"] = torch.as_tensor(valid.astype(np.int64))
    with torch.no_grad():
        out = reference(torch.as_tensor(tokens), **kwargs)
    return out.prediction_logits.numpy(), out.seq_relationship_logits.numpy()


def _ours(model, params, *args, **kwargs):
    return jax.jit(lambda p, *a: model.apply({"params": p}, *a, **kwargs))(params, *args)


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


@pytest.mark.parametrize("kind", ["safetensors", "bin"])
def test_logits_match_pytorch(saved, kind):
    reference, dirs = saved
    model, params = load_hf_bert(dirs[kind])
    assert (model.width, model.num_layers, model.num_heads, model.mlp_width) == (32, 2, 2, 37)
    assert all(isinstance(x, jax.Array) for x in jax.tree_util.tree_leaves(params))
    assert jax.tree.structure(params) == jax.tree.structure(init_bert(model, jax.random.key(0)))
    tokens, token_types, valid = _inputs()
    mlm, nsp = _ours(model, params, jnp.asarray(tokens))
    theirs_mlm, theirs_nsp = _torch(reference, tokens)
    diffs = _max_diff(mlm, theirs_mlm), _max_diff(nsp, theirs_nsp)
    print(f"max |diff| ({kind}, no mask): mlm {diffs[0]:.2e}, nsp {diffs[1]:.2e}")
    assert max(diffs) <= 1e-4


def test_padding_and_token_types_match_pytorch(saved):
    reference, dirs = saved
    model, params = load_hf_bert(dirs["safetensors"])
    tokens, token_types, valid = _inputs(seed=1)
    # Token types alone.
    mlm, nsp = _ours(model, params, jnp.asarray(tokens), jnp.asarray(token_types))
    theirs_mlm, theirs_nsp = _torch(reference, tokens, token_types)
    diffs = _max_diff(mlm, theirs_mlm), _max_diff(nsp, theirs_nsp)
    print(f"max |diff| (token types): mlm {diffs[0]:.2e}, nsp {diffs[1]:.2e}")
    assert max(diffs) <= 1e-4
    assert _max_diff(mlm, _ours(model, params, jnp.asarray(tokens))[0]) > 1e-3  # Types matter.
    # Padding (and token types): only real positions are compared for the MLM.
    args = jnp.asarray(tokens), jnp.asarray(token_types), jnp.asarray(valid)
    mlm, nsp = _ours(model, params, *args)
    theirs_mlm, theirs_nsp = _torch(reference, tokens, token_types, valid)
    diffs = _max_diff(mlm[valid], theirs_mlm[valid]), _max_diff(nsp, theirs_nsp)
    print(f"max |diff| (padding + token types): mlm {diffs[0]:.2e}, nsp {diffs[1]:.2e}")
    assert max(diffs) <= 1e-4


def test_masked_positions_gather_the_full_logits(saved):
    _, dirs = saved
    model, params = load_hf_bert(dirs["safetensors"])
    tokens, token_types, valid = _inputs(seed=2)
    positions = jnp.array([[1, 4, 7], [0, 2, 2], [3, 4, 1]])
    full, nsp = _ours(model, params, jnp.asarray(tokens), jnp.asarray(token_types))
    gathered, nsp2 = _ours(
        model, params, jnp.asarray(tokens), jnp.asarray(token_types), masked_positions=positions
    )
    assert gathered.shape == (3, 3, TINY["vocab_size"])
    expected = np.take_along_axis(np.asarray(full), np.asarray(positions)[:, :, None], axis=1)
    np.testing.assert_allclose(gathered, expected, atol=1e-5)
    np.testing.assert_allclose(nsp, nsp2, atol=1e-6)


def test_gelu_new_maps_and_matches(tmp_path):
    reference = _reference(hidden_act="gelu_new")
    model, params = load_hf_bert(_save(reference, str(tmp_path)))
    assert model.activation == "gelu_tanh"
    tokens, _, _ = _inputs(seed=3)
    mlm, nsp = _ours(model, params, jnp.asarray(tokens))
    theirs_mlm, theirs_nsp = _torch(reference, tokens)
    assert max(_max_diff(mlm, theirs_mlm), _max_diff(nsp, theirs_nsp)) <= 1e-4


def test_encoder_subtree_feeds_a_standalone_encoder(saved):
    reference, dirs = saved
    model, params = load_hf_bert(dirs["safetensors"])
    encoder = BertEncoder(**model.encoder_fields(), pooled=False)
    tokens, token_types, valid = _inputs(seed=4)
    h = _ours(encoder, params["encoder"], jnp.asarray(tokens), jnp.asarray(token_types))
    with torch.no_grad():
        theirs = reference.bert(
            torch.as_tensor(tokens), token_type_ids=torch.as_tensor(token_types)
        ).last_hidden_state.numpy()
    assert _max_diff(h, theirs) <= 1e-4


def test_registered_as_the_bert_importer():
    assert HF_IMPORTERS["bert"] is load_hf_bert


def test_config_mapping():
    fields = bert_config_from_hf(BertConfig(**TINY).to_dict())
    assert fields == dict(
        vocab_size=101,
        max_length=64,
        type_vocab_size=2,
        width=32,
        num_layers=2,
        num_heads=2,
        mlp_width=37,
        dropout_rate=0.1,
        layer_norm_epsilon=1e-12,
        activation="gelu",
    )


def test_unsupported_config_lists_every_problem_in_one_error():
    config = {
        **BertConfig(**TINY).to_dict(),
        "position_embedding_type": "relative_key",
        "is_decoder": True,
        "hidden_act": "relu",
    }
    with pytest.raises(ValueError) as error:
        bert_config_from_hf(config)
    message = str(error.value)
    assert "position_embedding_type='relative_key'" in message
    assert "is_decoder=true" in message and "hidden_act='relu'" in message
    config = {**TINY, "hidden_size": 33, "tie_word_embeddings": False, "vocab_size": "x"}
    with pytest.raises(ValueError) as error:
        bert_config_from_hf(config)
    message = str(error.value)
    assert "hidden_size=33 is not divisible by num_attention_heads=2" in message
    assert "tie_word_embeddings=false" in message and "vocab_size must be a positive int" in message


def _copy_with(source_dir, target, *, drop=(), add=None, rename=None):
    (target / "config.json").write_text(open(os.path.join(source_dir, "config.json")).read())
    tensors = load_file(os.path.join(source_dir, "model.safetensors"))
    tensors = {(rename or {}).get(k, k): v for k, v in tensors.items() if k not in drop}
    tensors.update(add or {})
    save_file(tensors, target / "model.safetensors")
    return str(target)


def test_checkpoint_problems_are_listed_in_one_error(saved, tmp_path):
    _, dirs = saved
    tensors = load_file(os.path.join(dirs["safetensors"], "model.safetensors"))
    directory = _copy_with(
        dirs["safetensors"],
        tmp_path,
        drop=("bert.encoder.layer.1.intermediate.dense.weight", "cls.seq_relationship.bias"),
        add={
            "bert.embeddings.position_embeddings.weight": np.zeros((32, 32), np.float32),
            "bert.encoder.layer.0.extra": np.zeros((3, 4), np.float32),
            "cls.predictions.decoder.weight": tensors["bert.embeddings.word_embeddings.weight"] + 1,
        },
    )
    with pytest.raises(CheckpointError) as error:
        load_hf_bert(directory)
    message = str(error.value)
    assert "5 mismatches" in message
    assert "layer.1.intermediate.dense.weight: expected (37, 32), missing" in message
    assert "cls.seq_relationship.bias: expected (2,), missing" in message
    assert "position_embeddings.weight: expected (64, 32), checkpoint has (32, 32)" in message
    assert "bert.encoder.layer.0.extra: unexpected tensor (3, 4)" in message
    assert "cls.predictions.decoder.weight (101, 32): differs from bert.embeddings" in message


def test_tied_decoder_buffers_legacy_names_and_bare_prefix_are_accepted(saved, tmp_path):
    reference, dirs = saved
    tensors = load_file(os.path.join(dirs["safetensors"], "model.safetensors"))
    tensors["cls.predictions.decoder.weight"] = tensors["bert.embeddings.word_embeddings.weight"]
    tensors["cls.predictions.decoder.bias"] = tensors["cls.predictions.bias"]
    tensors["bert.embeddings.position_ids"] = np.arange(64)[None]
    renamed = {}
    for k, v in tensors.items():
        k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
            "LayerNorm.bias", "LayerNorm.beta"
        )
        renamed[k.removeprefix("bert.")] = v
    save_file(renamed, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(
        open(os.path.join(dirs["safetensors"], "config.json")).read()
    )
    _, params = load_hf_bert(str(tmp_path))
    _, expected = load_hf_bert(dirs["safetensors"])
    jax.tree.map(np.testing.assert_array_equal, params, expected)


def test_missing_directory_and_files_name_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="BERT directory .* does not exist"):
        load_hf_bert(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match=f"No config.json in '{tmp_path}'"):
        load_hf_bert(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    with pytest.raises(FileNotFoundError, match="expected model.safetensors"):
        load_hf_bert(str(tmp_path))


@pytest.mark.parametrize(
    "variant, sizes", [("bert-base", (12, 12, 768)), ("bert-large", (24, 16, 1024))]
)
def test_preset_parameter_counts_equal_huggingface(variant, sizes):
    """HF's own count, built on the meta device (no memory), equals ours from jax.eval_shape;
    HF's decoder weight and bias are the word embeddings and cls.predictions.bias, counted once."""
    layers, heads, width = sizes
    config = BertConfig(
        num_hidden_layers=layers,
        num_attention_heads=heads,
        hidden_size=width,
        intermediate_size=4 * width,
    )
    with torch.device("meta"):
        reference = BertForPreTraining(config)
    theirs = sum(p.numel() for p in reference.parameters())
    assert theirs == reference.num_parameters()
    model = bert(variant)
    ours = num_params(jax.eval_shape(lambda rng: init_bert(model, rng), jax.random.key(0)))
    assert ours == theirs
