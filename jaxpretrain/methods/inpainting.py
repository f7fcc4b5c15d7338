"""Context-encoder inpainting with an adversarial loss (Pathak et al. 2016, "Context Encoders:
Feature Learning by Inpainting", Eqs. 1-3).

The generator F fills the region M̂ (1 = missing) of x from its context (1 − M̂) ⊙ x, and is trained
on L = λ_rec L_rec + λ_adv L_adv (Eq. 3), λ_rec = 0.999 and λ_adv = 0.001 by default:
- L_rec = ||M̂ ⊙ (x − F((1 − M̂) ⊙ x))||² (Eq. 1), ``losses.masked_l2`` over the missing pixels;
  with ``config.mask.overlap = k`` a band of k context pixels around the hole is also predicted,
  with weight ``config.mask.overlap_weight`` (the paper: 7 pixels, weight 10), for seamless edges;
- L_adv = −log D(ŷ) (Eq. 2, the generator's non-saturating side, ``losses.gan_generator``), where
  ŷ = (1 − M̂) ⊙ x + M̂ ⊙ F(·) is the image with the filled region pasted into its context.
The discriminator D minimises −log D(x) − log(1 − D(ŷ)) (``losses.gan_discriminator``).

Two players, ``loss_fns = {"discriminator": ..., "generator": ...}``: the one train step updates
D first, then F against the updated D (Goodfellow et al. 2014, Algorithm 1 with k = 1), each with
its own optimizer (``config.optimizers.<player>``). Masks (``data.masks``: the paper's central
square, random blocks, random regions) are drawn on the host per example as ``batch["hole"]``
(float32 [B, H, W, 1]). A downstream classifier inherits the generator's encoder (``ENCODER``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxpretrain import losses, models
from jaxpretrain.data.images import make_image_transform
from jaxpretrain.data.masks import make_mask
from jaxpretrain.errors import ConfigError
from jaxpretrain.methods.common import masked_mean, psnr

ENCODER = "generator/encoder"


def make_model(config, dataset=None) -> dict:
    """``{"generator": ContextEncoder, "discriminator": Discriminator}`` from ``config.model``."""
    del dataset
    size, mask = int(config.data.get("image_size") or 0), config.mask
    if size and mask.size > size:
        raise ConfigError(
            f"config.mask.size={mask.size} is larger than the {size}x{size} images; use a mask "
            f"size of at most {size}."
        )
    m = config.model
    return {
        "generator": models.ContextEncoder(tuple(m.features), m.channels, m.num_groups),
        "discriminator": models.Discriminator(tuple(m.discriminator_features), m.num_groups),
    }


def init_params(rng, batch, *, model, config):
    del config
    g_rng, d_rng = jax.random.split(rng)
    image = batch["image"]
    return {
        "generator": model["generator"].init(g_rng, image)["params"],
        "discriminator": model["discriminator"].init(d_rng, image)["params"],
    }


def _add_hole(example, rng, *, image_fn, mask):
    example = image_fn(example, rng)
    h, w = example["image"].shape[:2]
    hole = make_mask(mask.kind, h, w, rng, size=mask.size, coverage=mask.coverage)
    return {**example, "hole": hole[:, :, None]}


def preprocess(config, *, train: bool, dataset=None):
    """The data's image transform, plus ``"hole"``: float32 [H, W, 1], 1 = pixel to fill."""
    del dataset
    mask = config.mask
    return functools.partial(
        _add_hole, image_fn=make_image_transform(config.data, train=train), mask=mask
    )


def _fill(params, batch, model):
    """(prediction F((1−M̂)⊙x), filled ŷ = (1−M̂)⊙x + M̂⊙F(·)), both [B, H, W, C]."""
    image, hole = batch["image"], batch["hole"]
    context = image * (1.0 - hole)
    prediction = model["generator"].apply({"params": params["generator"]}, context)
    return prediction, context + hole * prediction


