"""Linear probe on frozen CPC features of MNIST-1D, and its baselines (van den Oord et al.
2018, Sec. 3.1: a linear classifier on the pretrained representation).

  python scripts/train.py --config=configs/cpc_mnist1d.py --workdir=runs/cpc_mnist1d
  python scripts/train.py --config=configs/cpc_probe_mnist1d.py --workdir=runs/probe \
      --config.init_from=runs/cpc_mnist1d
  # Random-init probe (frozen untrained encoder): --config.method=supervised --config.init_from=''
  # Supervised encoder of the same size: --config.method=supervised --config.init_from='' \
  #   --config.optimizer.freeze='' --config.optimizer.base_lr=3e-3

Expected (2 shared CPU cores, ~30 s each): eval/accuracy ~0.80 on the 1,000 test signals from
CPC features, ~0.60 from a random encoder, ~0.93 for the supervised encoder (Greydanus 2020:
logistic regression on the raw signal ~0.32, MLP ~0.68, CNN ~0.94).
"""

import os

from jaxpretrain.config import base_config, is_smoke, load, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "finetune"  # A linear head on the CPC backbone; "supervised" without init_from.
    # Data and backbone exactly as configs/cpc_mnist1d.py has them, so its checkpoints fit.
    pretraining = load(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpc_mnist1d.py"), arg
    )
    c.data = pretraining.data
    c.model = pretraining.model
    c.init_from = "runs/cpc_mnist1d"  # The CPC workdir; "" (method=supervised): random init.
    c.init_subtree = "backbone"  # The probe inherits the conv encoder and the GRU.
    c.total_steps = 1000
    c.batch_size = 64
    c.log_every = 100
    c.eval_every = 250
    c.checkpoint_every = 1000
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 0.03  # A linear head on fixed features takes a large Adam step.
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = 50
    c.optimizer.freeze = "backbone"  # A linear probe; "" trains the encoder too (supervised).
    if smoke:
        shrink_to_smoke(c)
    return c
