"""Import Hugging Face BERT weights (Devlin et al. 2019; ``BertForPreTraining``) into
``jaxpretrain.models.Bert``.

A Hugging Face BERT directory holds ``config.json`` and ``model.safetensors`` (or the older
``pytorch_model.bin``). ``torch.nn.Linear`` stores its weight as [out, in] and computes
y = x Wᵀ + b, so dense kernels are transposed. The query/key/value Linear's output unit is
h·K + k (head h, per-head unit k); our kernels are W[h, k, j]:

    W_Q[h, k, j] = query.weight[h·K + k, j]      (key, value likewise; bias[h·K + k] -> b[h, k])
    W_O[h, k, J] = output.dense.weight[J, h·K + k]

Name mapping (``bert.`` prefix optional; legacy LayerNorm ``gamma``/``beta`` read as
``weight``/``bias``):

    bert.embeddings.word_embeddings.weight [V, D]      -> encoder/word_embeddings/embedding
    bert.embeddings.position_embeddings.weight [P, D]  -> encoder/position_embeddings/embedding
    bert.embeddings.token_type_embeddings.weight [S, D]-> encoder/token_type_embeddings/embedding
    bert.embeddings.LayerNorm.*                        -> encoder/embeddings_ln/{scale,bias}
    bert.encoder.layer.{i}.attention.self.{q,k,v}.*    -> encoder/layer_{i}/attention/{q,k,v}/*
    bert.encoder.layer.{i}.attention.output.dense.*    -> encoder/layer_{i}/attention/out/*
    bert.encoder.layer.{i}.attention.output.LayerNorm.*-> encoder/layer_{i}/ln_1/*
    bert.encoder.layer.{i}.intermediate.dense.*        -> encoder/layer_{i}/mlp/fc/*
    bert.encoder.layer.{i}.output.dense.*              -> encoder/layer_{i}/mlp/proj/*
    bert.encoder.layer.{i}.output.LayerNorm.*          -> encoder/layer_{i}/ln_2/*
    bert.pooler.dense.*                                -> encoder/pooler/*
    cls.predictions.bias [V]                           -> mlm/bias
    cls.predictions.transform.dense.*                  -> mlm/transform/*
    cls.predictions.transform.LayerNorm.*              -> mlm/ln/*
    cls.seq_relationship.*                             -> nsp/*
    cls.predictions.decoder.weight, .bias (optional)   -> tied to word_embeddings and to
                                                          cls.predictions.bias: must equal them
    bert.embeddings.position_ids                       -> a buffer, ignored
"""

from typing import Any

import numpy as np
from flax import traverse_util

from jaxpretrain.errors import InputError
from jaxpretrain.interop.hf_files import convert_tensors, read_config, read_tensors
from jaxpretrain.models.bert import Bert

# HF hidden_act -> our activation name.
_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh"}
_SIZES = (
    "vocab_size",
    "max_position_embeddings",
    "type_vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
)
_IGNORED = ("bert.embeddings.position_ids",)


def bert_config_from_hf(config: dict) -> dict:
    """Maps a Hugging Face ``BertConfig`` dict (``config.json``) to ``Bert`` / ``BertEncoder``
    fields.

    Args:
      config: the parsed ``config.json``.

    Returns:
      A dict of Bert keyword arguments (vocab_size, max_length, type_vocab_size, width,
      num_layers, num_heads, mlp_width, dropout_rate, layer_norm_epsilon, activation).

    Raises:
      ValueError: one message listing every unsupported setting.
    """
    problems = []
    for key in _SIZES:
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{key} must be a positive int, got {value!r}")
    positions = config.get("position_embedding_type", "absolute")
    if positions != "absolute":
        problems.append(
            f"position_embedding_type={positions!r} (only 'absolute', learned positions, is "
            "supported)"
        )
    act = config.get("hidden_act", "gelu")
    if act not in _ACTIVATIONS:
        problems.append(
            f"hidden_act={act!r} (only 'gelu', the erf GELU, and 'gelu_new', the tanh GELU, are "
            "supported)"
        )
    for flag in ("is_decoder", "add_cross_attention"):
        if config.get(flag, False):
            problems.append(f"{flag}=true is not supported (BERT here is an encoder)")
    if not config.get("tie_word_embeddings", True):
        problems.append(
            "tie_word_embeddings=false is not supported (the masked-LM decoder is the word "
            "embedding)"
        )
    width, heads = config.get("hidden_size"), config.get("num_attention_heads")
    if isinstance(width, int) and isinstance(heads, int) and heads > 0 and width % heads:
        problems.append(f"hidden_size={width} is not divisible by num_attention_heads={heads}")
    if problems:
        raise InputError(
            "Unsupported BERT config: " + "; ".join(problems) + ". Only the original BERT "
            "architecture can be imported."
        )
    return dict(
        vocab_size=config["vocab_size"],
        max_length=config["max_position_embeddings"],
        type_vocab_size=config["type_vocab_size"],
        width=width,
        num_layers=config["num_hidden_layers"],
        num_heads=heads,
        mlp_width=config["intermediate_size"],
        dropout_rate=float(config.get("hidden_dropout_prob", 0.0)),
        layer_norm_epsilon=float(config.get("layer_norm_eps", 1e-12)),
        activation=_ACTIVATIONS[act],
    )


