"""Supervised ResNet-50 on TFDS imagenet2012: large-batch synchronous SGD (Goyal et al. 2017).

  # once: ILSVRC2012 tars into ~/tensorflow_datasets/downloads/manual, then
  tfds build imagenet2012 --file_format=array_record   # needs `pip install jaxpretrain[data]`
  python scripts/train.py --config=configs/supervised_imagenet2012.py --workdir=runs/in1k
  # Goyal et al.'s 8k minibatch: --config.batch_size=8192 (lr scales to 3.2 by itself)

90 epochs, lr = 0.1 x batch/256 with 5 epochs of linear warm-up, then cosine; weight decay 1e-4 on
kernels only; label smoothing 0.1. Expected: ~76% top-1 (eval/accuracy) with GroupNorm.
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke

EPOCH = 1_281_167


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "supervised"
    c.data = ml_collections.ConfigDict(
        dict(
            name="tfds:imagenet2012",
            num_classes=1000,
            data_dir="",  # TFDS data_dir; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
            train_split="train",
            eval_split="validation",
            image_size=32
            if smoke
            else 224,  # Random-resized crop (train) / center crop (eval) size.
            augment=True,  # Inception-style random-resized crop and horizontal flip.
            workers=2 if smoke else 32,  # Threads that read, decode and augment examples.
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            backbone="resnet",  # models.BACKBONES: a GroupNorm ResNet.
            variant="resnet50",  # Bottleneck blocks 3-4-6-3, 25.6M parameters.
            stem="imagenet",  # 7x7/2 convolution and 3x3/2 max-pool.
            width=8 if smoke else 64,
            stage_sizes=(1, 1) if smoke else (3, 4, 6, 3),
            num_groups=4 if smoke else 32,
            dtype="float32",  # Compute dtype; "bfloat16" on TPU/GPU halves memory traffic.
        )
    )
    c.label_smoothing = 0.1
    c.batch_size = 1024
    c.total_steps = 90 * EPOCH // 1024
    c.log_every = 100
    c.eval_every = EPOCH // 1024
    c.checkpoint_every = EPOCH // 1024
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.1  # Per 256 images (Goyal et al.): 0.4 at 1024, 3.2 at 8192.
    c.optimizer.warmup_steps = 5 * EPOCH // 1024
    c.optimizer.weight_decay = 1e-4
    if smoke:
        shrink_to_smoke(c, total_steps=4)
    return c
