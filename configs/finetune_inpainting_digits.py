"""Fine-tune (or linearly probe) the inpainting encoder on digits with 10 labels per class.

  python scripts/train.py --config=configs/inpainting_digits.py --workdir=runs/inpaint
  python scripts/train.py --config=configs/finetune_inpainting_digits.py --workdir=runs/ft_inpaint --config.init_from=runs/inpaint
  # Linear probe (frozen encoder): add --config.optimizer.freeze=backbone
  # Pretrained vs the same network from scratch, several budgets and seeds:
  python scripts/compare.py --pretrain_config=configs/inpainting_digits.py \
      --finetune_config=configs/finetune_inpainting_digits.py --workdir=runs/compare_inpaint

The classifier is the context encoder's encoder (mean-pooled) plus a new linear head, on the
same 32x32 upsampled digits; the 100 labelled training images are a subset of the images the
context encoder saw without labels, and the test split is disjoint from both. The colorization
encoder of configs/colorization_photos.py has the same shape and transfers the same way
(--pretrain_config=configs/colorization_photos.py; gray digits stand in for its lightness input).
Measured (scripts/compare.py --budgets=30,100,300, 3 seeds, eval/accuracy pretrained vs scratch):
0.654 vs 0.612 at 30 steps, 0.757 vs 0.699 at 100, 0.858 vs 0.848 at 300; from the colorization
encoder 0.381, 0.613 and 0.853 (README has the table).
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "finetune"
    c.data = ml_collections.ConfigDict(
        dict(
            name="digits",  # scikit-learn's digits, the same split as the pretraining's.
            image_size=32,  # As in configs/inpainting_digits.py: the encoder's input size.
            num_classes=10,  # All ten digits.
            per_class=10,  # Few labels: 10 training images per digit.
            seed=0,  # Seeds the train/test split.
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            backbone="conv_encoder",  # models.ConvEncoder, mean-pooled: the inpainting encoder.
            features=(8, 16) if smoke else (32, 64, 128),  # Must match the pretraining model.
            num_groups=4 if smoke else 8,  # Must match the pretraining model.
        )
    )
    c.label_smoothing = 0.0
    c.init_from = "runs/inpaint"  # Pretraining workdir; "" with method=supervised: scratch.
    c.init_subtree = "backbone"  # Filled from the inpainting run's generator/encoder.
    c.total_steps = 300
    c.batch_size = 32
    c.log_every = 25
    c.eval_every = 50
    c.checkpoint_every = 300
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3  # Constant per-step rate (lr_scaling none).
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = 20
    c.optimizer.weight_decay = 1e-4
    if smoke:
        shrink_to_smoke(c)
    return c
