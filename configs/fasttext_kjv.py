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
Measured (2 quiet CPU cores; `python scripts/peers/word_vectors.py --only=ours_fasttext,fasttext
--repeats=3`, medians, same run): 13.1 s wall, 0.301M words/s against fastText cbow's 0.757M
(0.40x). A step of 1,000 words gathers ~16.6k bag rows (the chunks' budget of slots, padding
included), sums them per position and scatter-adds their gradients (~3 ms per step, most of it
those four passes over rows at ~15-35 ns per 100-float row).
eval/loss_per_word 2.45; WordSim-353 Spearman 0.372 on the 48 in-vocabulary pairs (fastText
0.386), SimLex-999 0.095 (fastText -0.01), Google analogies 3CosAdd 14.7% of the 906 covered
(fastText 7.6%).
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
