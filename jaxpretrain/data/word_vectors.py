"""Word-vector data: a vocabulary, chunks of the corpus, and the settings of word2vec's sampling.

The word2vec recipe (Mikolov et al. 2013a, 2013b; the reference `word2vec.c`):

- words: the corpus text lowercased, split into maximal runs of letters, digits and apostrophes
  (`[\\w']+`), so "earth." and "Earth" are the word "earth" (the similarity sets are lowercase);
- vocabulary: words seen at least `min_count` times, by descending count (ties alphabetical);
  other words are dropped from the stream before windowing, as word2vec does;
- frequent-word subsampling with threshold t (`sample`), word2vec.c's formula (not the paper's
  1 − √(t/f)): word w of relative frequency f(w) is kept with probability
  min(1, √(t/f(w)) + t/f(w)) (`keep_probabilities`);
- a dynamic window: each target draws b uniform in [1, window] and its context is the kept words
  at distances 1..b on either side (nearer words are thus weighted more);
- negatives: K ids per target drawn from the unigram distribution raised to 0.75,
  P(n) ∝ count(n)^0.75 (Mikolov et al. 2013b, Sec. 2.2), by inverse-CDF sampling
  (`negative_cdf`).

The corpus is read in two streamed passes, as word2vec.c does (count the words, then encode
them): memory holds a block of text, the counts and the int32 id array (4 bytes per word), never
the corpus's words as strings (`corpus.corpus_lines`).

Why chunks: a per-word source would cost a Python call per word, far from millions of words/s.
The source's item i is instead a chunk of `chunk` consecutive in-vocabulary words (word2vec.c
cuts its sentences at 1000 words the same way; windows never cross a chunk), {"ids": int32 [L]}.
The draws (subsampling, windows, negatives) happen on the device inside the train step
(`methods.cbow.draw_batch`, from the step's key): the host only ships raw chunk ids, 4 bytes per
word, so nothing holds the corpus's training triples and no host thread competes with the step;
`cbow_sampling` gives that step its validated settings and tables. Batch s is a pure function of
(seed, s), and every epoch subsamples and draws afresh. The "eval" split is the first
`eval_chunks` chunks under a fixed draw: a loss to watch, not held-out data.

Subword bags (`subwords`, Bojanowski et al. 2017, and BPE) are in `word_subwords`.
"""

from __future__ import annotations

import collections
import functools
import os
import re
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from jaxpretrain.data.base import Dataset, field
from jaxpretrain.data.corpus import corpus_key, corpus_lines
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
        return cls.from_counts(collections.Counter(words), min_count=min_count)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], *, min_count: int) -> Vocabulary:
        """`build` from {word: count} (a streamed pass's counts)."""
        if min_count < 1:
            raise DataError(f"data.min_count must be a positive int, got {min_count}.")
        if not counts:
            raise DataError("the corpus has no words: check data.corpus (is the text empty?).")
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


def _blocks(lines: Iterable[str], size: int = 1 << 20) -> Iterator[str]:
    """`lines` joined into blocks of about `size` characters, cut between lines: `words_of` a
    block is the words of its lines, and a block amortises the per-call cost."""
    block, length = [], 0
    for line in lines:
        block.append(line)
        length += len(line)
        if length >= size:
            yield "\n".join(block)
            block, length = [], 0
    if block:
        yield "\n".join(block)


@functools.lru_cache(maxsize=4)
def _cached(corpus: tuple, min_count: int, subword_fields: tuple) -> WordData:
    # Two streamed passes (count, then encode), as word2vec.c's LearnVocabFromTrainFile and
    # TrainModelThread: memory holds a block of text, the counts and the int32 ids, never the
    # corpus's words.
    counts: collections.Counter = collections.Counter()
    for block in _blocks(corpus_lines(dict(corpus))):
        counts.update(words_of(block))
    vocabulary = Vocabulary.from_counts(counts, min_count=min_count)
    del counts
    ids = np.empty(int(vocabulary.counts.sum()), np.int32)  # Exactly the in-vocabulary words.
    filled = 0
    for block in _blocks(corpus_lines(dict(corpus))):
        block_ids = vocabulary.encode(words_of(block))
        block_ids = block_ids[block_ids >= 0]
        ids[filled : filled + len(block_ids)] = block_ids
        filled += len(block_ids)
    if filled != len(ids):
        raise DataError(
            f"the corpus changed while it was read ({filled} words, then {len(ids)}): keep"
            " data.corpus's files unchanged during a run."
        )
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

    The eval split is training text under a fixed draw (the eval step draws with a fixed key):
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


class CbowSampling(NamedTuple):
    """word2vec's sampling settings of a "words" data config, validated (`cbow_sampling`).

    Attributes:
        window: the largest dynamic window; each target draws b uniform in [1, window].
        negatives: K, negatives per target.
        sample: the subsampling threshold t (0: keep every word).
        shared_by: consecutive positions of a chunk sharing one draw of K negatives.
        keep: float32 [V], `keep_probabilities(counts, sample)`.
        cdf: float32 [V], `negative_cdf(counts)`.
    """

    window: int
    negatives: int
    sample: float
    shared_by: int
    keep: np.ndarray
    cdf: np.ndarray

    @classmethod
    def from_counts(
        cls, counts: np.ndarray, *, window: int, negatives: int, sample: float, shared_by: int
    ) -> CbowSampling:
        """The settings with their tables derived from the vocabulary's word counts."""
        return cls(
            window,
            negatives,
            sample,
            shared_by,
            keep_probabilities(counts, sample).astype(np.float32),
            negative_cdf(counts).astype(np.float32),
        )


def cbow_sampling(data_config: Any) -> CbowSampling:
    """The `CbowSampling` of a "words" data config: its vocabulary's counts, and the fields
    `window` (default 5), `negatives` (default 5), `sample` (default 1e-3),
    `negatives_shared_by` (default 1) and `chunk` (default 1000), which must be a multiple of
    `negatives_shared_by`. The draws themselves happen inside the train step
    (`methods.cbow.draw_batch`)."""
    window = int(field(data_config, "window", 5))
    negatives = int(field(data_config, "negatives", 5))
    sample = float(field(data_config, "sample", 1e-3))
    shared_by = int(field(data_config, "negatives_shared_by", 1))
    chunk = int(field(data_config, "chunk", 1000))
    if window < 1:
        raise DataError(f"data.window must be a positive int, got {window}.")
    if negatives < 1:
        raise DataError(f"data.negatives must be a positive int, got {negatives}.")
    if shared_by < 1:
        raise DataError(f"data.negatives_shared_by must be a positive int, got {shared_by}.")
    if chunk % shared_by:
        raise DataError(
            f"data.chunk ({chunk}) must be a multiple of data.negatives_shared_by"
            f" ({shared_by}): each group of positions shares one draw of negatives."
        )
    return CbowSampling.from_counts(
        word_data(data_config).vocabulary.counts,
        window=window,
        negatives=negatives,
        sample=sample,
        shared_by=shared_by,
    )
