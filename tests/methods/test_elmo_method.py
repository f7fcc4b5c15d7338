"""methods.elmo: the biLM loss against NumPy, held-out perplexity over every prediction, the
sampled softmax, overfitting one batch; and end to end, ELMo and CBOW pretraining, the three
frozen-encoder probes of scripts/compare.py --embeddings, and contextual vectors to .npy."""

import jax
import ml_collections
import numpy as np
import pytest
from conftest import load_config, overfit_one_batch, run_script

from jaxpretrain import parallel
from jaxpretrain.errors import CheckpointError
from jaxpretrain.evaluate.contextual import contextual_vectors, load_contextual_encoder
from jaxpretrain.methods import elmo
from jaxpretrain.train.checkpoint import restore_params
from jaxpretrain.train.experiment import build_experiment


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _tiny(config):
    config.data.length = 24
    config.data.max_sentences = 64
    return config


@pytest.fixture(scope="module")
def experiment():
    return build_experiment(_tiny(load_config("elmo_kjv")), parallel.make_mesh())


def test_loss_is_half_forward_plus_backward_over_every_prediction(experiment):
    batch = jax.device_get(experiment.global_batch(0))
    params, model, config = experiment.state.params, experiment.model, experiment.config
    loss, metrics = elmo.loss_fn(params, batch, None, model=model, config=config)
    forward, backward = jax.device_get(
        model.apply({"params": params}, batch["chars"], batch["segments"])
    )
    ids, segments = batch["ids"], batch["segments"]
    f_terms, b_terms = [], []
    for b in range(len(ids)):
        for t in range(ids.shape[1] - 1):
            if segments[b, t] > 0 and segments[b, t] == segments[b, t + 1]:
                f_terms.append(-_log_softmax(forward[b, t])[ids[b, t + 1]])
                b_terms.append(-_log_softmax(backward[b, t + 1])[ids[b, t]])
    assert len(segments[0][segments[0] > 0]) > 0 and segments.max() >= 2  # Packed rows.
    np.testing.assert_allclose(metrics["forward_loss"], np.mean(f_terms), rtol=1e-5)
    np.testing.assert_allclose(metrics["backward_loss"], np.mean(b_terms), rtol=1e-5)
    np.testing.assert_allclose(loss, 0.5 * (np.mean(f_terms) + np.mean(b_terms)), rtol=1e-5)
    # Eval outputs: per-row sums and counts of exactly those predictions.
    outputs = jax.device_get(elmo.eval_outputs(params, batch, model=model, config=config))
    assert outputs["predictions"].sum() == len(f_terms)
    np.testing.assert_allclose(outputs["forward_nll"].sum(), np.sum(f_terms), rtol=1e-4)


def test_sampled_softmax_trains_and_eval_stays_on_the_full_softmax(experiment):
    batch = jax.device_get(experiment.global_batch(0))
    params, model = experiment.state.params, experiment.model
    sampled = ml_collections.ConfigDict(experiment.config.to_dict())
    sampled.sampled_softmax = 16
    sampled.model.dropout_rate = 0.0
    loss, _ = elmo.loss_fn(params, batch, jax.random.key(0), model=model, config=sampled)
    full, _ = elmo.loss_fn(params, batch, None, model=model, config=sampled)
    assert np.isfinite(loss) and loss < full  # 17 candidates are easier than V.
    assert elmo.eval_metrics(params, batch, model=model, config=sampled)["loss"] == full


def test_split_perplexity_weights_every_prediction_not_every_row():
    outputs = {
        "forward_nll": np.array([10.0, 1.0]),
        "backward_nll": np.array([12.0, 1.0]),
        "predictions": np.array([5, 1]),
    }
    scores = elmo.split_metrics(outputs, config=None)
    assert scores["forward_perplexity"] == pytest.approx(np.exp(11 / 6))
    assert scores["backward_perplexity"] == pytest.approx(np.exp(13 / 6))
    assert scores["perplexity"] == pytest.approx(np.exp(0.5 * (11 / 6 + 13 / 6)))


def test_overfits_one_batch():
    config = _tiny(load_config("elmo_kjv"))
    config.model.dropout_rate = 0.0
    config.sampled_softmax = 0  # The full softmax: the loss is the model's likelihood.
    first, last = overfit_one_batch(config, steps=120, lr=1e-2)
    assert first["loss"] > 4.0 and last["loss"] < 0.2 * first["loss"], (first, last)


