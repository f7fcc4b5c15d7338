"""ELMo pretraining (a character-aware bidirectional LSTM LM) on the King James Bible, offline.

  python scripts/train.py --config=configs/elmo_kjv.py --workdir=runs/elmo_kjv
  python scripts/train.py --config=configs/elmo_kjv.py:smoke --workdir=/tmp/elmo_kjv

Sentences are verses, tokens ELMo's (words and punctuation, case kept), read as characters;
the softmax covers the training tokens seen twice or more (8,894 + <S>, </S>, <UNK>). Every
tenth chapter is held out (the same chapters as configs/bert_kjv.py): the eval split, whose
perplexity is reported over every one of its predictions with the full softmax, and the only
text the downstream KJV tasks are built from (configs/probe_kjv.py). The model is bilm-tf's,
scaled down (``config.elmo_kjv_model``): 5 character filters (224 maps), 1 highway layer, P 128,
2 LSTM layers of F 256 per direction: 2.5M parameters, 1.15M of them the softmax.

Measured (2 CPU cores, seed 0): held-out perplexity after 600 steps 69.0 forward, 69.9 backward,
69.45 averaged, over all 96,393 predictions of the held-out chapters (1.2% of them <UNK>); 105.7,
107.4 and 106.5 at step 200, 74.7, 75.5 and 75.1 at step 400; a unigram model of the training
text scores 320.6. A step takes 1.86 s on 2 quiet cores (scripts/benchmark.py, median of 5):
600 steps are ~19 min (the measured run shared the cores with 2-3 other jobs and took 50 min);
``--config.total_steps=320`` is a ~10 min run.
"""

import ml_collections

from jaxpretrain.config import base_config, elmo_kjv_model, is_smoke, shrink_to_smoke


def get_config(arg=None):
    smoke = is_smoke(arg)
    c = base_config()
    c.method = "elmo"
    c.model = elmo_kjv_model(smoke=smoke)
    c.data = ml_collections.ConfigDict(
        dict(
            name="sentences",  # Sentences packed into rows, as characters (data.sentences).
            corpus="kjv",  # The King James Bible; or "files:<glob>" (a sentence per line).
            heldout_every=10,  # Every tenth chapter is the eval split, never trained on.
            min_count=2,  # Softmax words: training tokens seen this often; the rest are <UNK>.
            length=128,  # T, tokens per row (whole sentences, each <S> ... </S>).
            max_chars=50,  # C, characters per token (ELMo's); longer words are cut.
            max_sentences=200 if smoke else 0,  # Sentences of each split kept; 0: all.
        )
    )
    # K log-uniform candidates of a sampled softmax in training (bilm-tf: 8,192 of 793k words);
    # 0: the full softmax (eval always uses it). At V = 8,897 the full softmax wins on CPU: 512
    # candidates make a step 1.75x faster, but 600 such steps (10.5 min) reach perplexity 97.9
    # where the full softmax's reach 69.5 (and 75.1 at step 400, 12.4 min in).
    c.sampled_softmax = 0
    c.init_subtree = ""  # A run started from an elmo run inherits every parameter.
    c.total_steps = 600  # 600 x 32 rows of ~110 tokens: ~2.1M tokens, 2.4 epochs.
    c.batch_size = 32  # Rows per step: 32 x 128 = 4,096 token positions.
    c.log_every = 50
    c.eval_every = 200
    c.checkpoint_every = 200
    c.optimizer.name = "adamw"
    c.optimizer.base_lr = 2e-3
    c.optimizer.lr_scaling = "none"
    c.optimizer.warmup_steps = 60
    c.optimizer.decay = "cosine"
    c.optimizer.grad_clip_norm = 10.0  # bilm-tf clips the global norm at 10.
    if smoke:
        shrink_to_smoke(c)
    return c
