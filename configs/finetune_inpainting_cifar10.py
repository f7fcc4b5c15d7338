"""Fine-tune (or linearly probe) the ImageNet context encoder's encoder on TFDS cifar10.

  python scripts/train.py --config=configs/inpainting_imagenet.py --workdir=runs/inpaint_in1k
  tfds build cifar10 --file_format=array_record      # once, needs `pip install jaxpretrain[data]`
  python scripts/train.py --config=configs/finetune_inpainting_cifar10.py --workdir=runs/ft_c10 --config.init_from=runs/inpaint_in1k
  # Linear probe: add --config.optimizer.freeze=backbone. Against scratch, several budgets:
  python scripts/compare.py --pretrain_config=configs/inpainting_imagenet.py \
      --finetune_config=configs/finetune_inpainting_cifar10.py --budgets=1000,5000 --seeds=0 \
      --workdir=runs/compare_c10

The classifier is the mean-pooled encoder (4 stride-2 stages: 32x32 -> 2x2x512) and a new linear
head, on CIFAR-10's pad-4 crops and flips. (The colorization encoder reads one lightness channel,
so it does not fit colour images: the mismatch error names its first convolution.) Expected: the inpainting encoder ahead of the same
network from scratch at short budgets, the gap closing with longer schedules (Pathak et al.
report +10 points mAP over random init when fine-tuning on PASCAL VOC classification).
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke

EPOCH = 50_000


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "finetune"
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
            backbone="conv_encoder",  # models.ConvEncoder, mean-pooled: the inpainting encoder.
            features=(8, 16)
            if smoke
            else (64, 128, 256, 512),  # As configs/inpainting_imagenet.py.
            num_groups=4 if smoke else 32,  # As configs/inpainting_imagenet.py.
        )
    )
    c.label_smoothing = 0.0
    c.init_from = "runs/inpaint_in1k"  # Pretraining workdir; "" with method=supervised: scratch.
    c.init_subtree = "backbone"  # Filled from the inpainting run's generator/encoder.
    c.batch_size = 256
    c.total_steps = 30 * EPOCH // 256
    c.log_every = 100
    c.eval_every = 5 * EPOCH // 256
    c.checkpoint_every = 5 * EPOCH // 256
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3  # Constant per-step rate (lr_scaling none), cosine decay.
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = EPOCH // 256
    c.optimizer.weight_decay = 1e-4
    if smoke:
        shrink_to_smoke(c, total_steps=4)
    return c
