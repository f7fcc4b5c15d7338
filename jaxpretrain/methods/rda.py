"""The noisy-channel rate-distortion autoencoder with a discrimination loss (TTIC 31230, "Noisy
Channel RDAs" and "Gaussian RDAs"; Ballé et al. 2017; Kingma & Welling 2014): "an RDA with a
discrimination distortion, or a GAN with a rate-distortion objective",

    Φ* = argmin_Φ I(y, z) + λ1 E Dist(y, ŷ_Φ(z)) + λ2 E Discr(y, ŷ_Φ(z)).

The channel is Gaussian, z = μ_Φ(y) + σ_Φ(y)·ε with ε ~ N(0, I) drawn from the step's rng
(reparameterised), and I(y, z) is replaced by its upper bound E KL(P_Φ(z|y), p̂(z))
(``losses.gaussian_kl``, nats per example) with p̂ = N(0, I), or a learned N(μ_p, σ_p²) with
``config.rda.learned_prior``. Dist(y, ŷ) is ‖y − ŷ‖² (``"l2"``) or ‖y − ŷ‖₁ (``"l1"``) summed over
the example's elements, so λ1 = 1/(2s²) makes the objective the negative ELBO of a VAE with
N(ŷ, s²) pixels. Discr is the non-saturating generator loss −ln D(ŷ) (``losses.gan_generator``)
against a discriminator player trained on −ln D(y) − ln(1 − D(ŷ)) (``losses.gan_discriminator``).

Class-conditional form (``config.rda.conditional``): P_Φ(x, y, z) = Pop(x, y) P_Φ(z|y, x), rate
E KL(P_Φ(z|y, x), P_Φ(z|x)) with a learned Gaussian prior per class x = ``batch["label"]``; the
decoder and the discriminator read onehot(x) too (``models.RDA``, ``models.ConditionalDiscriminator``).

Two players, ``loss_fns = {"discriminator": ..., "autoencoder": ...}``, updated in that order in
the one step (as inpainting), each on its own optimizer (``config.optimizers.<player>``). With
λ2 = 0 the discriminator still trains, as a diagnostic of how far reconstructions are from the data
(its accuracies are logged), but the autoencoder's loss never calls it: the encoder is then a plain
RDA (a β-VAE). The downstream classifier inherits the encoder, whose pooled output is μ
(``ENCODER``; backbones "rda_encoder" for images, "rda_dense_encoder" for signals).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpretrain import losses, models
from jaxpretrain.errors import ConfigError
from jaxpretrain.methods import supervised
from jaxpretrain.methods.common import masked_mean

ENCODER = "autoencoder/encoder"

# Dist(y, ŷ) per element; summed over each example's elements.
DISTORTIONS = {"l2": jnp.square, "l1": jnp.abs}

_EVAL_SEED = 0  # The fixed ε of evaluations and pictures: every eval sees the same channel draw.
_SAMPLES = 8  # Decoded prior samples per row of the pictures.


def _check(config) -> None:
    """One-line ValueErrors for settings the objective cannot use, before anything compiles."""
    rda, model = config.rda, config.model
    if model.backbone not in models.rda.PARTS:
        raise ConfigError(
            f"config.model.backbone={model.backbone!r} is not an RDA encoder; use one of "
            f"{sorted(models.rda.PARTS)}."
        )
    if not rda.distortion_weight > 0:
        raise ConfigError(
            f"config.rda.distortion_weight (λ1) must be positive, got {rda.distortion_weight}."
        )
    if not rda.discrimination_weight >= 0:
        raise ConfigError(
            f"config.rda.discrimination_weight (λ2) must be non-negative, got "
            f"{rda.discrimination_weight}."
        )
    if not model.min_scale > 0:
        raise ConfigError(
            f"config.model.min_scale (the σ floor) must be positive, got {model.min_scale}."
        )
    if rda.distortion not in DISTORTIONS:
        raise ConfigError(
            f"config.rda.distortion={rda.distortion!r}; use one of {sorted(DISTORTIONS)}."
        )
    if rda.conditional and config.data.get("num_classes", 0) < 1:
        raise ConfigError(
            "config.rda.conditional needs config.data.num_classes >= 1 (the prior's classes)."
        )


def _num_classes(config) -> int:
    """K of the class-conditional model; 0 when unconditional."""
    return int(config.data.num_classes) if config.rda.conditional else 0


def make_model(config, dataset=None) -> dict:
    """``{"autoencoder": models.RDA, "discriminator": models.ConditionalDiscriminator}``: the
    encoder is ``models.backbone(config.model)`` unpooled, the decoder and discriminator its
    ``models.rda.PARTS``."""
    del dataset
    _check(config)
    parts, classes = models.rda.PARTS[config.model.backbone], _num_classes(config)
    return {
        "autoencoder": models.RDA(
            encoder=models.backbone(config.model, pooled=False),
            decoder=parts.decoder(config.model),
            num_classes=classes,
            learned_prior=bool(config.rda.learned_prior),
        ),
        "discriminator": models.ConditionalDiscriminator(
            parts.discriminator(config.model, config.rda.discriminator_features), classes
        ),
    }


def _data(batch, config):
    """(y [B, ...], the class label [B] or None when unconditional)."""
    y = batch[models.backbone_inputs(config.model)[0]]
    return y, batch["label"] if config.rda.conditional else None


def _noise(rng, batch, config):
    y, _ = _data(batch, config)
    return jax.random.normal(rng, (y.shape[0], config.model.latent), y.dtype)


def init_params(rng, batch, *, model, config):
    a_rng, d_rng, n_rng = jax.random.split(rng, 3)
    y, label = _data(batch, config)
    return {
        "autoencoder": model["autoencoder"].init(a_rng, y, label, _noise(n_rng, batch, config))[
            "params"
        ],
        "discriminator": model["discriminator"].init(d_rng, y, label)["params"],
    }


def _check_label(example, rng, *, base, num_classes: int):
    if "label" not in example:
        raise ConfigError(
            "config.rda.conditional=True needs a class label per example, and the data has no "
            "'label'; use labelled data or config.rda.conditional=False."
        )
    label = int(np.asarray(example["label"]))
    if not 0 <= label < num_classes:
        raise ConfigError(
            f"class label {label} is outside the prior's {num_classes} classes "
            f"(config.data.num_classes={num_classes})."
        )
    return example if base is None else base(example, rng)


def preprocess(config, *, train: bool, dataset=None):
    """The data's image transform (signals as stored); when conditional, every example's label is
    checked to lie in 0..K−1 first, so that no label indexes past the class prior."""
    base = supervised.preprocess(config, train=train, dataset=dataset)
    if not config.rda.conditional:
        return base
    return functools.partial(_check_label, base=base, num_classes=_num_classes(config))


def _channel(params, batch, rng, *, model, config) -> models.RDAOutput:
    y, label = _data(batch, config)
    return model["autoencoder"].apply(
        {"params": params["autoencoder"]}, y, label, _noise(rng, batch, config)
    )


def _discriminate(params, y, batch, *, model, config):
    _, label = _data(batch, config)
    return model["discriminator"].apply({"params": params["discriminator"]}, y, label)


def _rate_distortion(out: models.RDAOutput, y, where, config):
    """(rate [B] in nats, distortion [B]) of one pass through the channel."""
    rate = losses.gaussian_kl(
        out.mean, out.log_scale, out.prior_mean, out.prior_log_scale, where=where
    )
    error = DISTORTIONS[config.rda.distortion](out.reconstruction - y)
    return rate, jnp.sum(error.reshape(error.shape[0], -1), axis=1)


def autoencoder_loss(params, batch, rng, *, model, config):
    """rate + λ1·Dist + λ2·(−ln D(ŷ)), means over the real rows (λ2 = 0: D is never called)."""
    where = batch.get("mask")
    y, _ = _data(batch, config)
    out = _channel(params, batch, rng, model=model, config=config)
    rate, distortion = _rate_distortion(out, y, where, config)
    rate, distortion = masked_mean(rate, where), masked_mean(distortion, where)
    loss = rate + config.rda.distortion_weight * distortion
    metrics = {"rate": rate, "distortion": distortion}
    if config.rda.discrimination_weight:
        fake = _discriminate(params, out.reconstruction, batch, model=model, config=config)
        discrimination = masked_mean(losses.gan_generator(fake, where=where), where)
        loss = loss + config.rda.discrimination_weight * discrimination
        metrics["discrimination"] = discrimination
    return loss, metrics


def discriminator_loss(params, batch, rng, *, model, config):
    """−ln D(y) − ln(1 − D(ŷ)), mean over the real rows; D's accuracy on each as metrics."""
    where = batch.get("mask")
    y, _ = _data(batch, config)
    out = _channel(params, batch, rng, model=model, config=config)
    discriminate = functools.partial(_discriminate, params, batch=batch, model=model, config=config)
    real, fake = discriminate(y), discriminate(jax.lax.stop_gradient(out.reconstruction))
    loss = masked_mean(losses.gan_discriminator(real, fake, where=where), where)
    return loss, {
        "real_accuracy": masked_mean((real > 0).astype(jnp.float32), where),
        "fake_accuracy": masked_mean((fake < 0).astype(jnp.float32), where),
    }


