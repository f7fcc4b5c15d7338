"""Colorization as self-supervision (Larsson et al. 2016, "Learning Representations for Automatic
Colorization"; Zhang et al. 2016, "Colorful Image Colorization").

Φ* = argmin_Φ E ||y − ŷ_Φ(x)||², x the lightness L of an image and y its colour, the a and b
channels of CIE Lab (``config.colorization.loss = "regression"``, the lecture's form; targets in
units of 100 Lab).

``loss = "classification"`` is Zhang et al.'s instead: ab is quantised into the Q in-gamut bins of
a grid of size 10 (``data.color.ab_bins``); the target Z is a soft encoding (each pixel's 5 nearest
bins, Gaussian weights σ = 5, Sec. 2.1; ``data.color.soft_encode``, on the host) and the loss is the class-rebalanced cross-entropy
L = −Σ_{h,w} v(Z_hw) Σ_q Z_hwq log Ẑ_hwq (Eq. 2), v from the training set's smoothed bin
distribution (Eq. 3-4, ``batch["weight"]``). Colour is decoded by the annealed mean
H(Z) = E[f_T(Z)], f_T(z) = exp(log z / T) / Σ_q exp(log z_q / T), T = 0.38 (Eq. 5).

Evaluation reports the colour error (ab RMSE in Lab units, and PSNR of the sRGB image) of Φ and of
the trivial gray prediction ab = 0. ``pictures`` draws gray input / prediction / truth.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpretrain import losses, models
from jaxpretrain.data.color import (
    ab_bin_counts,
    ab_bins,
    rebalancing_weights,
    rgb_to_lab,
    soft_encode,
)
from jaxpretrain.data.images import make_image_transform
from jaxpretrain.errors import ConfigError
from jaxpretrain.methods.common import masked_mean, psnr, require_dataset

ENCODER = "encoder"
AB_SCALE = 100.0  # Regression targets are ab / AB_SCALE.
LOSSES = ("regression", "classification")
GRAYSCALE_DATA = ("digits", "digits_hashtags", "mnist1d")


def _check(config) -> None:
    if config.colorization.loss not in LOSSES:
        raise ConfigError(
            f"config.colorization.loss must be one of {LOSSES}, got {config.colorization.loss!r}."
        )
    if config.data.name in GRAYSCALE_DATA:
        raise ConfigError(
            f"colorization needs colour images, but data {config.data.name!r} is grayscale; use "
            "'photos' or a TFDS colour data set."
        )


def make_model(config, dataset=None) -> models.Colorizer:
    """A ``Colorizer`` with 2 outputs (regression) or one logit per ab bin (classification)."""
    del dataset
    _check(config)
    classify = config.colorization.loss == "classification"
    return models.Colorizer(
        tuple(config.model.features),
        len(ab_bins()) if classify else 2,
        config.model.num_groups,
        hidden=config.model.features[0] if classify else 0,
    )


def init_params(rng, batch, *, model, config):
    del config
    return model.init(rng, batch["lightness"])["params"]


def _to_lab(example, rng, *, image_fn, classify, weights, sigma):
    example = image_fn(example, rng)
    lab = rgb_to_lab(example["image"])  # One-line error for grayscale images.
    out = {
        "lightness": lab[..., :1] / 50.0 - 1.0,  # [H, W, 1] in [-1, 1]
        "ab": lab[..., 1:],  # [H, W, 2] in Lab units
        "label": example["label"],
    }
    if classify:
        bins, bin_weights = soft_encode(lab[..., 1:], ab_bins(), sigma=sigma)
        out["bins"], out["bin_weights"] = bins, bin_weights  # [H, W, K] each
        out["weight"] = (
            np.ones(lab.shape[:2], np.float32) if weights is None else weights[bins[..., 0]]
        )  # [H, W]: v(Z) of the pixel's nearest bin
    return out


def preprocess(config, *, train: bool, dataset=None):
    """RGB [H, W, 3] -> "lightness" [H, W, 1] (L/50 − 1) and "ab" [H, W, 2] (Lab units); for
    classification also the soft encoding ("bins" int32 [H, W, 5], "bin_weights" [H, W, 5]) and
    "weight" [H, W] (the pixel's rebalancing weight; 1 without rebalancing). Rebalancing weighs
    the bins by their counts in up to ``colorization.prior_images`` images of ``dataset.train``
    (``data.color.ab_bin_counts``), so it needs ``dataset``."""
    _check(config)
    c = config.colorization
    classify = c.loss == "classification"
    weights = None
    if classify and c.rebalance:
        dataset = require_dataset(dataset, "colorization")
        counts = ab_bin_counts(dataset, max_images=c.prior_images)  # [Q], cached in data/
        weights = rebalancing_weights(counts, ab_bins(), sigma=c.sigma, mix=c.mix)
    return functools.partial(
        _to_lab,
        image_fn=make_image_transform(config.data, train=train),
        classify=classify,
        weights=weights,
        sigma=c.sigma,
    )


def predict_ab(params, lightness, *, model, config) -> tuple[jax.Array, jax.Array]:
    """(network output, ab [B, H, W, 2] in Lab units; the annealed mean for classification)."""
    out = model.apply({"params": params}, lightness)
    if config.colorization.loss == "regression":
        return out, AB_SCALE * out
    annealed = jax.nn.softmax(out / config.colorization.temperature, axis=-1)  # f_T(softmax)
    return out, annealed @ jnp.asarray(ab_bins())


def _ab_rmse(ab, truth):
    """Root mean squared ab error of each image [B], in Lab units."""
    return jnp.sqrt(jnp.mean((ab - truth) ** 2, axis=(1, 2, 3)))


def _loss_and_ab(params, batch, *, model, config):
    """(mean loss over the real rows, predicted ab [B, H, W, 2])."""
    where = batch.get("mask")
    out, ab = predict_ab(params, batch["lightness"], model=model, config=config)
    if config.colorization.loss == "regression":
        per_example = losses.masked_l2(out, batch["ab"] / AB_SCALE, where=where)
    else:
        # −Σ_q Z_q log Ẑ_q with Z zero outside the K soft-encoded bins: gather those K, not Q.
        log_probs = jax.nn.log_softmax(out.astype(jnp.float32), axis=-1)  # [B, H, W, Q]
        picked = jnp.take_along_axis(log_probs, batch["bins"], axis=-1)  # [B, H, W, K]
        cross_entropy = -jnp.sum(batch["bin_weights"] * picked, axis=-1)  # [B, H, W]
        per_example = jnp.mean(batch["weight"] * cross_entropy, axis=(1, 2))
        per_example = per_example if where is None else jnp.where(where, per_example, 0.0)
    return masked_mean(per_example, where), ab


def loss_fn(params, batch, rng, *, model, config):
    """Per-example L2 on ab/100 (regression) or rebalanced soft cross-entropy, mean over rows."""
    del rng
    loss, ab = _loss_and_ab(params, batch, model=model, config=config)
    return loss, {"ab_rmse": masked_mean(_ab_rmse(ab, batch["ab"]), batch.get("mask"))}


def lab_to_rgb(lightness: jax.Array, ab: jax.Array) -> jax.Array:
    """CIE Lab (D65) -> sRGB in jnp, as scikit-image's lab2rgb: L [..., 1] in [0, 100] and ab
    [..., 2] -> [..., 3] in [0, 1] (clipped)."""
    fy = (lightness[..., 0] + 16.0) / 116.0
    fz = jnp.maximum(fy - ab[..., 1] / 200.0, 0.0)  # scikit-image clips a negative f(Z) to 0.
    f = jnp.stack([fy + ab[..., 0] / 500.0, fy, fz], axis=-1)
    delta = 6.0 / 29.0
    xyz = jnp.where(f > delta, f**3, 3 * delta**2 * (f - 4.0 / 29.0))
    xyz = xyz * jnp.array([0.95047, 1.0, 1.08883])  # D65 white point
    rgb_from_xyz = jnp.array(
        [
            [3.24048134, -1.53715152, -0.49853633],
            [-0.96925495, 1.87599, 0.04155593],
            [0.05564664, -0.20404134, 1.05731107],
        ]
    )
    linear = xyz @ rgb_from_xyz.T
    gamma = 1.055 * jnp.power(jnp.maximum(linear, 0.0031308), 1.0 / 2.4) - 0.055
    return jnp.clip(jnp.where(linear > 0.0031308, gamma, 12.92 * linear), 0.0, 1.0)


def _rgb(batch, ab):
    return lab_to_rgb(50.0 * (batch["lightness"] + 1.0), ab)


def _psnr(rgb, truth):
    return psnr(jnp.mean((rgb - truth) ** 2, axis=(1, 2, 3)))


def eval_metrics(params, batch, *, model, config):
    """ab RMSE (Lab units) and sRGB PSNR (dB) of Φ and of the gray prediction ab = 0."""
    where = batch.get("mask")
    loss, ab = _loss_and_ab(params, batch, model=model, config=config)
    truth = _rgb(batch, batch["ab"])
    gray = jnp.zeros_like(ab)
    return {
        "loss": loss,
        "ab_rmse": masked_mean(_ab_rmse(ab, batch["ab"]), where),
        "gray_ab_rmse": masked_mean(_ab_rmse(gray, batch["ab"]), where),
        "psnr": masked_mean(_psnr(_rgb(batch, ab), truth), where),
        "gray_psnr": masked_mean(_psnr(_rgb(batch, gray), truth), where),
    }


def pictures(params, batch, *, model, config):
    """``{"colorization": [3, B, H, W, 3]}`` in [0, 1]: gray input, prediction, truth."""
    _, ab = predict_ab(params, batch["lightness"], model=model, config=config)
    gray = _rgb(batch, jnp.zeros_like(ab))
    return {"colorization": jnp.stack([gray, _rgb(batch, ab), _rgb(batch, batch["ab"])])}
