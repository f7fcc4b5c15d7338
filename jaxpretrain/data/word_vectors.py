"""Word-vector data: a vocabulary, chunks of the corpus, and the CBOW sampling of word2vec.

The word2vec recipe (Mikolov et al. 2013a, 2013b; the reference `word2vec.c`), host-side numpy:

- words: the corpus text lowercased, split into maximal runs of letters, digits and apostrophes
  (`[\\w']+`), so "earth." and "Earth" are the word "earth" (the similarity sets are lowercase);
- vocabulary: words seen at least `min_count` times, by descending count (ties alphabetical);
  other words are dropped from the stream before windowing, as word2vec does;
- frequent-word subsampling with threshold t (`sample`), word2vec.c's formula (not the paper's
  1 − √(t/f)): word w of relative frequency f(w) is kept with probability
  min(1, √(t/f(w)) + t/f(w));
- a dynamic window: each target draws b uniform in [1, window] and its context is the kept words
  at distances 1..b on either side (nearer words are thus weighted more);
- negatives: K ids per target drawn from the unigram distribution raised to 0.75,
  P(n) ∝ count(n)^0.75 (Mikolov et al. 2013b, Sec. 2.2), by inverse-CDF sampling.

Why chunks: a per-word source would cost a Python call per word, far from millions of words/s.
The source's item i is instead a chunk of `chunk` consecutive in-vocabulary words (word2vec.c
cuts its sentences at 1000 words the same way; windows never cross a chunk), and
`CbowTransform` subsamples it and draws its windows and negatives with vectorised numpy (~2M
words/s on one core); the model gathers each word's context on device. The transform runs as
the `BatchStream` transform, so its generator is seeded from (seed, position): batch s is a pure
function of (seed, s), and every epoch subsamples and draws afresh. Nothing holds the corpus's
training triples: a step builds only its own. The "eval" split is the first `eval_chunks`
chunks under a fixed draw: a loss to watch, not held-out data.

Subword bags (`subwords`, Bojanowski et al. 2017, and BPE) are in `word_subwords`.
"""

from __future__ import annotations

import collections
import functools
import os
import re
from typing import Any, NamedTuple, Sequence

import numpy as np

from jaxpretrain.data.base import Dataset, field
from jaxpretrain.data.corpus import corpus_key, corpus_text
from jaxpretrain.data.word_subwords import SUBWORD_FIELDS, build_subwords
from jaxpretrain.errors import DataError

VOCAB_FILE = "vocab.txt"
_WORD = re.compile(r"[\w']+")


def words_of(text: str) -> list[str]:
    """The words of `text`: lowercased maximal runs of `[\\w']` (letters, digits, apostrophes)."""
    return _WORD.findall(text.lower())


class Vocabulary:
    """Words and their corpus counts, most frequent first; id = position.

    Args:
        words: the words, distinct.
        counts: int [V] their counts in the corpus.
    """

    def __init__(self, words: Sequence[str], counts: Sequence[int] | np.ndarray):
        self.words = tuple(words)
        self.counts = np.asarray(counts, np.int64)
        if len(self.words) != len(self.counts) or len(set(self.words)) != len(self.words):
            raise DataError("Vocabulary needs distinct words, one count each.")
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, words: Sequence[str], *, min_count: int) -> Vocabulary:
        """The words seen at least `min_count` times, by descending count, ties alphabetical."""
        if min_count < 1:
            raise DataError(f"data.min_count must be a positive int, got {min_count}.")
        if not words:
            raise DataError("the corpus has no words: check data.corpus (is the text empty?).")
        counts = collections.Counter(words)
        kept = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        if not kept:
            raise DataError(
                f"data.min_count={min_count} leaves no vocabulary: the most frequent of the"
                f" corpus's {len(counts)} distinct words occurs {max(counts.values())} times;"
                " lower data.min_count."
            )
        return cls(kept, [counts[w] for w in kept])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: Sequence[str]) -> np.ndarray:
        """int32 ids of `words`, -1 for words not in the vocabulary."""
        get = self.index.get
        return np.fromiter((get(w, -1) for w in words), np.int32, count=len(words))

    def save(self, workdir: str) -> str:
        """Writes `<workdir>/vocab.txt`, word2vec's `-save-vocab` format ("word count" per line)."""
        path = os.path.join(workdir, VOCAB_FILE)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(f"{w} {c}\n" for w, c in zip(self.words, self.counts))
        return path

    @classmethod
    def load(cls, path: str) -> Vocabulary:
        """Reads a `save`d vocabulary: `path` is the file or the workdir holding vocab.txt."""
        if os.path.isdir(path):
            path = os.path.join(path, VOCAB_FILE)
        words, counts = [], []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                fields = line.split()
                if len(fields) != 2 or not fields[1].isdigit():
                    raise DataError(f"{path}:{number}: expected 'word count', got {line!r}.")
                words.append(fields[0])
                counts.append(int(fields[1]))
        return cls(words, counts)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} words, {int(self.counts.sum())} tokens)"


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """float64 [V]: P(keep w) = min(1, √(t/f) + t/f), f = count/total, t = `sample` (word2vec.c);
    all ones for sample = 0 (no subsampling)."""
    if sample < 0:
        raise DataError(f"data.sample must be >= 0 (0 disables subsampling), got {sample}.")
    if sample == 0:
        return np.ones(len(counts))
    ratio = sample * counts.sum() / counts  # t / f(w)
    return np.minimum(1.0, np.sqrt(ratio) + ratio)


