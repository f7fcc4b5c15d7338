"""word2vec CBOW with negative sampling on the King James Bible (offline, Debian's bible-kjv).

  python scripts/train.py --config=configs/cbow_kjv.py --workdir=runs/cbow_kjv
  python scripts/evaluate.py --workdir=runs/cbow_kjv
  python scripts/train.py --config=configs/cbow_kjv.py:smoke --workdir=/tmp/cbow_kjv

The issue's benchmark settings: vector size 100, window 5, 5 negatives, min_count 5, 5 epochs,
subsampling 1e-3, plain SGD decaying linearly to 0. The KJV has 790k words, 776k of them in the
5,332-word vocabulary: 6,213 chunks of 125 words per epoch, 8 chunks per step.
Measured (2 quiet CPU cores; `python scripts/peers/word_vectors.py --repeats=3`, medians, same
run): 5.4 s wall for the whole run, 0.727M corpus words/s, against gensim Word2Vec(sg=0,
workers=2) 3.03M (1.96M effective) and fastText cbow 0.76M words/s: 0.24x gensim. Where the time
goes: the steps ~3.6-4.4 s (0.92-1.1 ms per step of 1,000 words: gathers, scatter-adds, the window
means' and negatives' small matmuls, XLA:CPU's per-op overhead), the metric curves' PNG 0.6 s,
building the data and state ~1 s; compiling (1.8 s) is skipped on a rerun, whose programs come
from the compilation cache (without it: 7.3-8.2 s). gensim's whole run takes 1.3 s.
eval/loss_per_word 1.96; WordSim-353 Spearman 0.242 on the 48 in-vocabulary pairs (OOV ratio
86%; gensim 0.284, fastText 0.395), SimLex-999 -0.00 (gensim 0.04, fastText -0.01), Google
analogies 3CosAdd 5.8% of the 906 covered questions (gensim 5.5%, fastText 7.0%). Seeds 0, 1, 2:
ρ 0.242, 0.132, 0.137 and analogies 5.8%, 5.3%, 5.1% (the host-side sampling before: ρ 0.217,
0.187, 0.100 and 6.5%, 4.7%, 6.2%).
"""

import ml_collections

from jaxpretrain.config import base_config, is_smoke, shrink_to_smoke

EPOCHS = 5
CHUNK = 125  # Words per chunk.
CHUNKS_PER_EPOCH = 6213  # ceil(776,505 in-vocabulary words / 125)


def data_config(**subwords) -> ml_collections.ConfigDict:
    """The KJV "words" data block shared by the CBOW configs, plus subword fields."""
    return ml_collections.ConfigDict(
        dict(
            name="words",  # Chunks of word ids with word2vec's sampling (data.word_vectors).
            corpus="kjv",  # The King James Bible; or "files:<glob>", "tfds:<name>".
            min_count=5,  # Words seen fewer times are dropped before windowing.
            chunk=CHUNK,  # L words per chunk; windows stay inside (word2vec.c cuts at 1000).
            window=5,  # Maximum window; each target draws b uniform in [1, window].
            negatives=5,  # K negatives per target, from unigram^0.75.
            # Consecutive words sharing one draw of K negatives (Ji et al. 2016): 5 is 1.3x faster
            # than word2vec's own draw per word (1) at equal quality; 25 loses quality.
            negatives_shared_by=5,
            sample=1e-3,  # Subsampling threshold t (word2vec.c's formula); 0 disables.
            eval_chunks=4,  # The "eval" split: the first chunks under a fixed draw.
            **subwords,
        )
    )


def cbow_config(smoke: bool, data: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Everything but the data block: CBOW model, word2vec's SGD schedule, 5 epochs."""
    c = base_config()
    c.method = "cbow"
    c.data = data
    c.model = ml_collections.ConfigDict(
        dict(features=16 if smoke else 100)  # D, the vector size.
    )
    # Chunks per step: 1,000 words, ~650 after subsampling. The loss is a sum, so a frequent word's
    # rows get the sum of its occurrences' gradients at once; with 16k-word steps the common
    # (frequency) direction swamps every vector (all cosines ~1), so steps stay small.
    # Re-measured with the draws on the device (2 shared CPU cores): 8, 16 and 32 chunks cost the
    # same ~1.5-1.8 µs of CPU per word, so the smaller, better step stays.
    c.batch_size = 8
    # Steps per jitted call (a loop over 8 steps' chunks): halves the CPU time per word against 1
    # (the per-step host work: dispatch, batch assembly); the same parameters as 1.
    c.steps_per_dispatch = 8
    c.total_steps = -(-EPOCHS * CHUNKS_PER_EPOCH // c.batch_size)  # 3,884 steps = 5 epochs.
    c.log_every = 500
    c.eval_every = 0  # Only the final evaluation (a loss on fixed chunks).
    c.checkpoint_every = 1000  # Plus the final checkpoint.
    c.init_subtree = ""  # A fine-tune from a cbow run inherits both tables.
    c.optimizer.name = "sgd"
    c.optimizer.momentum = 0.0  # Plain SGD, as word2vec.
    # α per word (the loss is a sum over words): twice word2vec's CBOW 0.05, since the gradient
    # reaching each context word is divided by |c| (the mean), which word2vec.c's update is not.
    c.optimizer.base_lr = 0.1
    c.optimizer.lr_scaling = "none"  # The sum already scales with the batch.
    c.optimizer.warmup_steps = 0
    c.optimizer.decay = "linear"  # Linear decay to 0 over the run, as word2vec.
    c.optimizer.end_lr_fraction = 0.0
    if smoke:
        shrink_to_smoke(c)
        c.optimizer.warmup_steps = 0
        c.data.eval_chunks = 2
    return c


def get_config(arg=None):
    smoke = is_smoke(arg)
    return cbow_config(smoke, data_config())
