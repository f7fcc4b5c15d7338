"""The noisy-channel RDA with a discrimination loss on CIFAR-10 from TFDS (TTIC 31230).

  python scripts/train.py --config=configs/rda_cifar10.py --workdir=runs/rda_cifar10
  python scripts/train.py --config=configs/rda_cifar10.py:smoke --workdir=/tmp/rda_cifar10
  # Class-conditional: --config.rda.conditional=True

Needs the TFDS data set (tfds.builder("cifar10").download_and_prepare(), or data_dir); tests run
it on tfds.testing.mock_data. 32x32 colour images standardised per channel (CIFAR-10 mean/std),
three stride-2 stages to a 4x4 grid, 128 latents. Not measured here (no CIFAR-10 on this
machine, and an accelerator's job): expect blurry reconstructions at λ2 = 0 that the
discriminator sharpens.
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
            name="tfds:cifar10",  # 50,000 train / 10,000 test 32x32 colour images.
            num_classes=10,  # The class prior's classes (used when rda.conditional).
            data_dir="",  # TFDS data_dir; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
            train_split="train",  # TFDS split trained on.
            eval_split="test",  # TFDS split evaluated on.
            augment=False,  # No crops or flips: the autoencoder reconstructs what it is shown.
            workers=2 if smoke else 8,  # Threads that read and decode examples.
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            backbone="rda_encoder",  # models.BACKBONES: ConvEncoder -> (μ, ln σ); pooled: μ.
            features=(8, 16) if smoke else (64, 128, 256),  # Encoder stages (32 -> 4).
            num_groups=4 if smoke else 8,  # GroupNorm groups (encoder, decoder, discriminator).
            latent=4 if smoke else 128,  # D, the channel's latent dimensions.
            min_scale=1e-3,  # σ floor: σ = min_scale + softplus(·) (must be positive).
        )
    )
    c.rda = rda_objective(
        distortion_weight=10.0,  # λ1: a VAE with N(ŷ, s² = 0.05) standardised pixels.
        discrimination_weight=1.0,  # λ2 of −ln D(ŷ).
        discriminator_features=(8, 16) if smoke else (64, 128, 256),  # DCGAN discriminator stages.
    )
    c.total_steps = 50_000
    c.batch_size = 128
    c.log_every = 100
    c.eval_every = 5000
    c.checkpoint_every = 5000
    c.optimizer = adam_per_step(1e-3, warmup_steps=500)  # The autoencoder's.
    # Per-player optimizers; players not listed here use c.optimizer.
    c.optimizers = ml_collections.ConfigDict()
    c.optimizers.discriminator = dcgan_discriminator_optimizer(warmup_steps=500)
    if smoke:
        shrink_to_smoke(c)
    return c
