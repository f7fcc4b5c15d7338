"""CPC on images, offline: scikit-learn's digits upsampled to 32 px, a 7x7 grid of 8-px patches
(van den Oord et al. 2018, Sec. 3.2, in miniature: their 7x7 grid of 64-px patches on 256 px).

  python scripts/train.py --config=configs/cpc_digits.py --workdir=runs/cpc_digits
  python scripts/train.py --config=configs/cpc_digits.py:smoke --workdir=/tmp/cpc_digits

A ResNet embeds every patch, a masked (PixelCNN-style) context network sees the rows above, and
W_k predicts the patch k rows below among every patch of the batch (32 x 49 = 1,568 candidates).
Linear probe on the frozen patch encoder, against a random-init one (configs/cpc_probe_digits.py):

  python scripts/compare.py --pretrain_config=configs/cpc_digits.py \
      --finetune_config=configs/cpc_probe_digits.py --budgets=600 --seeds=0 --workdir=runs/cmpd

Expected (2 shared CPU cores, ~10 min): eval/mi_bound/dt{1,2,3} ~6.1, 5.2, 3.7 nats of
ln(1568) = 7.36 (half-overlapping patches make the next row easy); a 600-step linear probe on the
frozen, grid-pooled encoder reaches eval/accuracy ~0.61 (random encoder ~0.58, supervised ~0.69).
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "cpc"
    c.data = ml_collections.ConfigDict(
        dict(
            name="digits",  # scikit-learn's bundled 8x8 digits: offline, 1,797 images.
            classes=tuple(range(10)),  # All ten digits (CPC ignores the labels).
            num_classes=10,  # For the probe.
            per_class=0,  # 0 keeps every training image.
            seed=0,  # Seeds the train/test split.
            image_size=32,  # Bilinear upsampling, so that 8-px patches overlap.
        )
    )
    # The patch encoder; configs/cpc_probe_digits.py reads this block so checkpoints fit.
    c.model = ml_collections.ConfigDict(
        dict(
            backbone="resnet_patches",  # models.BACKBONES: a ResNet on each patch of a grid.
            variant="resnet18",  # Preset whose fields the entries below replace.
            stage_sizes=(1, 1),  # One basic block per stage: 8x8 patch -> 4x4.
            width=8 if smoke else 16,  # Channels of the first stage; D = 2 x width.
            block="basic",
            stem="small",  # One 3x3 convolution, no pooling: patches are 8 px.
            num_groups=4,  # GroupNorm groups.
            patch_size=8,  # P: pixels per patch side.
            patch_stride=4,  # Half-overlapping patches: (32 - 8) / 4 + 1 = 7 rows and columns.
        )
    )
    c.cpc = ml_collections.ConfigDict(
        dict(
            offsets=3,  # K: predict the patches 1..3 rows below.
            offset_weights=(),  # λ_k per offset; empty: all 1.
            context_features=16 if smoke else 64,  # D_c of the masked context network.
            context_layers=2,  # Residual masked-conv layers (row r sees rows <= r).
        )
    )
    c.total_steps = 1000
    c.batch_size = 32
    c.log_every = 50
    c.eval_every = 500
    c.checkpoint_every = 500
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"  # Adam: the lr does not scale with the batch.
    c.optimizer.warmup_steps = 50
    if smoke:
        shrink_to_smoke(c)
    return c
