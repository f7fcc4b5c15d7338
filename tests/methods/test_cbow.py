"""The cbow method: shapes and masks, overfitting one batch, and training end to end."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config, overfit_one_batch, run_script, train_command

from jaxpretrain.data import cbow_sampling, load_dataset
from jaxpretrain.methods import cbow


def _raw(config):
    """Chunks 0 and 1 of the train split: {"ids": int32 [2, L]}."""
    source = load_dataset(config.data).train
    return {"ids": jnp.asarray(np.stack([source[i]["ids"] for i in range(2)]))}


def _batch(config, rng=0):
    """Chunks 0 and 1 of the train split, drawn as the train step draws them."""
    return cbow.draw_batch(_raw(config), jax.random.PRNGKey(rng), model=None, config=config)


def test_model_and_sampling_come_from_the_dataset_and_need_it():
    config = load_config("fasttext_kjv")
    dataset = load_dataset(config.data)
    words = dataset.tokenizer
    model = cbow.make_model(config, dataset)
    assert model.vocab_size == len(words.vocabulary) and model.num_rows == words.subwords.num_rows
    np.testing.assert_array_equal(model.bags, words.subwords.table)
    # P: the most bag rows of any training chunk (the eval chunks are some of them).
    chunks = dataset.train
    sizes = (words.subwords.table >= 0).sum(1)  # [V]
    budget = max(
        sizes[item["ids"][item["ids"] >= 0]].sum()
        for item in map(chunks.__getitem__, range(len(chunks)))
    )
    assert model.bag_budget == budget and model.window == config.data.window
    # The batches are raw chunks; the sampling tables are the vocabulary's.
    assert cbow.preprocess(config, train=True, dataset=dataset) is None
    sampling = cbow_sampling(config.data)
    np.testing.assert_allclose(sampling.cdf[-1], 1.0)
    assert len(sampling.keep) == len(sampling.cdf) == len(words.vocabulary)
    with pytest.raises(
        ValueError, match=r"dataset=jaxpretrain\.data\.load_dataset\(config\.data\)"
    ):
        cbow.make_model(config)
    with pytest.raises(ValueError, match="need a 'words' data set"):
        cbow.make_model(config, load_dataset(load_config("supervised_digits").data))


def test_initial_loss_is_k_plus_one_log_two_and_padding_is_masked():
    config = load_config("cbow_kjv")
    model = cbow.make_model(config, load_dataset(config.data))
    batch = _batch(config)
    params = cbow.init_params(jax.random.PRNGKey(0), _raw(config), model=model, config=config)
    assert params["target"].shape == (model.vocab_size, config.model.features)
    loss_fn = jax.jit(lambda p, b: cbow.loss_fn(p, b, None, model=model, config=config))
    loss, metrics = loss_fn(params, batch)
    K = config.data.negatives
    np.testing.assert_allclose(metrics["loss_per_word"], (K + 1) * np.log(2), rtol=1e-6)
    real = int(((batch["words"] >= 0).sum()))
    assert 0 < metrics["words"] <= real
    np.testing.assert_allclose(loss, metrics["words"] * (K + 1) * np.log(2), rtol=1e-5)
    # A padding chunk (mask False) contributes nothing.
    padded = {k: jnp.concatenate([v, v[:1]]) for k, v in batch.items()}
    padded["mask"] = jnp.array([True, True, False])
    got = jax.jit(lambda p, b: cbow.eval_metrics(p, b, model=model, config=config))(params, padded)
    np.testing.assert_allclose(got["loss_per_word"], metrics["loss_per_word"], rtol=1e-6)


def test_overfits_one_batch():
    config = load_config("cbow_kjv")
    first, last = overfit_one_batch(config, steps=60, lr=0.05)
    assert last["loss_per_word"] < 0.5 * first["loss_per_word"], (first, last)


def test_sparse_row_update_equals_the_dense_sgd_step():
    """With plain SGD the step scatter-adds −lr·∂L/∂row into the rows read; it must give the
    parameters of the dense gradient's SGD step (repeated rows summed), for plain and subword
    (bag) tables alike."""
    from types import SimpleNamespace

    from jaxpretrain import parallel
    from jaxpretrain.train.experiment import build_experiment
    from jaxpretrain.train.optim import make_optimizer
    from jaxpretrain.train.step import make_train_step

    for name in ("cbow_kjv", "fasttext_kjv"):
        config = load_config(name)
        config.data.negatives_shared_by = 5
        experiment = build_experiment(config, parallel.make_mesh(jax.devices()[:1]))
        tx, schedule = make_optimizer(
            config.optimizer, batch_size=config.batch_size, total_steps=config.total_steps
        )
        # No sparse_rows: dense gradients, of the same draws.
        dense_method = SimpleNamespace(loss_fn=cbow.loss_fn, draw_batch=cbow.draw_batch)
        model = experiment.model
        sparse = jax.jit(make_train_step(cbow, model, config, tx, schedule))
        dense = jax.jit(make_train_step(dense_method, model, config, tx, schedule))
        a = b = experiment.state
        for step in range(3):
            batch = experiment.global_batch(step)
            a, metrics = sparse(a, batch)
            b, _ = dense(b, batch)
        assert "row_grad_norm" in metrics and "grad_norm" not in metrics
        for table in ("context", "target"):
            np.testing.assert_allclose(a.params[table], b.params[table], rtol=1e-5, atol=1e-7)
        assert not np.array_equal(a.params["target"], experiment.state.params["target"])


def test_training_is_deterministic_and_8_devices_match_one():
    from jaxpretrain import parallel
    from jaxpretrain.train.experiment import build_experiment

    def run(seed, devices):
        config = load_config("cbow_kjv")
        config.seed = seed
        experiment = build_experiment(config, parallel.make_mesh(devices))
        state = experiment.state
        for step in range(3):
            state, _ = experiment.step(state, experiment.global_batch(step))
        return jax.device_get(state.params)

    assert jax.device_count() == 8
    eight = jax.devices()
    first, again, other = run(0, eight), run(0, eight), run(1, eight)
    one = run(0, jax.devices()[:1])
    for name in ("context", "target"):
        np.testing.assert_array_equal(first[name], again[name])
        np.testing.assert_allclose(one[name], first[name], rtol=1e-5, atol=1e-7)
        assert not np.array_equal(first[name], other[name])


def test_smoke_trains_then_evaluates_and_exports(tmp_path):
    workdir = tmp_path / "run"
    run_script(train_command(workdir, config="cbow_kjv"), timeout=None)
    with open(workdir / "metrics.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert np.isfinite(rows[-1]["eval/loss_per_word"]), rows[-1]
    assert (workdir / "vocab.txt").exists()
    vec = tmp_path / "kjv.vec"
    (tmp_path / "pairs.tsv").write_text("god lord 9\nking queen 8\nwater bread 3\nday night 5\n")
    (tmp_path / "questions.txt").write_text(": family\nfather son mother daughter\n")
    evaluate = [  # Our own small files: gensim's sets are an optional extra.
        "evaluate.py",
        f"--workdir={workdir}",
        f"--similarity={tmp_path / 'pairs.tsv'}",
        f"--analogies={tmp_path / 'questions.txt'}",
        "--neighbours=god",
        f"--export={vec}",
        f"--json={tmp_path / 'eval.json'}",
    ]
    result = run_script(evaluate, timeout=None)
    assert "pairs.tsv: Spearman" in result.stdout and "god: " in result.stdout
    results = json.loads((tmp_path / "eval.json").read_text())
    assert results[str(tmp_path / "pairs.tsv")]["pairs"] == 4
    assert results["analogies"]["answered"] == 1
    assert vec.read_text().split("\n", 1)[0] == f"5332 {load_config('cbow_kjv').model.features}"
