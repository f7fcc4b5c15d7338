"""Supervised ResNet-18 (CIFAR stem) on TFDS cifar10, the standard 200-epoch SGD recipe.

  tfds build cifar10 --file_format=array_record      # once, needs `pip install jaxpretrain[data]`
  python scripts/train.py --config=configs/supervised_cifar10.py --workdir=runs/cifar10
  python scripts/train.py --config=configs/supervised_cifar10.py:smoke --workdir=/tmp/c10  # tiny

Expected: ~95% eval/accuracy (GroupNorm ResNets land about a point under BatchNorm ones).
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke

EPOCH = 50_000


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "supervised"
    c.data = ml_collections.ConfigDict(
        dict(
            name="tfds:cifar10",  # Random access through tfds.data_source (array_record).
            num_classes=10,
            data_dir="",  # TFDS data_dir; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
            train_split="train",
            eval_split="test",
            augment=True,  # Pad-4 random crop and horizontal flip.
            workers=2 if smoke else 8,  # Threads that read, decode and augment examples.
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            backbone="resnet",  # models.BACKBONES: a GroupNorm ResNet.
            variant="resnet18",  # Basic blocks 2-2-2-2.
            stem="small",  # 3x3 stem without pooling for 32x32 images.
            width=8 if smoke else 64,  # First-stage channels.
            stage_sizes=(1, 1) if smoke else (2, 2, 2, 2),
            num_groups=4 if smoke else 32,
        )
    )
    c.label_smoothing = 0.0
    c.batch_size = 512
    c.total_steps = 200 * EPOCH // 512  # 200 epochs.
    c.log_every = 100
    c.eval_every = 5 * EPOCH // 512
    c.checkpoint_every = 5 * EPOCH // 512
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.1  # -> 0.2 at batch 512 (linear scaling rule).
    c.optimizer.nesterov = True
    c.optimizer.warmup_steps = 5 * EPOCH // 512  # 5 epochs of warm-up (Goyal et al. 2017).
    c.optimizer.weight_decay = 5e-4
    if smoke:
        shrink_to_smoke(c, total_steps=4)
    return c
