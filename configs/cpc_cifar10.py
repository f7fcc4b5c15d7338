"""CPC on TFDS cifar10: a 7x7 grid of 8-px patches, stride 4, on the 32-px images (van den Oord
et al. 2018, Sec. 3.2, scaled to CIFAR).

  tfds build cifar10 --file_format=array_record   # once; needs `pip install jaxpretrain[data]`
  python scripts/train.py --config=configs/cpc_cifar10.py --workdir=runs/cpc_cifar10
  python scripts/train.py --config=configs/cpc_cifar10.py:smoke --workdir=/tmp/cpc_cifar10

Linear probe: configs/supervised_cifar10.py's data with this model block, method "finetune",
--config.init_from=runs/cpc_cifar10 --config.optimizer.freeze=backbone. Expected: the
per-offset bound eval/mi_bound/dt{k} falls with k; not run here (no CIFAR-10 offline).
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke

EPOCH = 50_000


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "cpc"
    c.data = ml_collections.ConfigDict(
        dict(
            name="tfds:cifar10",
            num_classes=10,  # For the probe.
            data_dir="",  # TFDS data_dir; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
            train_split="train",
            eval_split="test",
            augment=True,  # Reflect-pad 4, random 32x32 crop, horizontal flip.
            workers=2 if smoke else 8,  # Threads that read and augment examples.
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            backbone="resnet_patches",  # models.BACKBONES: a ResNet on each patch of a grid.
            variant="resnet18",  # Preset whose fields the entries below replace.
            stage_sizes=(1, 1) if smoke else (2, 2),  # Basic blocks per stage: 8 px -> 4 px.
            width=8 if smoke else 64,  # Channels of the first stage; D = 2 x width.
            block="basic",
            stem="small",  # One 3x3 convolution, no pooling: patches are 8 px.
            num_groups=4 if smoke else 32,
            patch_size=8,  # P.
            patch_stride=4,  # (32 - 8) / 4 + 1 = 7 rows and columns.
        )
    )
    c.cpc = ml_collections.ConfigDict(
        dict(
            offsets=3,  # K: predict the patches 1..3 rows below.
            offset_weights=(),  # λ_k per offset; empty: all 1.
            context_features=16 if smoke else 256,  # D_c.
            context_layers=2 if smoke else 3,  # Residual masked-conv layers.
        )
    )
    c.batch_size = 128  # 128 x 49 = 6,272 candidates per prediction.
    c.total_steps = 100 * EPOCH // 128
    c.log_every = 100
    c.eval_every = 10 * EPOCH // 128
    c.checkpoint_every = 10 * EPOCH // 128
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-4  # The paper's Adam lr.
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = 500
    if smoke:
        shrink_to_smoke(c, total_steps=4)
    return c