def reconstruction_weights(hole: jax.Array, *, overlap: int, overlap_weight: float) -> jax.Array:
    """Per-pixel weights of L_rec: 1 on the hole, ``overlap_weight`` on the ``overlap``-pixel band
    of context around it (a (2k+1)x(2k+1) dilation), 0 elsewhere. [B, H, W, 1] -> [B, H, W, 1]."""
    if not overlap:
        return hole
    window = (1, 2 * overlap + 1, 2 * overlap + 1, 1)
    dilated = jax.lax.reduce_window(hole, -jnp.inf, jax.lax.max, window, (1, 1, 1, 1), "SAME")
    return hole + overlap_weight * (dilated - hole)


def generator_loss(params, batch, rng, *, model, config):
    """λ_rec · L_rec + λ_adv · L_adv of the generator, mean over the real rows."""
    del rng
    where = batch.get("mask")
    prediction, filled = _fill(params, batch, model)
    weights = reconstruction_weights(
        batch["hole"], overlap=config.mask.overlap, overlap_weight=config.mask.overlap_weight
    )
    rec = masked_mean(losses.masked_l2(prediction, batch["image"], weights, where=where), where)
    fake = model["discriminator"].apply({"params": params["discriminator"]}, filled)
    adv = masked_mean(losses.gan_generator(fake, where=where), where)
    loss = config.loss.reconstruction * rec + config.loss.adversarial * adv
    return loss, {"reconstruction": rec, "adversarial": adv}


def discriminator_loss(params, batch, rng, *, model, config):
    """−log D(x) − log(1 − D(ŷ)), mean over the real rows; D's accuracy on both as metrics."""
    del rng, config
    where = batch.get("mask")
    _, filled = _fill(params, batch, model)
    discriminate = functools.partial(
        model["discriminator"].apply, {"params": params["discriminator"]}
    )
    real, fake = discriminate(batch["image"]), discriminate(jax.lax.stop_gradient(filled))
    loss = masked_mean(losses.gan_discriminator(real, fake, where=where), where)
    return loss, {
        "real_accuracy": masked_mean((real > 0).astype(jnp.float32), where),
        "fake_accuracy": masked_mean((fake < 0).astype(jnp.float32), where),
    }


loss_fns = {"discriminator": discriminator_loss, "generator": generator_loss}


def eval_metrics(params, batch, *, model, config):
    """Squared error and PSNR on the hole, the generator's and discriminator's losses."""
    where = batch.get("mask")
    prediction, _ = _fill(params, batch, model)
    mse = losses.masked_l2(prediction, batch["image"], batch["hole"], where=where)
    g_loss, g_metrics = generator_loss(params, batch, None, model=model, config=config)
    d_loss, d_metrics = discriminator_loss(params, batch, None, model=model, config=config)
    return {
        "hole_mse": masked_mean(mse, where),
        "hole_psnr": masked_mean(psnr(mse, _image_range(batch["image"])), where),
        "generator_loss": g_loss,
        "discriminator_loss": d_loss,
        **g_metrics,
        **d_metrics,
    }


def _image_range(image: jax.Array) -> jax.Array:
    """Each image's own value range [B], PSNR's peak (data may be normalised)."""
    return jnp.maximum(jnp.max(image, axis=(1, 2, 3)) - jnp.min(image, axis=(1, 2, 3)), 1e-6)


def _display(x: jax.Array, truth: jax.Array) -> jax.Array:
    """Images mapped to [0, 1] by each truth image's own range (data may be normalised)."""
    lo = jnp.min(truth, axis=(1, 2, 3), keepdims=True)
    hi = jnp.max(truth, axis=(1, 2, 3), keepdims=True)
    return jnp.clip((x - lo) / jnp.maximum(hi - lo, 1e-6), 0.0, 1.0)


def pictures(params, batch, *, model, config):
    """``{"inpainting": [3, B, H, W, C]}`` in [0, 1]: masked input (hole grey), filled, truth."""
    del config
    image, hole = batch["image"], batch["hole"]
    _, filled = _fill(params, batch, model)
    masked = _display(image, image) * (1.0 - hole) + 0.5 * hole
    return {"inpainting": jnp.stack([masked, _display(filled, image), _display(image, image)])}
