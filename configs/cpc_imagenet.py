"""CPC on TFDS imagenet2012 as in van den Oord et al. 2018, Sec. 3.2: 256-px images, a 7x7 grid
of 64-px patches with stride 32, a ResNet per patch (mean-pooled), a masked context network
predicting up to 5 rows below, negatives from other patches and other images.

  # once: ILSVRC2012 tars into ~/tensorflow_datasets/downloads/manual, then
  tfds build imagenet2012 --file_format=array_record   # needs `pip install jaxpretrain[data]`
  python scripts/train.py --config=configs/cpc_imagenet.py --workdir=runs/cpc_in1k
  python scripts/train.py --config=configs/cpc_imagenet.py:smoke --workdir=/tmp/cpc_in1k

Linear probe: configs/supervised_imagenet2012.py's data (image_size=256) with this model block,
method "finetune", --config.init_from=runs/cpc_in1k --config.optimizer.freeze=backbone.
The paper's ResNet-v2-101 encoder reaches 48.7% top-1 with a linear probe; with this ResNet-50
encoder expect less. Not run here (needs ImageNet and accelerators).
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke

EPOCH = 1_281_167


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "cpc"
    c.data = ml_collections.ConfigDict(
        dict(
            name="tfds:imagenet2012",
            num_classes=1000,  # For the probe.
            data_dir="",  # TFDS data_dir; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
            train_split="train",
            eval_split="validation",
            image_size=64 if smoke else 256,  # Random-resized crop (train) / center crop (eval).
            augment=True,  # Inception-style random-resized crop and horizontal flip.
            workers=2 if smoke else 32,
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            backbone="resnet_patches",  # models.BACKBONES: a ResNet on each patch of a grid.
            variant="resnet50",  # Bottleneck blocks 3-4-6-3; D = 2048.
            stem="imagenet",  # 7x7/2 convolution and 3x3/2 max-pool: 64-px patch -> 16 px.
            width=8 if smoke else 64,
            stage_sizes=(1, 1) if smoke else (3, 4, 6, 3),
            num_groups=4 if smoke else 32,
            dtype="float32",  # Compute dtype; "bfloat16" on TPU/GPU.
            patch_size=16 if smoke else 64,  # P.
            patch_stride=8 if smoke else 32,  # (256 - 64) / 32 + 1 = 7 rows and columns.
        )
    )
    c.cpc = ml_collections.ConfigDict(
        dict(
            offsets=2 if smoke else 5,  # K: predict up to 5 rows below (the paper's setting).
            offset_weights=(),  # λ_k per offset; empty: all 1.
            context_features=16 if smoke else 1024,  # D_c.
            context_layers=2 if smoke else 5,  # Residual masked-conv layers.
        )
    )
    c.batch_size = 512  # 512 x 49 = 25,088 candidates per prediction (the paper: 32 per GPU).
    c.total_steps = 300_000
    c.log_every = 100
    c.eval_every = 2 * EPOCH // 512  # Every 2 epochs.
    c.checkpoint_every = EPOCH // 512
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-4  # The paper's Adam lr.
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = 5_000
    if smoke:
        shrink_to_smoke(c, total_steps=4)
    return c
