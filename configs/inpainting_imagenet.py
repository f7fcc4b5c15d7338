"""Context-encoder inpainting (Pathak et al. 2016) on TFDS imagenet2012: the paper's setting.

  # once: ILSVRC2012 tars into ~/tensorflow_datasets/downloads/manual, then
  tfds build imagenet2012 --file_format=array_record   # needs `pip install jaxpretrain[data]`
  python scripts/train.py --config=configs/inpainting_imagenet.py --workdir=runs/inpaint_in1k
  # Random blocks or regions instead of the central square: --config.mask.kind=blocks

128x128 random-resized crops; the central 64x64 square is removed and predicted with a 4-pixel
overlap band weighted 10x; λ_rec = 0.999, λ_adv = 0.001; Adam (β1 = 0.5) at 2e-4 for both players,
as in the paper's code. Expected: eval/hole_psnr rising for the whole run (the paper reports
~18 dB on the Paris StreetView centre region) and <workdir>/pictures/inpainting_*.png with
plausible, blurry-edged fills; its encoder fine-tunes like the digits demo's.
"""

import ml_collections

from jaxpretrain.config import (
    base_config,
    dcgan_discriminator_optimizer,
    is_smoke,
    shrink_to_smoke,
)

EPOCH = 1_281_167


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "inpainting"
    c.data = ml_collections.ConfigDict(
        dict(
            name="tfds:imagenet2012",
            num_classes=1000,  # Unused by inpainting; the transfer configs read it.
            data_dir="",  # TFDS data_dir; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
            train_split="train",
            eval_split="validation[:2048]",  # A fixed slice: evaluation stays quick.
            image_size=32 if smoke else 128,  # Random-resized crop (train) / centre crop (eval).
            augment=True,  # Inception-style random-resized crop and horizontal flip.
            workers=2 if smoke else 32,  # Threads that read, decode and augment examples.
        )
    )
    c.mask = ml_collections.ConfigDict(
        dict(
            kind="central",  # "central" square, random "blocks" or random "regions".
            size=16 if smoke else 64,  # The central square's side: half the image (the paper).
            coverage=0.25,  # Fraction removed by "blocks" and "regions".
            overlap=1 if smoke else 4,  # Context band around the hole that is also predicted.
            overlap_weight=10.0,  # Its L2 weight relative to the hole's (the paper: 10).
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            features=(8, 16) if smoke else (64, 128, 256, 512),  # Encoder: 128 -> 8x8x512.
            channels=3,  # RGB.
            num_groups=4 if smoke else 32,  # GroupNorm groups.
            discriminator_features=(8, 16) if smoke else (64, 128, 256, 512),  # DCGAN stages.
        )
    )
    c.loss = ml_collections.ConfigDict(
        dict(
            reconstruction=0.999,  # λ_rec (the paper's).
            adversarial=0.001,  # λ_adv (the paper's).
        )
    )
    c.batch_size = 256
    c.total_steps = 30 * EPOCH // 256
    c.log_every = 100
    c.eval_every = EPOCH // 256
    c.checkpoint_every = EPOCH // 256
    # The generator's optimizer; the discriminator has its own below.
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-4  # The paper's rate, not scaled with the batch.
    c.optimizer.lr_scaling = "none"
    c.optimizer.b1 = 0.5
    c.optimizer.decay = "constant"
    c.optimizer.warmup_steps = 500
    c.optimizers = ml_collections.ConfigDict()
    c.optimizers.discriminator = dcgan_discriminator_optimizer(warmup_steps=500)
    c.optimizers.discriminator.decay = "constant"
    if smoke:
        shrink_to_smoke(c, total_steps=4)
    return c
