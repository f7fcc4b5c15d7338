"""CPC pretraining on MNIST-1D signals without labels (van den Oord et al. 2018, Sec. 3.1).

  python scripts/train.py --config=configs/cpc_mnist1d.py --workdir=runs/cpc_mnist1d
  python scripts/train.py --config=configs/cpc_mnist1d.py:smoke --workdir=/tmp/cpc_mnist1d

Then the linear probe on its frozen features, and the baselines (configs/cpc_probe_mnist1d.py):

  python scripts/compare.py --pretrain_config=configs/cpc_mnist1d.py \
      --finetune_config=configs/cpc_probe_mnist1d.py --budgets=1000 --seeds=0 --workdir=runs/cmp

Expected (2 shared CPU cores, ~2 min): eval/mi_bound/dt{1,2,3,4} ~1.24, 0.27, 0.21, 0.19 nats
(of ln 640 = 6.46 possible: 64 signals x 10 frames), falling with the offset; the linear probe on
the frozen features reaches eval/accuracy ~0.80 on the 1,000 test signals, where the random-init
encoder's probe gets ~0.60 and the same encoder trained with labels ~0.93 (logistic regression on
the raw signal: ~0.32, Greydanus 2020).
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "cpc"
    c.data = ml_collections.ConfigDict(
        dict(
            name="mnist1d",  # 40-sample 1-D digits generated locally (no download).
            seed=42,  # The published data set's generator seed.
            num_samples=5000,  # 4,000 train + 1,000 test signals.
            num_classes=10,  # Digits 0-9 (only the probe uses labels).
        )
    )
    # The sequence backbone; configs/cpc_probe_mnist1d.py reads this block so checkpoints fit.
    c.model = ml_collections.ConfigDict(
        dict(
            backbone="cpc_sequence",  # models.BACKBONES: strided 1-D convs + a GRU.
            features=16 if smoke else 128,  # D: channels of the conv encoder (latents z_t).
            # Kernel = stride: z_t sees its own 4 samples only, so c_t (GRU over z_<=t) never sees
            # an input of z_{t+k} and every offset is a real prediction of the future.
            kernels=(2, 2, 1),  # Kernel of each 1-D conv.
            strides=(2, 2, 1),  # 40 samples -> T' = 10 latents.
            context_features=16 if smoke else 128,  # D_c: the GRU's width (context c_t).
            pool="both",  # Probe features: time-means of z and c; or "context", "encoder", "last".
        )
    )
    c.cpc = ml_collections.ConfigDict(
        dict(
            offsets=4,  # K: predict z_{t+1} .. z_{t+4} from c_t.
            offset_weights=(),  # λ_k per offset; empty: all 1 (the paper's sum).
        )
    )
    c.total_steps = 2000
    c.batch_size = 64  # 64 signals x 10 latents: 639 negatives per prediction.
    c.log_every = 100
    c.eval_every = 1000
    c.checkpoint_every = 1000
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"  # Adam: the lr does not scale with the batch.
    c.optimizer.warmup_steps = 100
    if smoke:
        shrink_to_smoke(c)
    return c
