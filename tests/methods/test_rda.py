"""The noisy-channel RDA: its objective, the R(D) bound against the truth, bad input, a smoke
run (pictures, conditional rows, transfer), TFDS configs on mock data."""

import importlib.util
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
import tensorflow_datasets as tfds
from conftest import ROOT, load_config, overfit_one_batch
from PIL import Image

from jaxpretrain import parallel
from jaxpretrain.data import load_dataset
from jaxpretrain.methods import rda
from jaxpretrain.train.checkpoint import restore_params
from jaxpretrain.train.experiment import build_experiment
from jaxpretrain.train.metrics import read_metrics

VARIANCES = np.array([4.0, 1.0, 0.25], np.float32)  # y ~ N(0, diag): the source of the R(D) test.


def _script(name: str):
    """A module under scripts/, loaded by path (rate_distortion.py defines flags only when run)."""
    path = os.path.join(ROOT, "scripts", name)
    spec = importlib.util.spec_from_file_location(f"scripts_{name[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """scripts/rate_distortion.py's sweep on the class-conditional smoke config: λ1 = 50 with
    λ2 = 1 and λ2 = 0, 6 steps on 16x16 digits each, checkpoints 3 and 6. Returns (script
    module, workdir, results)."""
    script = _script("rate_distortion.py")
    workdir = tmp_path_factory.mktemp("rda")
    results = script.sweep(load_config("rda_conditional_digits"), str(workdir), [50.0], [1.0, 0.0])
    return script, workdir, results


@pytest.fixture(scope="module")
def conditional_run(sweep):
    """The λ2 = 1 run of the sweep: the conditional config as it is."""
    return str(sweep[1] / "l2_1" / "l1_50")


def _linear_config(distortion_weight, discrimination_weight=0.0):
    """A linear-Gaussian RDA on 3-D vectors ("signal" [B, 3]): linear encoder and decoder."""
    return ml_collections.ConfigDict(
        dict(
            model=dict(backbone="rda_dense_encoder", features=(), latent=3, min_scale=1e-3),
            rda=dict(
                distortion_weight=distortion_weight,
                discrimination_weight=discrimination_weight,
                distortion="l2",
                conditional=False,
                learned_prior=False,
                discriminator_features=(4,),
            ),
            data=dict(num_classes=0),
        )
    )


def _source(key, n):
    return {"signal": jax.random.normal(key, (n, 3)) * jnp.sqrt(VARIANCES)}


def _rate_distortion_bound(distortion: float) -> float:
    """R(D) of N(0, diag(VARIANCES)) under squared error: reverse water-filling,
    R = Σ_i ½ ln(σ_i²/D_i), D_i = min(θ, σ_i²), θ such that Σ_i D_i = D (bisection)."""
    lo, hi = 0.0, float(VARIANCES.max())
    for _ in range(60):
        theta = (lo + hi) / 2
        lo, hi = (theta, hi) if np.minimum(theta, VARIANCES).sum() < distortion else (lo, theta)
    return float(np.sum(0.5 * np.log(VARIANCES / np.minimum(lo, VARIANCES))))


def test_linear_gaussian_rda_lies_on_or_above_the_rate_distortion_bound_and_reaches_it():
    """At λ1 the optimum is θ = 1/(2λ1) (the slope of R(D) per active dimension): points on
    R(D) with D = Σ_i min(θ, σ_i²). Trained with rate + λ1·E‖y − ŷ‖² (the method's own loss),
    600 Adam steps of 512 fresh draws, all λ1 in one vmapped program; measured on 10⁵ draws."""
    model = rda.make_model(_linear_config(1.0))
    steps, weights = 600, jnp.array([0.25, 1.0, 4.0])
    tx = optax.adam(optax.cosine_decay_schedule(0.1, steps, 0.01))

    def run(weight):
        config = _linear_config(weight)  # A traced λ1: every weight in one compiled program.
        ae = rda.init_params(
            jax.random.key(0), _source(jax.random.key(1), 2), model=model, config=config
        )["autoencoder"]

        def loss(ae, key):
            data_key, noise_key = jax.random.split(key)
            params, batch = {"autoencoder": ae}, _source(data_key, 512)
            return rda.autoencoder_loss(params, batch, noise_key, model=model, config=config)

        def update(carry, key):
            ae, opt_state = carry
            grads, _ = jax.grad(loss, has_aux=True)(ae, key)
            updates, opt_state = tx.update(grads, opt_state, ae)
            return (optax.apply_updates(ae, updates), opt_state), None

        keys = jax.random.split(jax.random.key(2), steps)
        (ae, _), _ = jax.lax.scan(update, (ae, tx.init(ae)), keys)
        measure = _source(jax.random.key(3), 100_000)
        _, metrics = rda.autoencoder_loss(
            {"autoencoder": ae}, measure, jax.random.key(4), model=model, config=config
        )
        return metrics["rate"], metrics["distortion"]

    rates, distortions = jax.device_get(jax.jit(jax.vmap(run))(weights))
    for weight, rate, distortion in zip(weights, rates, distortions):
        bound = _rate_distortion_bound(distortion)
        target = np.minimum(1 / (2 * weight), VARIANCES).sum()
        assert rate >= bound - 0.01, (weight, rate, distortion, bound)  # Monte-Carlo tolerance.
        assert rate <= bound + 0.03, (weight, rate, distortion, bound)  # Reaches the curve,
        assert distortion == pytest.approx(target, rel=0.03)  # at the slope λ1 asks for.


def test_the_objective_is_rate_plus_weighted_distortion_and_discrimination():
    batch = _source(jax.random.key(0), 8)
    for weight, distortion, error in ((0.0, "l2", np.square), (2.0, "l1", np.abs)):
        config = _linear_config(3.0, weight)
        config.rda.distortion = distortion
        model = rda.make_model(config)
        params = rda.init_params(jax.random.key(1), batch, model=model, config=config)
        key = jax.random.key(2)
        loss_and_grads = jax.jit(
            jax.value_and_grad(
                lambda p: rda.autoencoder_loss(p, batch, key, model=model, config=config),
                has_aux=True,
            )
        )
        (loss, metrics), grads = loss_and_grads(params)
        expected = metrics["rate"] + 3.0 * metrics["distortion"]
        if weight:  # −ln D(ŷ) pulls the encoder; the discriminator's params get gradients.
            expected += weight * metrics["discrimination"]
            assert np.any(jax.tree.leaves(grads["discriminator"])[0])
        else:  # λ2 = 0: the discriminator is never called.
            assert "discrimination" not in metrics
            assert not any(np.any(g) for g in jax.tree.leaves(grads["discriminator"]))
        np.testing.assert_allclose(loss, expected, rtol=1e-6)
        # Distortion: Σ over the example's elements of (y − ŷ)² or |y − ŷ|, mean over the batch.
        out = model["autoencoder"].apply(
            {"params": params["autoencoder"]}, batch["signal"], None, rda._noise(key, batch, config)
        )
        total = np.sum(error(np.asarray(out.reconstruction) - np.asarray(batch["signal"])), 1)
        np.testing.assert_allclose(metrics["distortion"], total.mean(), rtol=1e-5)


def test_signals_are_pictured_as_line_plots():
    ramp = jnp.linspace(-1.0, 1.0, 32).reshape(1, 32, 1)  # [B, T, C]: one rising signal.
    image = np.asarray(rda._signal_plots(ramp, -1.0, 1.0))
    assert image.shape == (1, 32, 32, 1)
    np.testing.assert_array_equal(image[0, :, :, 0].sum(0), 1.0)  # One lit pixel per sample,
    assert image[0, 31, 0, 0] == 1.0 and image[0, 0, 31, 0] == 1.0  # low on the left.
    config = load_config("rda_mnist1d")
    config.rda.conditional = True  # Ten rows of samples, one per class.
    model = rda.make_model(config)
    batch = {"signal": jnp.zeros((2, 40, 1)), "label": jnp.array([0, 9])}
    params = jax.eval_shape(
        lambda: rda.init_params(jax.random.key(0), batch, model=model, config=config)
    )
    pictures = jax.eval_shape(lambda p: rda.pictures(p, batch, model=model, config=config), params)
    assert pictures["reconstructions"].shape == (3, 2, 32, 40, 1)
    assert pictures["samples"].shape == (10, 8, 32, 40, 1)


def test_the_dense_rda_overfits_one_batch():
    first, last = overfit_one_batch(load_config("rda_mnist1d"), steps=100)
    assert last["autoencoder/distortion"] < 0.3 * first["autoencoder/distortion"]
    assert np.isfinite(last["autoencoder/rate"]) and last["autoencoder/rate"] > 0
    assert {"discriminator/real_accuracy", "discriminator/fake_accuracy"} <= set(last)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("rda.distortion_weight", 0.0, r"distortion_weight \(λ1\) must be positive"),
        ("rda.distortion_weight", -1.0, r"distortion_weight \(λ1\) must be positive"),
        ("rda.discrimination_weight", -0.5, r"discrimination_weight \(λ2\) must be non-neg"),
        ("model.min_scale", 0.0, r"min_scale \(the σ floor\) must be positive"),
        ("rda.distortion", "l3", "use one of"),
        ("model.backbone", "conv_encoder", "is not an RDA encoder"),
    ],
)
def test_bad_settings_are_one_line_errors_before_compiling(key, value, message):
    config = load_config("rda_digits")
    block, field = key.split(".")
    config[block][field] = value
    with pytest.raises(ValueError, match=message) as error:
        rda.make_model(config)
    assert "\n" not in str(error.value)


def test_labels_outside_the_class_prior_or_missing_are_one_line_errors():
    config = load_config("rda_conditional_digits")
    config.data.num_classes = 5  # Digits have labels 0..9: the first batch holds one >= 5.
    with pytest.raises(ValueError, match="outside the prior's 5 classes") as error:
        build_experiment(config, parallel.make_mesh())
    assert "\n" not in str(error.value)
    transform = rda.preprocess(config, train=True)
    image = np.zeros((8, 8, 1), np.float32)
    with pytest.raises(ValueError, match="needs a class label"):
        transform({"image": image}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="outside the prior's 5 classes"):
        transform({"image": image, "label": np.int32(-1)}, np.random.default_rng(0))
    assert transform({"image": image, "label": np.int32(4)}, None)["image"].shape == (16, 16, 1)
    config.data.num_classes = 0
    with pytest.raises(ValueError, match="needs config.data.num_classes >= 1"):
        rda.make_model(config)


def test_the_run_logs_rate_distortion_and_accuracies_and_writes_pictures(conditional_run):
    row = read_metrics(conditional_run)[-1]
    assert row["step"] == 6
    for key in ("rate", "distortion", "mse", "real_accuracy", "fake_accuracy"):
        assert np.isfinite(row[f"eval/{key}"]), key
    assert row["eval/rate"] > 0 and 0 <= row["eval/real_accuracy"] <= 1
    pictures = sorted(os.listdir(os.path.join(conditional_run, "pictures")))
    assert pictures == ["reconstructions_0000006.png", "samples_0000006.png"]
    grid = np.asarray(Image.open(os.path.join(conditional_run, "pictures", pictures[0])))
    assert grid.shape == (3 * 18 + 2, 8 * 18 + 2, 3)  # Truth, ŷ(μ), ŷ(z) of 8 16x16 images.
    grid = np.asarray(Image.open(os.path.join(conditional_run, "pictures", pictures[1])))
    assert grid.shape == (10 * 18 + 2, 8 * 18 + 2, 3)  # One row of 8 samples per digit.


def test_the_encoder_transfers_into_the_classifier(conditional_run):
    config = load_config("finetune_rda_digits")
    config.init_from = conditional_run
    experiment = build_experiment(config, parallel.make_mesh(), init_from=conditional_run)
    params = jax.device_get(experiment.state.params)
    pretrained = restore_params(conditional_run)["autoencoder"]["encoder"]
    jax.tree.map(np.testing.assert_array_equal, params["backbone"], pretrained)
    assert not np.any(params["head"]["kernel"])  # A new, zero-initialised head on μ.


def test_the_sweep_writes_a_table_and_a_plot_with_both_discrimination_weights(sweep):
    script, workdir, results = sweep
    assert set(results) == {(1.0, 50.0), (0.0, 50.0)}
    # λ2 = 0: the discriminator trains beside the autoencoder but does not pull it.
    row = read_metrics(str(workdir / "l2_0" / "l1_50"))[-1]
    assert "autoencoder/discrimination" not in row and np.isfinite(row["discriminator/loss"])
    # λ2 = 0: the discriminator trains beside the autoencoder but does not pull it.
    row = read_metrics(str(workdir / "l2_0" / "l1_50"))[-1]
    assert "autoencoder/discrimination" not in row and np.isfinite(row["discriminator/loss"])
    for point in results.values():
        assert all(np.isfinite(point[key]) for key in script.KEYS)
    both = {**results, **{(l2, 5.0): point for (l2, _), point in results.items()}}
    lines = script.table(both).splitlines()  # A column group per λ2, a row per λ1.
    assert lines[0].count("rate") == 2 and "λ2=1 distortion" in lines[0]
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["5", "50"]
    script.plot(both, str(workdir / "rd.png"))
    assert (workdir / "rd.png").stat().st_size > 0


def test_tfds_configs_read_mock_data_and_trace():
    """MNIST (28x28x1) and CIFAR-10 (32x32x3, standardised) read from TFDS (mocked) through the
    method's transform, then init, both players' losses and the pictures traced to their shapes
    (not compiled: the sweep above compiles the same code on digits)."""
    for name, shape in (("rda_mnist", (28, 28, 1)), ("rda_cifar10", (32, 32, 3))):
        config = load_config(name)
        config.rda.conditional = True  # Labels are read and checked too.
        with tfds.testing.mock_data(num_examples=4):
            source = load_dataset(config.data).train
            transform = rda.preprocess(config, train=True)
            examples = [transform(source[i], np.random.default_rng(i)) for i in range(4)]
        batch = {k: jnp.stack([np.asarray(e[k]) for e in examples]) for k in ("image", "label")}
        assert batch["image"].shape == (4, *shape) and batch["image"].dtype == jnp.float32
        model = rda.make_model(config)
        params = jax.eval_shape(
            lambda: rda.init_params(jax.random.key(0), batch, model=model, config=config)
        )
        for fn in rda.loss_fns.values():
            loss, _ = jax.eval_shape(
                lambda p, fn=fn: fn(p, batch, jax.random.key(1), model=model, config=config),
                params,
            )
            assert loss.shape == ()
        pictures = jax.eval_shape(
            lambda p: rda.pictures(p, batch, model=model, config=config), params
        )
        assert pictures["reconstructions"].shape == (3, 4, *shape)
        assert pictures["samples"].shape == (10, 8, *shape)