loss_fns = {"discriminator": discriminator_loss, "autoencoder": autoencoder_loss}


def eval_metrics(params, batch, *, model, config):
    """Rate (nats per example), distortion, MSE per element, D's accuracies, both players' losses,
    on a fixed channel draw ε."""
    rng = jax.random.key(_EVAL_SEED)
    where = batch.get("mask")
    y, _ = _data(batch, config)
    a_loss, a_metrics = autoencoder_loss(params, batch, rng, model=model, config=config)
    d_loss, d_metrics = discriminator_loss(params, batch, rng, model=model, config=config)
    out = _channel(params, batch, rng, model=model, config=config)
    mse = jnp.mean(jnp.square(out.reconstruction - y).reshape(y.shape[0], -1), axis=1)
    return {
        **a_metrics,
        **d_metrics,
        "mse": masked_mean(mse, where),
        "autoencoder_loss": a_loss,
        "discriminator_loss": d_loss,
    }


def _images(x, lo, hi):
    """Images [..., H, W, C] scaled from [lo, hi] to [0, 1]."""
    return jnp.clip((x - lo) / jnp.maximum(hi - lo, 1e-6), 0.0, 1.0)


def _signal_plots(x, lo, hi, height: int = 32):
    """Signals [..., T, C] as images [..., height, T, 1]: each sample's value lights the pixel
    of its level (row 0 = hi), channels overlaid."""
    level = (hi - x) / jnp.maximum(hi - lo, 1e-6) * (height - 1)  # [..., T, C]
    rows = jnp.arange(height, dtype=x.dtype)[:, None, None]
    lit = jnp.abs(level[..., None, :, :] - rows) < 0.5  # [..., height, T, C]
    return jnp.any(lit, axis=-1, keepdims=True).astype(jnp.float32)


