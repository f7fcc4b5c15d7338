"""Context-encoder inpainting (Pathak et al. 2016) on scikit-learn's digits, upsampled to 32x32.

  python scripts/train.py --config=configs/inpainting_digits.py --workdir=runs/inpaint
  python scripts/train.py --config=configs/inpainting_digits.py:smoke --workdir=/tmp/inpaint
  # The paper's other masks: --config.mask.kind=blocks (or regions) --config.mask.size=8

The generator fills a central 12x12 square from its context (L2 weight 0.999 on the hole, 10x on
a 2-pixel overlap band; adversarial weight 0.001 against a DCGAN discriminator). Measured after
1,000 steps (~5 min on 2 idle CPU cores): eval/hole_mse 0.0086 (eval/hole_psnr 22.4 dB) on the
held-out digits, where filling the hole with the mean training image gives 0.087 (the images are
in [0, 1]); <workdir>/pictures/inpainting_*.png shows the strokes continued across the hole. Its
encoder is fine-tuned by configs/finetune_inpainting_digits.py.
"""

import ml_collections

from jaxpretrain.config import (
    base_config,
    dcgan_discriminator_optimizer,
    is_smoke,
    shrink_to_smoke,
)


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "inpainting"
    c.data = ml_collections.ConfigDict(
        dict(
            name="digits",  # scikit-learn's bundled 8x8 digits: offline, 1,797 images.
            image_size=32,  # Bilinear upsampling: three stride-2 stages leave a 4x4 bottleneck.
            num_classes=10,  # Unused by inpainting; kept so transfer configs read alike.
            per_class=0,  # Training images kept per class; 0 keeps all.
            seed=0,  # Seeds the train/test split (the same as the fine-tune's).
        )
    )
    c.mask = ml_collections.ConfigDict(
        dict(
            kind="central",  # "central" square, random "blocks" or random "regions" (the paper's).
            size=12,  # Side of the central square; the largest block; the regions' scale.
            coverage=0.25,  # Fraction removed by "blocks" and "regions" (the paper: up to 1/4).
            overlap=2,  # Context pixels around the hole also predicted (the paper: 7 of 128).
            overlap_weight=10.0,  # Their L2 weight relative to the hole's (the paper: 10).
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            features=(8, 16) if smoke else (32, 64, 128),  # Encoder stages; the decoder mirrors.
            channels=1,  # Image channels.
            num_groups=4 if smoke else 8,  # GroupNorm groups.
            discriminator_features=(8, 16) if smoke else (32, 64, 128),  # DCGAN stages.
        )
    )
    c.loss = ml_collections.ConfigDict(
        dict(
            reconstruction=0.999,  # λ_rec (the paper's).
            adversarial=0.001,  # λ_adv (the paper's).
        )
    )
    c.total_steps = 1000
    c.batch_size = 64
    c.log_every = 50
    c.eval_every = 250
    c.checkpoint_every = 250
    # The generator's optimizer: Adam with β1 = 0.5 (DCGAN, and the paper's code).
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3  # Constant after warm-up (lr_scaling none: not per 256 images).
    c.optimizer.lr_scaling = "none"
    c.optimizer.b1 = 0.5
    c.optimizer.warmup_steps = 50
    c.optimizer.decay = "cosine"
    # Per-player optimizers; players not listed here use c.optimizer.
    c.optimizers = ml_collections.ConfigDict()
    # The paper's 2e-4, β1 = 0.5.
    c.optimizers.discriminator = dcgan_discriminator_optimizer(warmup_steps=50)
    if smoke:
        shrink_to_smoke(c)
    return c
