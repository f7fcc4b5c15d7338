"""Colorization (Zhang et al. 2016, "Colorful Image Colorization") on TFDS imagenet2012.

  # once: ILSVRC2012 tars into ~/tensorflow_datasets/downloads/manual, then
  tfds build imagenet2012 --file_format=array_record   # needs `pip install jaxpretrain[data]`
  python scripts/train.py --config=configs/colorization_imagenet.py --workdir=runs/color_in1k
  # The lecture's L2 regression instead: --config.colorization.loss=regression

Classification over the in-gamut ab bins with class rebalancing (λ = 1/2, σ = 5, prior from 2,000
training images) and annealed-mean decoding (T = 0.38), on 128x128 crops in [0, 1] RGB (no
mean/std standardisation: the method converts to Lab). Expected: eval/ab_rmse near
eval/gray_ab_rmse (rebalancing trades RMSE for vivid colour, Zhang et al. Table 1) and
eval/psnr near eval/gray_psnr, with <workdir>/pictures/colorization_*.png far more colourful than
an L2 model's; its encoder fine-tunes on grayscale input like the digits demo's.
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke

EPOCH = 1_281_167


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "colorization"
    c.data = ml_collections.ConfigDict(
        dict(
            name="tfds:imagenet2012",
            num_classes=1000,  # Unused by colorization; the transfer configs read it.
            data_dir="",  # TFDS data_dir; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
            train_split="train",
            eval_split="validation[:2048]",  # A fixed slice: evaluation stays quick.
            image_size=32 if smoke else 128,  # Random-resized crop (train) / centre crop (eval).
            augment=True,  # Inception-style random-resized crop and horizontal flip.
            standardize=False,  # Keep RGB in [0, 1]: the method converts it to Lab.
            workers=2 if smoke else 32,  # Threads that read, decode and augment examples.
        )
    )
    c.colorization = ml_collections.ConfigDict(
        dict(
            loss="classification",  # Zhang et al.'s; "regression" is the lecture's L2 form.
            rebalance=True,  # Weight pixels by the rarity of their colour (Eq. 3-4).
            mix=0.5,  # λ, the uniform share of the rebalancing distribution.
            sigma=5.0,  # Gaussian width (ab units) of the soft encoding and prior smoothing.
            temperature=0.38,  # T of the annealed-mean decoding.
            prior_images=16 if smoke else 2000,  # Training images the bin prior comes from.
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            features=(8, 16) if smoke else (64, 128, 256, 512),  # Encoder: 128 -> 8x8x512.
            num_groups=4 if smoke else 32,  # GroupNorm groups.
        )
    )
    c.batch_size = 256
    c.total_steps = 30 * EPOCH // 256
    c.log_every = 100
    c.eval_every = EPOCH // 256
    c.checkpoint_every = EPOCH // 256
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 3e-4  # Not scaled with the batch (lr_scaling none).
    c.optimizer.lr_scaling = "none"
    c.optimizer.b1 = 0.9
    c.optimizer.warmup_steps = 1000
    c.optimizer.weight_decay = 1e-3  # Zhang et al.'s weight decay.
    if smoke:
        shrink_to_smoke(c, total_steps=4)
    return c
