"""Subword bags: which rows of the input (context) table make up each word's vector.

A word w is a bag B(w) of input rows and its vector is their mean, e′(w) = (1/|B(w)|) Σ_{r∈B(w)}
e′[r] (Bojanowski et al. 2017, "Enriching Word Vectors with Subword Information", Sec. 3.2; they
sum, fastText's code averages). Rows 0..V-1 are the vocabulary's own word vectors; subword rows
follow. Three kinds (`data.subwords`):

- "none": B(w) = {w}, plain word2vec;
- "ngrams": fastText's character n-grams: the n-grams, minn ≤ n ≤ maxn, of "<" + w + ">", each
  hashed with 32-bit FNV-1a (fastText's variant, bytes sign-extended) into one of `buckets`
  rows V + (hash mod buckets), plus w's own row;
- "bpe": the byte-level BPE pieces of " " + w, a BPE of `bpe_vocab` ids learned (Hugging Face
  `tokenizers`, `tokenization.train_bpe`) on the corpus's vocabulary weighted by counts, at rows
  V + piece id, plus w's own row.

An out-of-vocabulary word has no row of its own; `Subwords.bag` gives it its subword rows alone
(empty for "none"). BPE training is deterministic for a given vocabulary, so evaluation rebuilds
the same bags from the saved vocab.txt and the config.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from jaxpretrain.data.tokenization import train_bpe
from jaxpretrain.errors import DataError

SUBWORD_FIELDS = ("subwords", "minn", "maxn", "buckets", "bpe_vocab")
_FNV_OFFSET, _FNV_PRIME, _MASK = 2166136261, 16777619, 0xFFFFFFFF


def fnv1a(text: str) -> int:
    """fastText's `Dictionary::hash`: 32-bit FNV-1a over UTF-8 bytes, each sign-extended first."""
    h = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        h = ((h ^ (byte - 256 if byte > 127 else byte)) & _MASK) * _FNV_PRIME & _MASK
    return h


def char_ngrams(word: str, minn: int, maxn: int) -> list[str]:
    """The n-grams of "<word>", minn ≤ n ≤ maxn, in fastText's order (by start, then length),
    without the lone boundary marks; the whole "<word>" is one when short enough."""
    marked = f"<{word}>"
    return [
        marked[i : i + n]
        for i in range(len(marked))
        for n in range(minn, maxn + 1)
        if i + n <= len(marked) and not (n == 1 and (i == 0 or i + n == len(marked)))
    ]


class Subwords:
    """Bags of input rows.

    Attributes:
        kind: "none", "ngrams" or "bpe".
        table: int32 [V, S], row ids of each vocabulary word's bag (its own id first), -1 padded.
        num_rows: rows of the input table, V plus the subword rows.
    """

    def __init__(self, kind: str, vocabulary_size: int, bag_of, num_subword_rows: int, words):
        self.kind, self._bag_of = kind, bag_of
        self.vocabulary_size = vocabulary_size
        self.num_rows = vocabulary_size + num_subword_rows
        bags = [[i, *(vocabulary_size + r for r in bag_of(w))] for i, w in enumerate(words)]
        self.table = np.full((vocabulary_size, max(map(len, bags))), -1, np.int32)
        for i, bag in enumerate(bags):
            self.table[i, : len(bag)] = bag

    def bag(self, word: str, word_id: int = -1) -> np.ndarray:
        """int32 rows of `word`'s bag: its own row `word_id` (if ≥ 0) and its subword rows."""
        own = [word_id] if word_id >= 0 else []
        return np.asarray(own + [self.vocabulary_size + r for r in self._bag_of(word)], np.int32)


def _bpe_pieces(vocabulary, bpe_vocab: int):
    texts = (" ".join([w] * int(c)) for w, c in zip(vocabulary.words, vocabulary.counts))
    tokenizer = train_bpe(texts, vocab_size=bpe_vocab, special_tokens=())
    return tokenizer.get_vocab_size(), lambda w: tokenizer.encode(" " + w).ids


def build_subwords(vocabulary, fields: dict[str, Any]) -> Subwords:
    """The `Subwords` of `data.subwords` ("none" default; "ngrams" with `minn` (3), `maxn` (6),
    `buckets` (2,000,000, fastText's); "bpe" with `bpe_vocab` (2,000))."""
    kind = fields.get("subwords") or "none"
    words: Sequence[str] = vocabulary.words
    if kind == "none":
        return Subwords(kind, len(words), lambda w: [], 0, words)
    if kind == "ngrams":
        minn, maxn = int(fields.get("minn") or 3), int(fields.get("maxn") or 6)
        buckets = int(fields.get("buckets") or 2_000_000)
        if not 1 <= minn <= maxn or buckets < 1:
            raise DataError(
                f"data.minn={minn}, data.maxn={maxn}, data.buckets={buckets}: need"
                " 1 <= minn <= maxn and buckets >= 1."
            )
        return Subwords(
            kind,
            len(words),
            lambda w: [fnv1a(g) % buckets for g in char_ngrams(w, minn, maxn)],
            buckets,
            words,
        )
    if kind == "bpe":
        size, pieces = _bpe_pieces(vocabulary, int(fields.get("bpe_vocab") or 2000))
        return Subwords(kind, len(words), pieces, size, words)
    raise DataError(f"data.subwords must be 'none', 'ngrams' or 'bpe', got {kind!r}.")
