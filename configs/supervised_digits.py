"""Supervised pretraining of a small ResNet on scikit-learn's digits 0-4 (the demo's upstream task).

  python scripts/train.py --config=configs/supervised_digits.py --workdir=runs/sup
  python scripts/train.py --config=configs/supervised_digits.py:smoke --workdir=/tmp/sup

Expected: eval/accuracy ~0.99 on the held-out digits 0-4 after 600 steps (about a minute on
2 CPU cores). Its backbone is fine-tuned on digits 5-9 by configs/finetune_digits.py.
"""

import ml_collections

from jaxpretrain.config import base_config, digits_resnet, is_smoke, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "supervised"
    c.data = ml_collections.ConfigDict(
        dict(
            name="digits",  # scikit-learn's bundled 8x8 digits: offline, 1,797 images.
            classes=(0, 1, 2, 3, 4),  # Upstream task: these digits, relabelled 0..4.
            num_classes=5,
            per_class=0,  # Training images kept per class; 0 keeps all (~125 each).
            seed=0,  # Seeds the train/test split.
        )
    )
    c.model = digits_resnet(smoke=smoke)
    c.label_smoothing = 0.0  # Target (1-eps)*onehot + eps/V.
    c.total_steps = 600
    c.batch_size = 64
    c.log_every = 50
    c.eval_every = 200
    c.checkpoint_every = 200
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.4  # lr = 0.4 * 64 / 256 = 0.1 by the linear scaling rule.
    c.optimizer.warmup_steps = 50
    c.optimizer.weight_decay = 5e-4
    if smoke:
        shrink_to_smoke(c)
    return c
