"""Information-theoretic co-training on MNIST-1D signals without labels (McAllester 2018, "Information
Theoretic Co-Training", arXiv 1802.07572): discrete codes of each frame, predicted from the past.

  python scripts/train.py --config=configs/cotraining_mnist1d.py --workdir=runs/cotraining_mnist1d
  python scripts/train.py --config=configs/cotraining_mnist1d.py:smoke --workdir=/tmp/cot_mnist1d
  # Without the collapse guard: --config.cotraining.code_entropy_weight=0

Then the same linear probe as CPC's (configs/cpc_probe_mnist1d.py reads the same data and model
blocks; the run's ENCODER "encoder/backbone" fills the probe's "backbone"):

  python scripts/train.py --config=configs/cpc_probe_mnist1d.py --workdir=runs/cot_probe \
      --config.init_from=runs/cotraining_mnist1d
  python scripts/probe_table.py --table_workdir=runs/probe_table    # vs CPC, random, supervised

Expected (2 shared CPU cores, ~2 min; 3 seeds): eval/mi/dt{1,2,3,4} ~0.22, 0.05, 0.06, 0.06 nats,
eval/entropy/marginal ~0.38, eval/code_perplexity ~1.45 (the codes settle on ~2 of the K = 16),
eval/code_entropy ~0.005. Without the guards (center_codes=False, code_entropy_weight=0) every
frame takes one code: perplexity 1 and Î -> 0 (0.005 at step 2,000). The linear probe reaches
eval/accuracy 0.540 ± 0.012, below the random-init encoder (0.599), CPC 0.803 and supervised
0.938.
"""

import os

import ml_collections

from jaxpretrain.config import base_config, is_smoke, load, optimizer_config, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "cotraining"
    # Data and the encoder's sequence backbone exactly as configs/cpc_mnist1d.py has them (the
    # code head reads its conv features), so the CPC probe config fits this run's checkpoints.
    pretraining_peer = load(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpc_mnist1d.py"), arg
    )
    c.data = pretraining_peer.data
    c.model = pretraining_peer.model
    c.cotraining = ml_collections.ConfigDict(
        dict(
            num_codes=16,  # K: codes per frame (Î <= ln K = 2.77 nats).
            offsets=4,  # D: predict the codes at t+1 .. t+4 from c_t (as CPC's K = 4).
            offset_weights=(),  # λ_Δt per offset; empty: all 1.
            marginal_weight=1.0,  # λ in Σ λ_Δt Î_Δt - λ Ĥ(z); must lie in (0, Σ λ_Δt).
            # The collapse guards (DINO's pair): centering the code logits over the batch stops
            # one code taking every frame; γ E_x H(q(·|x)) (sharpening) stops uniform codes.
            center_codes=True,  # Centre the code logits on their batch mean.
            code_entropy_weight=1.0,  # γ; 0 disables the sharpening.
        )
    )
    c.total_steps = 2000
    c.batch_size = 64  # 64 signals x 10 frames per step.
    c.log_every = 100
    c.eval_every = 1000
    c.checkpoint_every = 1000
    # The encoder's optimizer (as CPC's).
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3
    c.optimizer.lr_scaling = "none"  # Adam: the lr does not scale with the batch.
    c.optimizer.warmup_steps = 100
    # The entropy models' optimizers: faster, so they track the codes (Ψ ≈ Ψ*(Φ)).
    c.optimizers = ml_collections.ConfigDict()
    for player in ("marginal", "conditional"):
        c.optimizers[player] = optimizer_config("adamw", base_lr=1e-2)  # 10x the encoder's.
        c.optimizers[player].lr_scaling = "none"  # Adam: the lr does not scale with the batch.
        c.optimizers[player].decay = "constant"  # The models keep tracking to the end.
        c.optimizers[player].warmup_steps = 0  # Zero-initialised: no warm-up needed.
    if smoke:
        shrink_to_smoke(c)
    return c
