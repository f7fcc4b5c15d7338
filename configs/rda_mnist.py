"""The noisy-channel RDA with a discrimination loss on MNIST from TFDS (TTIC 31230).

  python scripts/train.py --config=configs/rda_mnist.py --workdir=runs/rda_mnist
  python scripts/train.py --config=configs/rda_mnist.py:smoke --workdir=/tmp/rda_mnist
  # Class-conditional: --config.rda.conditional=True

Needs the TFDS data set (tfds.builder("mnist").download_and_prepare(), or data_dir); tests run
it on tfds.testing.mock_data. 28x28 images in [0, 1], two stride-2 stages to a 7x7 grid, 32
latents. Not measured here (no MNIST on this machine): expect eval/mse well under the 0.067 of
the mean image after a few thousand steps, and sharper samples with λ2 > 0.
"""

import ml_collections

from jaxpretrain.config import (
    adam_per_step,
    base_config,
    dcgan_discriminator_optimizer,
    is_smoke,
    rda_objective,
    shrink_to_smoke,
)


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "rda"
    c.data = ml_collections.ConfigDict(
        dict(
            name="tfds:mnist",  # 60,000 train / 10,000 test 28x28 digits, scaled to [0, 1].
            num_classes=10,  # The class prior's classes (used when rda.conditional).
            data_dir="",  # TFDS data_dir; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
            train_split="train",  # TFDS split trained on.
            eval_split="test",  # TFDS split evaluated on.
            workers=2 if smoke else 8,  # Threads that read and decode examples.
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            backbone="rda_encoder",  # models.BACKBONES: ConvEncoder -> (μ, ln σ); pooled: μ.
            features=(8, 16) if smoke else (32, 64),  # Encoder stages (28 -> 14 -> 7).
            num_groups=4 if smoke else 8,  # GroupNorm groups (encoder, decoder, discriminator).
            latent=4 if smoke else 32,  # D, the channel's latent dimensions.
            min_scale=1e-3,  # σ floor: σ = min_scale + softplus(·) (must be positive).
        )
    )
    c.rda = rda_objective(
        distortion_weight=50.0,  # λ1: 1/(2s²) of a VAE with N(ŷ, s² = 0.01) pixels.
        discrimination_weight=1.0,  # λ2 of −ln D(ŷ).
        discriminator_features=(8, 16) if smoke else (32, 64),  # DCGAN discriminator stages.
    )
    c.total_steps = 10_000
    c.batch_size = 128
    c.log_every = 100
    c.eval_every = 2000
    c.checkpoint_every = 2000
    c.optimizer = adam_per_step(1e-3, warmup_steps=200)  # The autoencoder's.
    # Per-player optimizers; players not listed here use c.optimizer.
    c.optimizers = ml_collections.ConfigDict()
    c.optimizers.discriminator = dcgan_discriminator_optimizer(warmup_steps=200)
    if smoke:
        shrink_to_smoke(c)
    return c