def _normalise(name: str) -> str:
    """Adds the ``bert.`` prefix to bare encoder names and reads legacy gamma/beta."""
    if name.startswith(("embeddings.", "encoder.", "pooler.")):
        name = "bert." + name
    if name.endswith(".gamma"):
        name = name[: -len("gamma")] + "weight"
    elif name.endswith(".beta"):
        name = name[: -len("beta")] + "bias"
    return name


def _convert(tensors: dict[str, np.ndarray], fields: dict) -> dict:
    """HF tensors -> our flat {path: array}; raises one CheckpointError listing all mismatches."""
    d, h, n = fields["width"], fields["num_heads"], fields["num_layers"]
    k, v, f = d // h, fields["vocab_size"], fields["mlp_width"]
    tensors = {_normalise(name): a for name, a in tensors.items()}
    same = lambda a: a  # noqa: E731
    transpose = lambda a: a.T  # noqa: E731  [out, in] -> our [in, out]
    expected = {}

    def linear(hf: str, ours: str, shape: tuple[int, int]):
        """A torch Linear of weight ``shape`` [out, in] as a Dense kernel [in, out] and bias."""
        expected[f"{hf}.weight"] = (shape, {f"{ours}/kernel": transpose})
        expected[f"{hf}.bias"] = ((shape[0],), {f"{ours}/bias": same})

    def norm(hf: str, ours: str):
        expected[f"{hf}.weight"] = ((d,), {f"{ours}/scale": same})
        expected[f"{hf}.bias"] = ((d,), {f"{ours}/bias": same})

    for table, rows in (("word", v), ("position", fields["max_length"])):
        expected[f"bert.embeddings.{table}_embeddings.weight"] = (
            (rows, d),
            {f"encoder/{table}_embeddings/embedding": same},
        )
    expected["bert.embeddings.token_type_embeddings.weight"] = (
        (fields["type_vocab_size"], d),
        {"encoder/token_type_embeddings/embedding": same},
    )
    norm("bert.embeddings.LayerNorm", "encoder/embeddings_ln")
    for i in range(n):
        hf, ours = f"bert.encoder.layer.{i}.", f"encoder/layer_{i}/"
        for name in ("query", "key", "value"):
            expected[f"{hf}attention.self.{name}.weight"] = (
                (d, d),
                {f"{ours}attention/{name}/kernel": lambda a: a.reshape(h, k, d)},  # [H, K, D]
            )
            expected[f"{hf}attention.self.{name}.bias"] = (
                (d,),
                {f"{ours}attention/{name}/bias": lambda a: a.reshape(h, k)},
            )
        expected[f"{hf}attention.output.dense.weight"] = (
            (d, d),
            {f"{ours}attention/out/kernel": lambda a: a.T.reshape(h, k, d)},  # [H, K, D_out]
        )
        expected[f"{hf}attention.output.dense.bias"] = ((d,), {f"{ours}attention/out/bias": same})
        norm(f"{hf}attention.output.LayerNorm", f"{ours}ln_1")
        linear(f"{hf}intermediate.dense", f"{ours}mlp/fc", (f, d))
        linear(f"{hf}output.dense", f"{ours}mlp/proj", (d, f))
        norm(f"{hf}output.LayerNorm", f"{ours}ln_2")
    linear("bert.pooler.dense", "encoder/pooler", (d, d))
    expected["cls.predictions.bias"] = ((v,), {"mlm/bias": same})
    linear("cls.predictions.transform.dense", "mlm/transform", (d, d))
    norm("cls.predictions.transform.LayerNorm", "mlm/ln")
    linear("cls.seq_relationship", "nsp", (2, d))
    return convert_tensors(
        tensors,
        expected,
        model_name="BERT",
        tied={
            "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
            "cls.predictions.decoder.bias": "cls.predictions.bias",
        },
        ignore=lambda name: name in _IGNORED,
    )


def load_hf_bert(directory: str, **overrides: Any) -> tuple[Bert, dict]:
    """Loads a Hugging Face BERT (``BertForPreTraining``) directory as a Bert module and params.

    Args:
      directory: holds ``config.json`` and ``model.safetensors`` (or ``pytorch_model.bin``),
        e.g. the output of ``BertForPreTraining.save_pretrained``.
      **overrides: Bert fields replacing the imported ones (e.g. dtype=jnp.bfloat16,
        dropout_rate=0.0).

    Returns:
      (model, params): an unbound ``Bert`` and its params as plain float32 arrays (no
      ``{"params": ...}`` wrapper): ``model.apply({"params": params}, tokens, token_types,
      valid)`` gives (mlm_logits, nsp_logits), and ``params["encoder"]`` is what a fine-tune's
      ``BertEncoder(**model.encoder_fields())`` reads.

    Raises:
      FileNotFoundError: the directory, config.json or the weights file is missing.
      ValueError: the config uses a BERT variant this model does not implement.
      CheckpointError: tensors are missing, unexpected, mis-shaped or untied (all listed in one
        error).
    """
    config = read_config(directory, "BERT")
    fields = bert_config_from_hf(config)
    flat = _convert(read_tensors(directory), fields)
    params = traverse_util.unflatten_dict(flat, sep="/")
    return Bert(**{**fields, **overrides}), params
