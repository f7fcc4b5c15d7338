"""Fine-tune the ImageNet context encoder's encoder on PASCAL VOC 2007 classification (TFDS
voc/2007): the transfer task of Pathak et al. 2016, Table 2.

  python scripts/train.py --config=configs/inpainting_imagenet.py --workdir=runs/inpaint_in1k
  tfds build voc/2007 --file_format=array_record      # once, needs `pip install jaxpretrain[data]`
  python scripts/train.py --config=configs/finetune_inpainting_voc2007.py --workdir=runs/ft_voc --config.init_from=runs/inpaint_in1k
  # From scratch: --config.init_from=''; linear probe: --config.optimizer.freeze=backbone
  python scripts/compare.py --pretrain_config=configs/inpainting_imagenet.py \
      --finetune_config=configs/finetune_inpainting_voc2007.py --budgets=2000,8000 --seeds=0 \
      --workdir=runs/compare_voc --metric=eval/precision_at_1

Each image's set of object classes is a k-hot target over the 20 classes, learnt with one sigmoid
per class (the `hashtag` method's multi-label loss) on 128x128 random-resized crops of trainval,
evaluated on test. The paper reports mAP (56.5% for the context encoder vs 53.3% for random
init); we log precision@1 (whether the top-scoring class is present), which eval batches can
average exactly. Expected: the pretrained encoder ahead of random init, most at short budgets.
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke

TRAINVAL = 5_011


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "hashtag"  # Multi-label classification of the k-hot "tags".
    c.loss = "sigmoid"  # One binary cross-entropy per class, as usual on VOC.
    c.data = ml_collections.ConfigDict(
        dict(
            name="tfds:voc/2007",
            num_classes=20,  # VOC's object classes: the length of the k-hot tags.
            data_dir="",  # TFDS data_dir; "" = $TFDS_DATA_DIR or ~/tensorflow_datasets.
            train_split="train+validation",  # VOC 2007 trainval.
            eval_split="test",
            image_size=32 if smoke else 128,  # As configs/inpainting_imagenet.py.
            augment=True,  # Random-resized crop and horizontal flip.
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
    c.init_from = "runs/inpaint_in1k"  # Pretraining workdir; "" trains from scratch.
    c.init_subtree = "backbone"  # Filled from the inpainting run's generator/encoder.
    c.batch_size = 64
    c.total_steps = 80 * TRAINVAL // 64
    c.log_every = 50
    c.eval_every = 10 * TRAINVAL // 64
    c.checkpoint_every = 10 * TRAINVAL // 64
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3  # Constant per-step rate (lr_scaling none), cosine decay.
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = 200
    c.optimizer.weight_decay = 1e-4
    if smoke:
        shrink_to_smoke(c, total_steps=4)
    return c
