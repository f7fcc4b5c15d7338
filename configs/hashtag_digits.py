"""Multi-label "hashtag" pretraining (Mahajan et al. 2018) on digits tagged with their properties.

  python scripts/train.py --config=configs/hashtag_digits.py --workdir=runs/hashtag
  python scripts/train.py --config=configs/hashtag_digits.py --workdir=runs/hashtag_sigmoid \
      --config.loss=sigmoid

Every digit carries the tags of jaxpretrain.data.HASHTAGS (even, prime, has_loop, ...), so the
network learns digit identity only through weak, overlapping labels, like Instagram hashtags.
Expected: eval/precision_at_1 ~0.98 after 600 steps. Its backbone fine-tunes like the supervised
one: --config.init_from=runs/hashtag on configs/finetune_digits.py.
"""

import ml_collections

from jaxpretrain.config import base_config, digits_resnet, is_smoke, shrink_to_smoke
from jaxpretrain.data import HASHTAGS


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "hashtag"
    c.data = ml_collections.ConfigDict(
        dict(
            name="digits_hashtags",  # Digits with their multi-label tags; offline.
            num_classes=len(HASHTAGS),  # One output per tag.
            seed=0,  # Seeds the train/test split.
        )
    )
    c.model = digits_resnet(smoke=smoke)
    c.loss = (
        "softmax"  # "softmax" (k-hot targets / k, the paper's choice) or "sigmoid" (per-tag BCE).
    )
    c.total_steps = 600
    c.batch_size = 64
    c.log_every = 50
    c.eval_every = 200
    c.checkpoint_every = 200
    c.optimizer.name = "sgd"
    c.optimizer.base_lr = 0.4
    c.optimizer.warmup_steps = 50
    c.optimizer.weight_decay = 5e-4
    if smoke:
        shrink_to_smoke(c)
    return c
