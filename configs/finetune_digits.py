"""Fine-tune the digits 0-4 backbone on digits 5-9 with only 10 labels per class, new head.

  python scripts/train.py --config=configs/supervised_digits.py --workdir=runs/sup
  python scripts/train.py --config=configs/finetune_digits.py --workdir=runs/ft --config.init_from=runs/sup
  # Linear probe (frozen backbone): add --config.optimizer.freeze=backbone
  # From-scratch baseline with the same budget: --config.method=supervised --config.init_from=''

Expected: fine-tuned eval/accuracy ~0.9 on held-out 5-9 after 300 steps, where training from
scratch on the same 50 images reaches ~0.75 (scripts/compare.py prints the full table).
"""

import ml_collections

from jaxpretrain.config import base_config, digits_resnet, is_smoke, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "finetune"
    c.data = ml_collections.ConfigDict(
        dict(
            name="digits",
            classes=(
                5,
                6,
                7,
                8,
                9,
            ),  # Downstream task: digits the backbone never saw, relabelled 0..4.
            num_classes=5,
            per_class=10,  # Few labels: 10 training images per class.
            seed=0,
        )
    )
    c.model = digits_resnet(smoke=smoke)  # Must match the pretraining model.
    c.label_smoothing = 0.0
    c.init_from = (
        "runs/sup"  # Pretraining workdir; "" with method=supervised is the scratch baseline.
    )
    c.total_steps = 300
    c.batch_size = 32
    c.log_every = 25
    c.eval_every = 50
    c.checkpoint_every = 300
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.4  # lr = 0.05 at batch 32.
    c.optimizer.warmup_steps = 20
    c.optimizer.weight_decay = 5e-4
    if smoke:
        shrink_to_smoke(c)
    return c
