"""methods.bert end to end: the pretraining loss against a NumPy reference, overfitting one batch,
and BERT fine-tunes (from a bert run and from Hugging Face weights) with their split scores;
sentence embeddings against PyTorch."""

import os
import shutil

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
import torch
from conftest import load_config, overfit_one_batch
from transformers import BertConfig, BertForPreTraining

from jaxpretrain import parallel
from jaxpretrain.evaluate.embeddings import embed_sentences, load_sentence_encoder
from jaxpretrain.interop import load_hf_bert
from jaxpretrain.methods import bert
from jaxpretrain.train import train
from jaxpretrain.train.checkpoint import load_run
from jaxpretrain.train.experiment import build_experiment


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.fixture(scope="module")
def smoke_experiment():
    config = load_config("bert_kjv")
    config.data.max_predictions = 8  # More than 15% of 32 tokens: some weights are 0.
    return build_experiment(config, parallel.make_mesh())


def test_loss_is_masked_lm_plus_next_sentence_in_numpy(smoke_experiment):
    experiment = smoke_experiment
    batch = jax.device_get(experiment.global_batch(0))
    params = experiment.state.params
    loss, metrics = bert.loss_fn(
        params, batch, None, model=experiment.model, config=experiment.config
    )
    mlm, nsp = jax.device_get(
        experiment.model.apply(
            {"params": params},
            batch["tokens"],
            batch["token_types"],
            batch["valid"],
            masked_positions=batch["masked_positions"],
        )
    )
    w = batch["masked_weights"]
    assert w.sum() > 0 and (w == 0).any(), "the smoke batch should have padded predictions"
    ce = -np.take_along_axis(_log_softmax(mlm), batch["masked_ids"][..., None], -1)[..., 0]
    expected_mlm = (ce * w).sum() / (w.sum() + 1e-5)
    nsp_ce = -np.take_along_axis(_log_softmax(nsp), batch["next_sentence"][:, None], -1)[:, 0]
    np.testing.assert_allclose(metrics["mlm_loss"], expected_mlm, rtol=1e-5)
    np.testing.assert_allclose(metrics["nsp_loss"], nsp_ce.mean(), rtol=1e-5)
    np.testing.assert_allclose(loss, expected_mlm + nsp_ce.mean(), rtol=1e-5)
    hits = (mlm.argmax(-1) == batch["masked_ids"]) * w
    np.testing.assert_allclose(metrics["mlm_accuracy"], hits.sum() / w.sum(), rtol=1e-6)


def test_bert_overfits_one_batch():
    config = load_config("bert_kjv")
    config.model.dropout_rate = 0.0
    first, last = overfit_one_batch(config, steps=120, lr=3e-3)
    # A fresh model guesses: about ln V per masked token (V = 512) and ln 2 per pair.
    assert first["mlm_loss"] > 5.5 and 0.5 < first["nsp_loss"] < 0.9
    assert last["mlm_loss"] < 0.1 and last["mlm_accuracy"] == 1.0
    assert last["nsp_accuracy"] == 1.0


@pytest.fixture(scope="module")
def bert_run(tmp_path_factory):
    """A finished smoke bert_kjv run (6 steps): its workdir."""
    workdir = str(tmp_path_factory.mktemp("bert_run"))
    train(load_config("bert_kjv"), workdir)
    return workdir


def test_finetune_inherits_the_runs_encoder_and_scores_the_split(bert_run):
    config = load_config("finetune_bert_kjv", "smoke,grammar")
    config.init_from = config.data.vocab = bert_run
    experiment = build_experiment(config, parallel.make_mesh(), init_from=bert_run)
    _, run_params = load_run(bert_run, "bert", use="testing")
    jax.tree.map(
        np.testing.assert_array_equal,
        jax.device_get(experiment.state.params["backbone"]),
        jax.device_get(run_params["encoder"]),
    )
    evaluated = experiment.evaluate(experiment.state.params)
    assert set(evaluated) >= {"loss", "accuracy", "mcc"}  # The split's Matthews correlation.
    # The head starts at zero: every logit is 0, every prediction class 0, so MCC is 0.
    assert evaluated["mcc"] == 0.0 and abs(evaluated["loss"] - np.log(2)) < 1e-5


@pytest.fixture(scope="module")
def hf_bert_dir(tmp_path_factory, bert_vocab_dir):
    """A random tiny Hugging Face BertForPreTraining (V = 300, L 2, H 2, D 32) with a vocab.txt."""
    directory = str(tmp_path_factory.mktemp("hf_bert"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=64,
    )  # fmt: skip
    BertForPreTraining(config).eval().save_pretrained(directory)
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(bert_vocab_dir, name), directory)
    return directory


def test_glue_finetune_from_hugging_face_weights(hf_bert_dir):
    config = load_config("finetune_bert_glue", "smoke,stsb")
    config.init_from, config.data.vocab = f"hf:{hf_bert_dir}", hf_bert_dir
    with tfds.testing.mock_data(num_examples=32):
        experiment = build_experiment(config, parallel.make_mesh(), init_from=config.init_from)
        _, imported = load_hf_bert(hf_bert_dir)
        jax.tree.map(
            np.testing.assert_array_equal,
            jax.device_get(experiment.state.params["backbone"]),
            imported["encoder"],
        )
        state, metrics = experiment.step(experiment.state, experiment.global_batch(0))
        assert np.isfinite(metrics["loss"]) and "mse" in metrics  # STS-B is a regression.
        evaluated = experiment.evaluate(state.params)
    assert {"pearson", "spearman", "mse"} <= set(evaluated)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_sentence_embeddings_match_pytorch(hf_bert_dir, pooling):
    sentences = ["In the beginning God created the heaven and the earth.", "And God said", "Amen."]
    encoder = load_sentence_encoder(f"hf:{hf_bert_dir}")
    ours = embed_sentences(encoder, sentences, pooling=pooling, max_length=32, batch_size=2)
    reference = BertForPreTraining.from_pretrained(hf_bert_dir).eval().bert
    rows = [
        encoder.tokenizer.pack(ids, max_length=32)
        for ids in encoder.tokenizer.encode_batch(sentences)
    ]
    tokens = torch.as_tensor(np.stack([r.tokens for r in rows]), dtype=torch.long)
    valid = torch.as_tensor(np.stack([r.valid for r in rows]), dtype=torch.long)
    with torch.no_grad():
        out = reference(input_ids=tokens, attention_mask=valid)
    if pooling == "cls":
        theirs = out.pooler_output.numpy()
    else:
        weights = valid[..., None].float()
        theirs = ((out.last_hidden_state * weights).sum(1) / weights.sum(1)).numpy()
    assert ours.shape == (3, 32) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
