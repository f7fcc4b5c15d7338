"""Linear probe on the frozen patch encoder of a configs/cpc_digits.py run (the image fine-tune
path: method "finetune" with ``optimizer.freeze="backbone"``), van den Oord et al. 2018, Sec. 3.2.

  python scripts/train.py --config=configs/cpc_digits.py --workdir=runs/cpc_digits
  python scripts/train.py --config=configs/cpc_probe_digits.py --workdir=runs/probe_digits \
      --config.init_from=runs/cpc_digits
  # Random-init probe: --config.method=supervised --config.init_from=''
  # Supervised encoder of the same size: add --config.optimizer.freeze='' and a smaller
  #   --config.optimizer.base_lr=0.01

Features: the patch encoder's outputs, mean-pooled over the 7x7 grid (the paper's probe input).
Expected (2 shared CPU cores, ~3 min each): eval/accuracy ~0.61 from CPC's encoder, ~0.58 from
a random one, ~0.69 for the supervised encoder after 600 steps (after 200: 0.46 vs 0.29). The
grid-pooled features of 8-px patches lose the digit's layout, so every arm stays low here.
"""

import os

from jaxpretrain.config import base_config, is_smoke, load, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "finetune"
    # Data and encoder exactly as configs/cpc_digits.py has them, so its checkpoints fit.
    here = os.path.dirname(os.path.abspath(__file__))
    pretraining = load(os.path.join(here, "cpc_digits.py"), arg)
    c.data = pretraining.data
    c.model = pretraining.model
    c.label_smoothing = 0.0  # Target (1-eps)*onehot + eps/V.
    c.init_from = "runs/cpc_digits"  # The CPC workdir; "" (method=supervised) for random init.
    c.total_steps = 600
    c.batch_size = 32
    c.log_every = 50
    c.eval_every = 200
    c.checkpoint_every = 600
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 0.05  # A linear head on fixed features takes a large Adam step.
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = 20
    c.optimizer.freeze = "backbone"  # A linear probe; "" fine-tunes the encoder too.
    if smoke:
        shrink_to_smoke(c)
    return c
