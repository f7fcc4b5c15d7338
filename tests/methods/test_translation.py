"""The translation method: the label-smoothed loss against numpy, padding, exact match, overfitting
one batch, the WMT14 config on mock data, and the reverse config end to end through the scripts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from conftest import load_config, overfit_one_batch, run_script, train_command

from jaxpretrain.data.translation import EOS_ID
from jaxpretrain.methods import translation
from jaxpretrain.train import train
from jaxpretrain.train.metrics import read_metrics

V = 13  # The reverse config's vocabulary.


@pytest.fixture(scope="module")
def setup():
    """The smoke reverse config with label smoothing, its model and params, and a batch with
    source padding, target padding and two eval padding rows."""
    config = load_config("transformer_reverse")
    config.label_smoothing = 0.1
    model = translation.make_model(config)
    rng = np.random.default_rng(0)
    source_length = np.array([11, 3, 6, 1, 8, 2])
    target_length = np.array([11, 5, 1, 4, 9, 2])
    batch = {
        "source": rng.integers(1, V, size=(6, 11)).astype(np.int32),
        "source_length": source_length.astype(np.int32),
        "target": rng.integers(1, V, size=(6, 12)).astype(np.int32),
        "target_length": target_length.astype(np.int32),
        "mask": np.array([True, True, True, True, False, False]),
    }
    batch["source"][np.arange(11) >= source_length[:, None] - 1] = EOS_ID
    batch["target"][:, 0] = EOS_ID  # BOS
    batch["target"][:, 1:][np.arange(11) >= target_length[:, None] - 1] = EOS_ID
    batch = {k: jnp.asarray(v) for k, v in batch.items()}
    params = translation.init_params(jax.random.key(0), batch, model=model, config=config)
    return config, model, params, batch


def _reference(logits, batch, epsilon):
    """Per-token smoothed loss, nll and correctness [B, T] and the real-token mask, in numpy."""
    logits = np.asarray(logits, np.float64)
    log_p = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    labels = np.asarray(batch["target"])[:, 1:]
    nll = -np.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]
    smoothed = (1 - epsilon) * nll - epsilon * log_p.mean(axis=-1)
    real = np.arange(labels.shape[1]) < np.asarray(batch["target_length"])[:, None]
    real &= np.asarray(batch["mask"])[:, None]
    return smoothed, nll, logits.argmax(-1) == labels, real


def test_loss_matches_numpy_with_label_smoothing_and_padding(setup):
    config, model, params, batch = setup
    loss, metrics = translation.loss_fn(params, batch, None, model=model, config=config)
    valid = jnp.arange(11) < batch["source_length"][:, None]
    logits = model.apply(
        {"params": params}, batch["source"], batch["target"][:, :-1], source_valid=valid
    )
    smoothed, nll, correct, real = _reference(logits, batch, 0.1)
    np.testing.assert_allclose(loss, smoothed[real].mean(), rtol=1e-5)  # Mean over real tokens.
    np.testing.assert_allclose(metrics["nll"], nll[real].mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["token_accuracy"], correct[real].mean(), rtol=1e-6)
    assert loss > metrics["nll"]  # Smoothing adds ε·(cross-entropy to uniform - nll) > 0 here.

    # Whatever the padding holds (source and target padding, padding rows), nothing changes.
    rng = np.random.default_rng(1)
    noise = {
        k: jnp.asarray(rng.integers(0, V, size=batch[k].shape), jnp.int32)
        for k in ("source", "target")
    }
    pad_source = jnp.arange(11) >= batch["source_length"][:, None]
    pad_target = jnp.arange(12) > batch["target_length"][:, None]  # Keeps BOS, labels, EOS.
    rows = ~batch["mask"][:, None]
    noisy = dict(
        batch,
        source=jnp.where(pad_source | rows, noise["source"], batch["source"]),
        target=jnp.where(pad_target | rows, noise["target"], batch["target"]),
    )
    noisy_loss, noisy_metrics = translation.loss_fn(params, noisy, None, model=model, config=config)
    np.testing.assert_allclose(noisy_loss, loss, rtol=1e-5)
    np.testing.assert_allclose(noisy_metrics["nll"], metrics["nll"], rtol=1e-5)


def test_eval_metrics_are_sentence_means_and_exact_match(setup):
    config, model, params, batch = setup
    metrics = jax.jit(lambda p, b: translation.eval_metrics(p, b, model=model, config=config))(
        params, batch
    )
    valid = jnp.arange(11) < batch["source_length"][:, None]
    logits = model.apply(
        {"params": params}, batch["source"], batch["target"][:, :-1], source_valid=valid
    )
    smoothed, nll, correct, real = _reference(logits, batch, 0.1)
    rows = np.asarray(batch["mask"])
    sentence = lambda x: np.mean([x[b][real[b]].mean() for b in np.flatnonzero(rows)])  # noqa: E731
    np.testing.assert_allclose(metrics["loss"], sentence(smoothed), rtol=1e-5)
    np.testing.assert_allclose(metrics["nll"], sentence(nll), rtol=1e-5)
    np.testing.assert_allclose(metrics["token_accuracy"], sentence(correct), rtol=1e-5)

    # exact_match compares greedy translations with the labels through the EOS, real rows only.
    predicted = np.asarray(
        translation.translate(params, batch["source"], valid, model=model, max_length=11)
    )
    labels = np.asarray(batch["target"])[:, 1:]
    exact = [np.array_equal(predicted[b][real[b]], labels[b][real[b]]) for b in range(4)]
    assert metrics["exact_match"] == pytest.approx(np.mean(exact))
    perfect = dict(batch, target=jnp.concatenate([batch["target"][:, :1], predicted], axis=1))
    perfect["target_length"] = jnp.asarray(np.sum(np.cumsum(predicted == EOS_ID, 1) == 0, 1) + 1)
    perfect["target_length"] = jnp.minimum(perfect["target_length"], 11)
    got = translation.eval_metrics(params, perfect, model=model, config=config)
    assert got["exact_match"] == 1.0  # The model's own greedy output is an exact match.


def test_dropout_uses_the_step_rng(setup):
    config, _, params, batch = setup
    config = config.copy_and_resolve_references()
    config.model.dropout_rate = 0.5
    kw = dict(model=translation.make_model(config), config=config)
    a, _ = translation.loss_fn(params, batch, jax.random.key(1), **kw)
    b, _ = translation.loss_fn(params, batch, jax.random.key(2), **kw)
    c = translation.eval_metrics(params, batch, **kw)["loss"]
    d = translation.eval_metrics(params, batch, **kw)["loss"]
    assert float(a) != float(b) and float(c) == float(d)


def test_overfits_one_batch():
    config = load_config("transformer_reverse")
    first, last = overfit_one_batch(config, steps=150, lr=3e-3)
    assert first["loss"] > 1.0
    assert last["loss"] < 0.05 and last["token_accuracy"] == 1.0, last


def test_separate_vocabularies_cannot_share_embeddings():
    config = load_config("transformer_reverse")
    config.data.shared_vocab = False
    with pytest.raises(ValueError, match="share_embeddings=False"):
        translation.make_model(config)
    config.model.share_embeddings = False
    assert translation.make_model(config).share_embeddings is False


def test_wmt14_config_trains_on_mock_data(tmp_path):
    config = load_config("transformer_wmt14")
    config.total_steps = 2  # One step, logged, evaluated and checkpointed: the whole loop.
    config.log_every = 2
    config.data.data_dir = "mock-wmt14-config"  # Its own data cache entry.
    with tfds.testing.mock_data(num_examples=32):
        train(config, str(tmp_path))
    [row] = read_metrics(str(tmp_path))
    assert row["step"] == 2 and np.isfinite(row["loss"]) and np.isfinite(row["eval/loss"])
    assert row["nll"] == pytest.approx(np.log(config.data.vocab_size), rel=0.2)
    assert (tmp_path / "tokenizer.json").is_file() and (tmp_path / "checkpoints" / "2").is_dir()


def _translate(workdir, *args):
    result = run_script(["translate.py", f"--workdir={workdir}", *args])
    return result.stdout.strip().splitlines()


@pytest.mark.slow
def test_reverse_config_reaches_99_percent_exact_match(tmp_path):
    """The full transformer_reverse config through scripts/train.py (about a minute on 2 cores),
    then scripts/translate.py: sentences on the command line, and BLEU with beam search."""
    workdir = tmp_path / "run"
    run_script(train_command(workdir, config="transformer_reverse", arg=None), timeout=600)
    final = read_metrics(str(workdir))[-1]
    assert final["step"] == 1000 and final["eval/exact_match"] >= 0.99, final

    assert _translate(workdir, "--beam_size=1", "a b c d e", "l k") == ["e d c b a", "k l"]
    [line] = _translate(workdir, "--max_examples=200")  # Beam 4, α = 0.6.
    assert line.startswith("BLEU ") and float(line.split()[1]) > 99.0, line
