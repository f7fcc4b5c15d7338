"""fastText-style CBOW with character n-gram subwords on the King James Bible.

  python scripts/train.py --config=configs/fasttext_kjv.py --workdir=runs/fasttext_kjv
  python scripts/evaluate.py --workdir=runs/fasttext_kjv
  python scripts/train.py --config=configs/fasttext_kjv.py:smoke --workdir=/tmp/fasttext_kjv

`configs/cbow_kjv.py` (same data, window, negatives, schedule) with Bojanowski et al. 2017's
subwords: each word's input vector is the mean of its own row and the rows of its character
3..6-grams of "<word>", hashed (FNV-1a) into 100k buckets (fastText uses 2M; the KJV's 5,332 words
have ~60k distinct n-grams; a step updates only the rows it reads, so more buckets cost memory and
checkpoint size, not step time). Out-of-vocabulary words in the similarity sets get vectors from
their n-grams.
Measured (2 CPU cores; `python scripts/peers/word_vectors.py --repeats=3
--only=ours,gensim,fasttext,ours_fasttext`, medians): 27.3 s wall, 0.145M words/s against fastText cbow's 0.64M;
eval/loss_per_word 2.45; WordSim-353 Spearman 0.350 on the 48 in-vocabulary pairs (fastText
0.385; 0.034 on all 353 with n-gram vectors for OOV words), SimLex-999 0.074 (fastText -0.01),
Google analogies 3CosAdd 14.1% of the 906 covered (fastText 7.1%).
"""

import os

from jaxpretrain.config import load


def get_config(arg=None):
    c = load(os.path.join(os.path.dirname(__file__), "cbow_kjv.py"), arg)
    c.data.subwords = "ngrams"  # Character n-grams (data.word_subwords).
    c.data.minn = 3  # Shortest n-gram.
    c.data.maxn = 6  # Longest n-gram.
    c.data.buckets = 100_000  # Hash buckets (input rows after the V word rows).
    return c