def negative_cdf(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """float64 [V]: the cumulative unigram^power distribution, last entry 1."""
    weights = np.asarray(counts, np.float64) ** power
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    return cdf


class ChunkSource:
    """Random-access chunks of a word-id stream: item i = {"ids": int32 [chunk]}, -1 padded."""

    def __init__(self, ids: np.ndarray, chunk: int):
        if chunk < 1:
            raise DataError(f"data.chunk must be a positive int, got {chunk}.")
        self.ids, self.chunk = ids, chunk

    def __len__(self) -> int:
        return -(-len(self.ids) // self.chunk)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"chunk {index} out of range [0, {len(self)}).")
        out = np.full(self.chunk, -1, np.int32)
        part = self.ids[index * self.chunk : (index + 1) * self.chunk]
        out[: len(part)] = part
        return {"ids": out}


class CbowTransform:
    """A chunk of word ids -> its kept words, their dynamic windows and negatives (word2vec).

    `transform({"ids": int [L]}, rng)` subsamples the chunk and returns
      "words": int32 [L], the kept words packed to the front in order, -1 after them;
      "reach": int32 [L], b per position, uniform in [1, window]: word i's context is the kept
        words at positions i ± 1..b inside the chunk (`models.CBOW` gathers them on device;
        shipping the [L, 2·window] context ids would cost 2·window times the transfer);
      "negatives": int32 [L / shared_by, K], draws from unigram^0.75, one draw of K per group
        of `shared_by` consecutive positions (1: word2vec's draw per word; `models.cbow_scores`).
    """

    def __init__(
        self,
        counts: np.ndarray,
        *,
        window: int,
        negatives: int,
        sample: float,
        shared_by: int = 1,
    ):
        if window < 1:
            raise DataError(f"data.window must be a positive int, got {window}.")
        if negatives < 1:
            raise DataError(f"data.negatives must be a positive int, got {negatives}.")
        if shared_by < 1:
            raise DataError(f"data.negatives_shared_by must be a positive int, got {shared_by}.")
        self.window, self.negatives, self.shared_by = window, negatives, shared_by
        self.keep = keep_probabilities(counts, sample)
        self.cdf = negative_cdf(counts)

    def __call__(self, example: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
        ids = np.asarray(example["ids"])
        length = len(ids)
        if length % self.shared_by:
            raise DataError(
                f"data.chunk ({length}) must be a multiple of data.negatives_shared_by"
                f" ({self.shared_by}): each group of positions shares one draw of negatives."
            )
        kept = ids[(ids >= 0) & (rng.random(length) < self.keep[np.maximum(ids, 0)])]
        words = np.full(length, -1, np.int32)
        words[: len(kept)] = kept
        negatives = np.searchsorted(
            self.cdf, rng.random((length // self.shared_by, self.negatives)), side="right"
        )
        return {
            "words": words,
            "reach": rng.integers(1, self.window + 1, size=length, dtype=np.int32),
            "negatives": np.minimum(negatives, len(self.cdf) - 1).astype(np.int32),
        }


class WordData(NamedTuple):
    """What `word_data` returns: the tokenizer of a "words" `Dataset`.

    Attributes:
        vocabulary: the `Vocabulary` (min_count applied).
        ids: int32 [N], the corpus as in-vocabulary ids (out-of-vocabulary words dropped).
        subwords: `word_subwords.Subwords`, the bag of input rows of each word.
    """

    vocabulary: Vocabulary
    ids: np.ndarray
    subwords: Any

    def save(self, workdir: str) -> str:
        """Saves what evaluation needs besides params and config.json: vocab.txt (subword bags,
        BPE included, are rebuilt deterministically from it and the config)."""
        return self.vocabulary.save(workdir)

    def bag_budget(self, chunk: int) -> int:
        """P of `models.word_vectors.bag_layout`: the most bag rows Σ|B(w)| of any `chunk`
        consecutive words of `ids` (`ChunkSource`'s items; subsampling only removes words, so
        every training and eval chunk fits)."""
        sizes = (self.subwords.table >= 0).sum(1)[self.ids]  # [N], the bag size of each word
        chunks = -(-len(sizes) // chunk)
        sizes = np.pad(sizes, (0, chunks * chunk - len(sizes)))
        return int(sizes.reshape(chunks, chunk).sum(1).max())


@functools.lru_cache(maxsize=4)
def _cached(corpus: tuple, min_count: int, subword_fields: tuple) -> WordData:
    words = words_of(corpus_text(dict(corpus)))
    vocabulary = Vocabulary.build(words, min_count=min_count)
    ids = vocabulary.encode(words)
    ids = ids[ids >= 0]
    ids.setflags(write=False)
    return WordData(vocabulary, ids, build_subwords(vocabulary, dict(subword_fields)))


def word_data(data_config: Any) -> WordData:
    """The vocabulary, id stream and subword bags of a "words" data config (cached).

    Fields: `corpus` (and the optional corpus fields of `corpus.corpus_text`), `min_count`
    (default 5), and the subword fields of `word_subwords.build_subwords` (`subwords`, ...).
    """
    subword_fields = tuple((k, field(data_config, k)) for k in SUBWORD_FIELDS)
    return _cached(corpus_key(data_config), int(field(data_config, "min_count", 5)), subword_fields)


def word_source(data_config: Any, split: str) -> ChunkSource:
    """ "train": every chunk of the corpus; "eval": its first `eval_chunks` chunks (default 4).

    The eval split is training text under a fixed draw (`eval_batches` seeds the transform with 0):
    a progress measure of the objective, not held-out data; word-vector quality is measured by
    `jaxpretrain.evaluate.word_vectors`.
    """
    data = word_data(data_config)
    source = ChunkSource(data.ids, int(field(data_config, "chunk", 1000)))
    if split == "train":
        return source
    eval_chunks = int(field(data_config, "eval_chunks", 4))
    return ChunkSource(data.ids[: eval_chunks * source.chunk], source.chunk)


def dataset_words(dataset: Dataset) -> WordData:
    """The `WordData` of a "words" `Dataset` (its tokenizer); a clear error for other data."""
    if not isinstance(dataset.tokenizer, WordData):
        raise DataError(
            f"word vectors need a 'words' data set, got data.name={dataset.config.get('name')!r}:"
            " set data.name='words' (see configs/cbow_kjv.py)."
        )
    return dataset.tokenizer


def cbow_transform(dataset: Dataset) -> CbowTransform:
    """The `CbowTransform` of a "words" `Dataset`: its vocabulary's counts, and the fields
    `window` (default 5), `negatives` (default 5), `sample` (default 1e-3) and
    `negatives_shared_by` (default 1) of the config it was built from."""
    config = dataset.config
    return CbowTransform(
        dataset_words(dataset).vocabulary.counts,
        window=int(field(config, "window", 5)),
        negatives=int(field(config, "negatives", 5)),
        sample=float(field(config, "sample", 1e-3)),
        shared_by=int(field(config, "negatives_shared_by", 1)),
    )
