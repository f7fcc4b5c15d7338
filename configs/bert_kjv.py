"""BERT pretraining (masked LM + next sentence) on the King James Bible (offline, Debian's bible-kjv).

  python scripts/train.py --config=configs/bert_kjv.py --workdir=runs/bert_kjv
  python scripts/train.py --config=configs/bert_kjv.py:smoke --workdir=/tmp/bert_kjv

A 4-layer, 256-wide BERT (3.2M parameters in its layers) over a WordPiece vocabulary of 8,192
ids trained on the pretraining text. Documents are chapters and sentences are verses; every
tenth chapter is held out (``heldout_every``): those 119 chapters are the eval split here, and
the only text the fine-tuning tasks (configs/finetune_bert_kjv.py) are built from. Instances
(sentence pair, truncation, 15% of tokens masked) are drawn afresh every epoch.
Expected (2 CPU cores, seed 0): on the held-out chapters after 600 steps, masked-LM loss 5.43
and accuracy 0.149, next-sentence loss 0.671 and accuracy 0.582 (from ln 8192 = 9.0, 0 and
ln 2, 0.5; at step 200: 5.67, 0.125, 0.536). 600 steps take ~8 min at the 1.28 steps/s measured
with one other job on the machine (25 min when it was shared with three). This is early BERT:
the masked LM is just past unigram statistics; the fine-tunes still gain from it
(scripts/compare.py, README).
"""

import ml_collections

from jaxpretrain.config import base_config, bert_kjv_model, is_smoke, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "bert"
    c.model = bert_kjv_model(smoke=smoke)
    c.data = ml_collections.ConfigDict(
        dict(
            name="bert_pretraining",  # Sentence pairs with masks, made on the fly.
            corpus="kjv",  # The King James Bible; or "files:<glob>", "tfds:<name>".
            document="chapter",  # A KJV document: "chapter" or "book"; sentences are verses.
            heldout_every=10,  # Every tenth chapter is held out from pretraining.
            vocab_size=c.model.vocab_size,  # WordPiece ids (trained on the pretraining text).
            vocab="",  # Or a vocab.txt (a BERT's), used instead of training one.
            lowercase=True,  # An uncased model: lower-case and strip accents.
            max_length=c.model.max_length,  # T, tokens per instance ([CLS] A [SEP] B [SEP]).
            max_predictions=5 if smoke else 20,  # P, masked positions per instance at most.
            mask_rate=0.15,  # Share of the tokens chosen for prediction.
            short_seq_prob=0.1,  # Instances given a random shorter target length.
            whole_word=False,  # Mask whole words (all their ## pieces) together.
        )
    )
    c.init_subtree = ""  # A run started from a bert run inherits every parameter.
    c.total_steps = 600  # 600 x 32 instances of ~122 real tokens: ~2.3M tokens, ~2.8 epochs.
    c.batch_size = 32  # Instances per step: 32 x 128 = 4,096 tokens.
    c.log_every = 50
    c.eval_every = 200
    c.checkpoint_every = 300
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 5e-4  # Peak lr (no batch scaling, see lr_scaling).
    c.optimizer.lr_scaling = "none"  # lr = base_lr whatever the batch size.
    c.optimizer.warmup_steps = 60  # Linear warm-up over the first 10% (BERT: 10k of 1M).
    c.optimizer.decay = "linear"  # Then linear decay to 0 (BERT).
    c.optimizer.weight_decay = 0.01  # Decoupled, not on biases/norms (BERT).
    c.optimizer.grad_clip_norm = 1.0  # Clip the global gradient norm (BERT).
    if smoke:
        shrink_to_smoke(c)
    return c
