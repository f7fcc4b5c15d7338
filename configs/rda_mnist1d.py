"""The noisy-channel RDA with a discrimination loss on MNIST-1D signals (TTIC 31230): an MLP
encoder y [40, 1] -> (μ, ln σ) [8], an MLP decoder, an MLP discriminator.

  python scripts/train.py --config=configs/rda_mnist1d.py --workdir=runs/rda_mnist1d
  python scripts/train.py --config=configs/rda_mnist1d.py:smoke --workdir=/tmp/rda_mnist1d

The signals have zero mean and unit variance, so λ1 = 5 is a VAE with N(ŷ, 0.1) samples.
Measured after 2,000 steps (~30 s on 2 CPU cores): eval/rate 14.9 nats, eval/distortion 11.0
(eval/mse 0.28 of the signals' unit variance), discriminator accuracy 0.96 fake / 0.93 real;
<workdir>/pictures/ draws the signals and their reconstructions as line plots. The encoder (backbone "rda_dense_encoder")
can be probed like configs/cpc_probe_mnist1d.py probes CPC's.
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
            name="mnist1d",  # 40-sample 1-D digits generated locally (no download).
            seed=42,  # The published data set's generator seed.
            num_samples=1000 if smoke else 5000,  # 80% train, 20% test signals.
            num_classes=10,  # The class prior's classes (used when rda.conditional).
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            backbone="rda_dense_encoder",  # models.BACKBONES: MLP -> (μ, ln σ); pooled: μ.
            features=(32,) if smoke else (256, 128),  # Hidden widths; the decoder mirrors them.
            latent=4 if smoke else 8,  # D, the channel's latent dimensions.
            min_scale=1e-3,  # σ floor: σ = min_scale + softplus(·) (must be positive).
        )
    )
    c.rda = rda_objective(
        distortion_weight=5.0,  # λ1: 1/(2s²) of a VAE with N(ŷ, s² = 0.1) samples.
        discrimination_weight=0.5,  # λ2 of −ln D(ŷ).
        discriminator_features=(32,) if smoke else (256, 128),  # MLP discriminator widths.
    )
    c.total_steps = 2000
    c.batch_size = 64
    c.log_every = 100
    c.eval_every = 1000
    c.checkpoint_every = 1000
    c.optimizer = adam_per_step(1e-3, warmup_steps=50)  # The autoencoder's.
    # Per-player optimizers; players not listed here use c.optimizer.
    c.optimizers = ml_collections.ConfigDict()
    c.optimizers.discriminator = dcgan_discriminator_optimizer(warmup_steps=50)
    if smoke:
        shrink_to_smoke(c)
    return c
