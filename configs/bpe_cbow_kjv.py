"""CBOW with BPE subwords on the King James Bible.

  python scripts/train.py --config=configs/bpe_cbow_kjv.py --workdir=runs/bpe_cbow_kjv
  python scripts/evaluate.py --workdir=runs/bpe_cbow_kjv
  python scripts/train.py --config=configs/bpe_cbow_kjv.py:smoke --workdir=/tmp/bpe_cbow_kjv

`configs/cbow_kjv.py` with BPE subwords: a byte-level BPE of 2,000 pieces is learned on the
corpus's vocabulary weighted by counts (Hugging Face `tokenizers`), and each word's input vector is
the mean of its own row and the rows of the BPE pieces of " word". Out-of-vocabulary words get
the mean of their pieces.
Measured once (2 shared CPU cores, 26 s wall including start-up): WordSim-353 Spearman 0.266 on
the 48 in-vocabulary pairs (0.100 on all 353 with BPE vectors for OOV words), SimLex-999 0.04
(0.09 on all 999), Google analogies 3CosAdd 18.2% of the 906 covered.
"""

import os

from jaxpretrain.config import load


def get_config(arg=None):
    c = load(os.path.join(os.path.dirname(__file__), "cbow_kjv.py"), arg)
    c.data.subwords = "bpe"  # BPE pieces (data.word_subwords).
    c.data.bpe_vocab = 2000  # BPE vocabulary size (256 byte symbols plus merges).
    return c