def test_a_batch_of_another_shape_is_named(experiment):
    batch = jax.device_get(experiment.global_batch(0))
    with pytest.raises(ValueError, match="chars int \\[B, T, C\\]"):
        elmo.loss_fn(
            experiment.state.params,
            {**batch, "ids": batch["ids"][:, :-1]},
            None,
            model=experiment.model,
            config=experiment.config,
        )


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """scripts/compare.py --embeddings --embeddings_smoke on one task and seed: ELMo and CBOW
    pretraining (smoke), then the three probes. The runs are shared by the tests below."""
    root = tmp_path_factory.mktemp("compare_embeddings")
    result = run_script(
        [
            "compare.py",
            "--embeddings",
            "--embeddings_smoke",
            "--seeds=0",
            "--tasks=section",
            f"--workdir={root}",
        ],
        timeout=None,
    )
    return root, result.stdout


def test_compare_prints_the_three_arms_and_the_mix(compared):
    root, stdout = compared
    table = (root / "embeddings.md").read_text()
    assert table in stdout
    assert "frozen ELMo + learned mix | averaged CBOW | random biLM + mix" in table
    row = [line for line in table.splitlines() if line.startswith("| section (accuracy)")]
    assert len(row) == 1 and "(most: " in row[0]


def test_elmo_reports_held_out_perplexity_per_direction(compared):
    root, _ = compared
    rows = [r for r in _metrics(root / "elmo") if "eval/perplexity" in r]
    final = rows[-1]
    for key in ("eval/forward_perplexity", "eval/backward_perplexity", "eval/predictions"):
        assert key in final
    mean = np.exp(
        0.5 * (np.log(final["eval/forward_perplexity"]) + np.log(final["eval/backward_perplexity"]))
    )
    assert final["eval/perplexity"] == pytest.approx(mean, rel=1e-5)
    assert final["eval/perplexity"] < (8894 + 3)  # Below uniform over the vocabulary.


def test_probes_keep_the_encoders_frozen_and_learn_the_mix(compared):
    root, _ = compared
    elmo_run = restore_params(str(root / "elmo"))
    probe = restore_params(str(root / "elmo_section_seed0"))
    jax.tree.map(np.testing.assert_array_equal, probe["backbone"]["bilm"], elmo_run["bilm"])
    assert np.any(np.asarray(probe["backbone"]["mix"]["weights"]) != 0)  # s learned.
    random = restore_params(str(root / "random_bilm_section_seed0"))
    assert not np.allclose(
        random["backbone"]["bilm"]["tokens"]["projection"]["kernel"],
        elmo_run["bilm"]["tokens"]["projection"]["kernel"],
    )
    cbow_run = restore_params(str(root / "cbow"))
    cbow_probe = restore_params(str(root / "cbow_section_seed0"))
    np.testing.assert_array_equal(cbow_probe["backbone"]["cbow"]["context"], cbow_run["context"])


def test_vectors_of_sentences_with_a_word_never_seen(compared, tmp_path):
    root, _ = compared
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("In the beginning God created the heaven.\n\nThe quokka smiled.\n")
    out = tmp_path / "elmo.npy"
    run_script(
        [
            "elmo_vectors.py",
            f"--workdir={root / 'elmo'}",
            f"--input={sentences}",
            f"--output={out}",
        ],
        timeout=None,
    )
    vectors = np.load(out)
    tokens = (tmp_path / "elmo.tokens.txt").read_text().splitlines()
    assert tokens[1].split() == ["The", "quokka", "smiled", "."]
    assert vectors.shape[:3] == (2, 3, 8) and vectors.dtype == np.float32
    quokka = vectors[1, :, 1]  # Not in the vocabulary, nor in the KJV: characters give it vectors.
    assert np.all(np.isfinite(quokka)) and np.all(np.abs(quokka).sum(-1) > 0)
    np.testing.assert_array_equal(vectors[1, :, 4:], 0.0)  # Past the sentence's 4 tokens.
    # The mix of a plain ELMo run is the layers' mean; the probe's is the one it learned.
    encoder = load_contextual_encoder(str(root / "elmo"))
    mixed, _ = contextual_vectors(encoder, ["The quokka smiled."], output="mix")
    np.testing.assert_allclose(mixed[0], vectors[1, :, :4].mean(0), atol=1e-5)
    probe = load_contextual_encoder(str(root / "elmo_section_seed0"))
    assert np.any(np.asarray(probe.mix["weights"]) != 0)
    with pytest.raises(ValueError, match="sentence 0 is empty"):
        contextual_vectors(encoder, [""])


def test_a_probe_from_a_run_of_another_architecture_is_one_line(compared):
    root, _ = compared
    config = load_config("probe_kjv", "smoke,elmo,section")
    config.init_from = str(root / "cbow")  # A CBOW run where an ELMo run belongs.
    with pytest.raises(CheckpointError, match="another architecture") as info:
        build_experiment(config, parallel.make_mesh(), init_from=config.init_from)
    assert "\n" not in str(info.value)


def _metrics(workdir):
    from jaxpretrain.train.metrics import read_metrics

    return read_metrics(str(workdir))
