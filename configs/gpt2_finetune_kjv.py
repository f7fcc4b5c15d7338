"""Fine-tune Hugging Face GPT-2 weights on the King James Bible (offline once downloaded).

  python scripts/train.py --config=configs/gpt2_finetune_kjv.py:/models/gpt2 --workdir=runs/ft
  python scripts/train.py --config=configs/gpt2_finetune_kjv.py:smoke,/tmp/tiny_gpt2 \\
      --workdir=/tmp/ft

The argument is a Hugging Face GPT-2 directory (``config.json``, ``model.safetensors`` or
``pytorch_model.bin``, and GPT-2's ``vocab.json`` + ``merges.txt``, e.g. a download of
openai-community/gpt2), optionally preceded by "smoke,". The model's size, vocabulary and
learned positions come from the directory's config.json; every parameter starts from its
weights (``init_from=hf:<dir>``) and the text is encoded with its own tokenizer
(``data.tokenizer``), so the ids mean what they meant in pretraining. The held-out tail and the
metrics are those of configs/gpt2_kjv.py, so the two runs' eval/loss compare directly only when
the tokenizers agree; compare bits per byte (eval/loss / ln 2 / bytes per token) otherwise.
"""

import json
import os

from jaxpretrain.config import load
from jaxpretrain.errors import ConfigError, NotFoundError
from jaxpretrain.interop import gpt2_config_from_hf


def get_config(arg=None):
    smoke, _, directory = (arg or "").rpartition(",")
    if directory in ("", "smoke") or smoke not in ("", "smoke"):
        raise ConfigError(
            f"config argument {arg!r}: give a Hugging Face GPT-2 directory, e.g. "
            "configs/gpt2_finetune_kjv.py:/models/gpt2 (or :smoke,/models/gpt2)"
        )
    config_file = os.path.join(directory, "config.json")
    if not os.path.isfile(config_file):
        raise NotFoundError(
            f"{config_file!r} does not exist: the argument must be a Hugging Face GPT-2 directory"
        )
    with open(config_file) as f:
        hf = gpt2_config_from_hf(json.load(f))
    # Data, optimizer and schedule of the from-scratch run (smoke or not), then the import.
    c = load(os.path.join(os.path.dirname(__file__), "gpt2_kjv.py"), smoke or None)
    c.init_from = "hf:" + directory  # Every parameter starts from the imported weights.
    c.data.tokenizer = directory  # GPT-2's vocab.json + merges.txt, not a BPE trained here.
    c.data.vocab_size = hf["vocab_size"]  # Must equal the tokenizer's size (checked).
    c.data.context = min(c.data.context, hf["max_length"])  # Windows read by the model.
    c.model.num_layers = hf["num_layers"]
    c.model.num_heads = hf["num_heads"]
    c.model.width = hf["width"]
    c.model.max_length = hf["max_length"]  # Keep all learned positions (HF n_positions).
    c.model.layer_norm_epsilon = hf["layer_norm_epsilon"]
    c.model.dropout_rate = 0.0  # Fine-tuning for < 1 epoch; HF's 0.1 would only add noise.
    c.optimizer.base_lr = 1e-4  # A tenth of the from-scratch peak lr: start from a good model.
    if not smoke:  # GPT-2 124M on one accelerator: minutes; on 2 CPU cores, hours.
        c.total_steps, c.batch_size, c.eval_every, c.checkpoint_every = 300, 16, 100, 100
    c.optimizer.warmup_steps = c.total_steps // 10
    return c