# How each kind of data is drawn, [R, N, ...] -> [R, N, H, W, C] in [0, 1].
_DRAW = {"image": _images, "signal": _signal_plots}


def pictures(params, batch, *, model, config):
    """``{"reconstructions": [3, B, ...] (truth, ŷ(μ), ŷ(μ + σε)), "samples": [R, 8, ...]}``
    in [0, 1]; samples are decoded from the prior: 2 rows, or one row per class x when
    conditional. Signals are drawn as line plots."""
    y, label = _data(batch, config)
    rng = jax.random.key(_EVAL_SEED)
    out = _channel(params, batch, rng, model=model, config=config)
    rda = functools.partial(model["autoencoder"].apply, {"params": params["autoencoder"]})
    from_mean = rda(out.mean, label, y.shape[1:], method="decode")
    classes = _num_classes(config)
    rows = classes or 2
    noise = jax.random.normal(rng, (rows * _SAMPLES, config.model.latent), y.dtype)
    row_label = jnp.repeat(jnp.arange(rows), _SAMPLES) if classes else None
    samples = rda(row_label, noise, y.shape[1:], method="sample")
    draw = functools.partial(
        _DRAW[models.backbone_inputs(config.model)[0]], lo=jnp.min(y), hi=jnp.max(y)
    )
    return {
        "reconstructions": draw(jnp.stack([y, from_mean, out.reconstruction])),
        "samples": draw(samples.reshape(rows, _SAMPLES, *y.shape[1:])),
    }
