"""GPT-2 causal language modelling on the King James Bible (offline, Debian's bible-kjv).

  python scripts/train.py --config=configs/gpt2_kjv.py --workdir=runs/gpt2_kjv
  python scripts/train.py --config=configs/gpt2_kjv.py:smoke --workdir=/tmp/gpt2_kjv

A 4-layer, 256-wide GPT-2 (3.2M non-embedding parameters) over a byte-level BPE of 4,096 ids
trained on the first 95% of the text; the last 5% (the end of the New Testament) is held out.
Expected (2 CPU cores: 9 min 11 s at ~48 windows/s on one machine, 13 min 55 s at ~33 windows/s
on a busier one; runs are deterministic, and einsum and blocked attention gave the same figures):
train loss ~3.6 and eval/loss 4.267 nats/token after 800 steps (eval/bits_per_token 6.16; with
3.87 bytes per eval token, 1.59 bits per byte), from ln 4096 = 8.3 at step 0 (eval/loss 4.86 at
step 200, 4.53 at 400, 4.33 at 600).
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "gpt2"
    c.data = ml_collections.ConfigDict(
        dict(
            name="text",  # Windows of a tokenized corpus (jaxpretrain.data.lm).
            corpus="kjv",  # The King James Bible; or "files:<glob>", "tfds:<name>".
            vocab_size=512 if smoke else 4096,  # V of the byte-level BPE (trained on train only).
            context=32 if smoke else 128,  # W: tokens the model reads per window.
            eval_fraction=0.05,  # Tail of the text (by characters) held out for evaluation.
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            variant="gpt2",  # Preset whose fields the entries below replace.
            num_layers=2 if smoke else 4,  # L Transformer blocks.
            num_heads=2 if smoke else 4,  # H attention heads; must divide width.
            width=32 if smoke else 256,  # D, the residual stream width.
            dropout_rate=0.0,  # Embedding/residual dropout; the corpus is seen < 1 epoch.
            dtype="float32",  # Compute dtype; "bfloat16" on accelerators.
            # Flash-style blocks: on 2 CPU cores 1.05x "einsum" (the equations) at T 128, 1.2x at
            # T 256 and less memory; "cudnn": flash attention on NVIDIA GPUs (bf16).
            attention="blocked",
        )
    )
    c.total_steps = 800  # 800 x 32 x 128 = 3.3M tokens, ~3.3 epochs of the 0.98M-token train text.
    c.batch_size = 32  # Windows per step.
    c.log_every = 50
    c.eval_every = 200
    c.checkpoint_every = 400
    c.init_subtree = ""  # A fine-tune from a gpt2 run inherits every parameter.
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 1e-3  # Peak lr (no batch scaling, see lr_scaling).
    c.optimizer.lr_scaling = "none"  # lr = base_lr whatever the batch size.
    c.optimizer.warmup_steps = 80  # Linear warm-up from 0.
    c.optimizer.decay = "cosine"  # Cosine decay to end_lr_fraction * base_lr.
    c.optimizer.end_lr_fraction = 0.1  # Final lr 1e-4.
    c.optimizer.b2 = 0.95  # GPT-style Adam second-moment decay.
    c.optimizer.weight_decay = 0.1  # Decoupled, not on biases/norms.
    c.optimizer.grad_clip_norm = 1.0  # Clip the global gradient norm.
    if smoke:
        shrink_to_smoke(c)
    return c
