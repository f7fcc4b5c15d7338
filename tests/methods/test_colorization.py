"""Colorization: regression and rebalanced classification, colour errors vs gray, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config
from skimage.color import lab2rgb, rgb2lab

from jaxpretrain import parallel
from jaxpretrain.data import load_dataset
from jaxpretrain.data.color import ab_bins, nearest_bin, rgb_to_lab
from jaxpretrain.data.images import make_image_transform
from jaxpretrain.methods import colorization
from jaxpretrain.train.experiment import build_experiment


def _overfit(config, steps, lr=3e-3):
    config.optimizer.update(
        base_lr=lr, lr_scaling="none", decay="constant", warmup_steps=0, weight_decay=0.0
    )
    experiment = build_experiment(config, parallel.make_mesh())
    batch = experiment.global_batch(0)
    state, first = experiment.step(experiment.state, batch)
    for _ in range(steps):
        state, last = experiment.step(state, batch)
    gray = np.sqrt(np.mean(np.asarray(batch["ab"]) ** 2))
    return jax.device_get((first, last)), gray, experiment, state


def test_regression_overfits_one_batch_well_below_the_gray_error():
    config = load_config("colorization_photos")
    config.data.image_size = 16
    (first, last), gray, _, _ = _overfit(config, 120)
    assert last["loss"] < 0.3 * first["loss"]
    assert last["ab_rmse"] < 0.6 * gray, (last["ab_rmse"], gray)


def test_rebalanced_classification_overfits_one_batch():
    config = load_config("colorization_photos")
    config.colorization.loss = "classification"
    config.data.image_size = 16  # Q = 261 logits per pixel: a smaller image keeps this quick.
    (first, last), gray, experiment, _ = _overfit(config, 60, lr=1e-2)
    # Cross-entropy against soft targets is at least their (rebalanced) entropy, the floor it
    # approaches when Ẑ = Z.
    batch = jax.device_get(experiment.global_batch(0))
    z = batch["bin_weights"]
    floor = np.mean(batch["weight"] * -np.sum(z * np.log(z), -1))
    assert floor < last["loss"] and last["loss"] - floor < 0.5 * (first["loss"] - floor)
    # Rebalancing favours rare, saturated colours, which costs RMSE (Zhang et al. Sec. 3.1), so
    # the decoded colours only have to beat gray here, not by a margin.
    assert last["ab_rmse"] < gray, (last["ab_rmse"], gray)
    assert batch["weight"].std() > 0 and np.all(batch["weight"] > 0)  # Rebalanced pixels.


def test_annealed_mean_decodes_the_mode_at_low_and_the_mean_at_unit_temperature():
    bins = ab_bins()
    z = np.random.default_rng(0).dirichlet(np.ones(len(bins)) * 0.1, size=2)  # [2, Q]
    config = load_config("colorization_photos")
    config.colorization.loss = "classification"

    class Fixed:  # A "model" whose logits are log z.
        def apply(self, variables, x):
            return jnp.log(jnp.asarray(z[None, None], jnp.float32))  # [1, 1, 2, Q]

    config.colorization.temperature = 1e-3
    _, mode = colorization.predict_ab(None, None, model=Fixed(), config=config)
    np.testing.assert_allclose(mode[0, 0], bins[np.argmax(z, -1)], atol=1e-3)
    config.colorization.temperature = 1.0
    _, mean = colorization.predict_ab(None, None, model=Fixed(), config=config)
    np.testing.assert_allclose(mean[0, 0], z @ bins, atol=1e-3)
    config.colorization.temperature = 0.38  # Zhang et al.: between the two.
    _, annealed = colorization.predict_ab(None, None, model=Fixed(), config=config)
    sharpened = z ** (1 / 0.38) / np.sum(z ** (1 / 0.38), -1, keepdims=True)
    np.testing.assert_allclose(annealed[0, 0], sharpened @ bins, atol=1e-2)


def test_jnp_lab_to_rgb_matches_scikit_image():
    rgb = np.random.default_rng(0).random((5, 9, 3))
    lab = rgb2lab(rgb)
    ours = colorization.lab_to_rgb(jnp.asarray(lab[..., :1]), jnp.asarray(lab[..., 1:]))
    np.testing.assert_allclose(ours, lab2rgb(lab), atol=2e-4)
    out_of_gamut = np.array([[[50.0, 120.0, -120.0], [5.0, -90.0, 90.0]]])
    ours = colorization.lab_to_rgb(out_of_gamut[..., :1], out_of_gamut[..., 1:])
    with pytest.warns(UserWarning, match="negative Z"):  # scikit-image clips, and so do we.
        expected = lab2rgb(out_of_gamut)
    np.testing.assert_allclose(ours, expected, atol=2e-4)


def test_eval_reports_colour_errors_of_the_model_and_of_gray():
    config = load_config("colorization_photos")
    experiment = build_experiment(config, parallel.make_mesh())
    batch = next(experiment.eval_batches())
    metrics = jax.device_get(experiment.eval_step(experiment.state.params, batch)[0])
    real = np.asarray(batch["mask"])
    ab = np.asarray(batch["ab"])[real]
    gray_rmse = np.sqrt(np.mean(ab**2, axis=(1, 2, 3))).mean()
    np.testing.assert_allclose(metrics["gray_ab_rmse"], gray_rmse, rtol=1e-4)
    lightness = 50.0 * (np.asarray(batch["lightness"])[real] + 1.0)
    truth = np.stack([lab2rgb(np.concatenate([l, a], -1)) for l, a in zip(lightness, ab)])
    grays = np.stack([lab2rgb(np.concatenate([l, 0 * a], -1)) for l, a in zip(lightness, ab)])
    psnr = 10 * np.log10(1.0 / np.mean((grays - truth) ** 2, axis=(1, 2, 3)))
    np.testing.assert_allclose(metrics["gray_psnr"], psnr.mean(), rtol=1e-3)
    for key in ("ab_rmse", "psnr", "loss"):
        assert np.isfinite(metrics[key])
    pictures = experiment.pictures(experiment.state.params)["colorization"]
    assert pictures.shape == (3, 8, 32, 32, 3) and pictures.min() >= 0 and pictures.max() <= 1
    np.testing.assert_allclose(pictures[2], truth[:8], atol=2e-3)  # Row 3: the truth.


def test_rebalancing_weights_are_zhang_et_al_of_the_training_pixels():
    """The weights preprocessing uses, bit for bit: every pixel of the central crops of up to
    prior_images training tiles, evenly spaced, binned, smoothed, mixed with uniform, inverted."""
    config = load_config("colorization_photos")
    config.colorization.loss = "classification"
    c = config.colorization
    dataset = load_dataset(config.data)
    weights = colorization.preprocess(config, train=False, dataset=dataset).keywords["weights"]
    source, transform = dataset.train, make_image_transform(config.data, train=False)
    index = np.linspace(0, len(source) - 1, min(len(source), c.prior_images)).astype(int)
    rng = np.random.default_rng(0)
    pixels = np.concatenate(
        [rgb_to_lab(transform(source[int(i)], rng)["image"])[..., 1:].reshape(-1, 2) for i in index]
    )  # [N, 2]
    bins = ab_bins()
    counts = np.bincount(nearest_bin(pixels, bins), minlength=len(bins)).astype(np.float64)
    kernel = np.exp(-np.sum((bins[:, None, :] - bins[None, :, :]) ** 2, -1) / (2.0 * c.sigma**2))
    smoothed = kernel @ (counts / counts.sum())
    smoothed /= smoothed.sum()
    expected = 1.0 / ((1.0 - c.mix) * smoothed + c.mix / len(bins))
    expected = (expected / np.sum(smoothed * expected)).astype(np.float32)
    assert weights.dtype == np.float32 and weights.shape == (len(bins),)
    np.testing.assert_array_equal(weights, expected)
    # Rebalancing needs the data set; regression and unbalanced classification do not.
    with pytest.raises(ValueError, match=r"dataset=jaxpretrain\.data\.load_dataset"):
        colorization.preprocess(config, train=True)
    c.rebalance = False
    assert colorization.preprocess(config, train=True).keywords["weights"] is None


def test_grayscale_data_is_a_one_line_error():
    config = load_config("colorization_photos")
    config.data = load_config("supervised_digits").data
    with pytest.raises(ValueError, match="'digits' is grayscale") as error:
        colorization.make_model(config)
    assert "\n" not in str(error.value)
    config = load_config("colorization_photos")
    transform = colorization.preprocess(config, train=False)
    example = {"image": np.zeros((40, 40, 1), np.uint8), "label": np.int32(0)}
    with pytest.raises(ValueError, match="grayscale image has no colour"):
        transform(example, np.random.default_rng(0))
