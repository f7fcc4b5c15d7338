"""Colorization (Larsson et al. 2016; Zhang et al. 2016) on the photos scikit-image and
scikit-learn ship: predict the ab colour of 32x32 crops from their lightness.

  python scripts/train.py --config=configs/colorization_photos.py --workdir=runs/color
  python scripts/train.py --config=configs/colorization_photos.py:smoke --workdir=/tmp/color
  # Zhang et al.'s classification over ab bins, rebalanced, annealed-mean decoding:
  #   --config.colorization.loss=classification

Eight photos, cut into 40-px tiles; the right quarter of every photo is held out for evaluation.
Measured after 1,000 steps (~3 min on 2 idle CPU cores): eval/ab_rmse 10.2 against 13.2 for the
gray prediction ab = 0, eval/psnr 25.8 dB against 24.6 dB. With --config.data.holdout=photos (a
cat and a flower never seen) the model beats gray only early (ab RMSE 17.0 vs 18.2 at step 500)
and then overfits six photos' colours (24.4 at step 1,000 of a 1,500-step run).
<workdir>/pictures/ shows gray input, prediction and truth: wood and skin tones come back right,
grey or blue objects turn brownish. Classification (300 steps) paints vivid skin and wood tones
everywhere: ab RMSE 15.0, PSNR 22.1 dB, worse than gray, as rebalancing trades RMSE for colour.
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "colorization"
    c.data = ml_collections.ConfigDict(
        dict(
            name="photos",  # Tiles of the bundled colour photos, split by photo.
            scale=256,  # Shorter side of each photo after resizing.
            tile=40,  # Side of the tiles the photos are cut into.
            holdout="region",  # Held out: the right quarter of every photo ("photos": whole ones).
            eval_photos=("chelsea", "flower"),  # The held-out photos when holdout="photos".
            image_size=32,  # Random crop of a tile (train), its centre (eval).
            augment=True,  # Random crop position and horizontal flip.
        )
    )
    c.colorization = ml_collections.ConfigDict(
        dict(
            loss="regression",  # "regression" (L2 on ab) or "classification" (Zhang et al.).
            rebalance=True,  # classification: weight pixels by rare colours (Zhang Eq. 3-4).
            mix=0.5,  # λ, the uniform share of the rebalancing distribution.
            sigma=5.0,  # Gaussian width (ab units) of the soft encoding and prior smoothing.
            temperature=0.38,  # T of the annealed-mean decoding.
            prior_images=2000,  # Training images the bin prior is estimated from.
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            features=(8, 16) if smoke else (32, 64, 128),  # Encoder stages; the decoder mirrors.
            num_groups=4 if smoke else 8,  # GroupNorm groups.
        )
    )
    c.total_steps = 1000
    c.batch_size = 32
    c.log_every = 50
    c.eval_every = 250
    c.checkpoint_every = 250
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3  # Constant per-step rate (lr_scaling none).
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = 50
    c.optimizer.weight_decay = 1e-4
    if smoke:
        shrink_to_smoke(c)
    return c
