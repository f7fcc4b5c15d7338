"""Sentences for a bidirectional language model (ELMo), packed into rows: the "sentences" data set.

A sentence is `characters.tokenize`'s tokens between <S> and </S>. The forward LM predicts each
token from the ones before it in its sentence, the backward LM from the ones after; no context
crosses a sentence boundary. Consecutive sentences are packed greedily into rows of T tokens
(`length`), so a step spends almost no compute on padding (KJV verses average 29 tokens); the
model restarts its LSTM state at each sentence (`segments`). A sentence of more than T - 2
tokens is cut into pieces of T - 2, each a sentence of its own (none in the KJV at T = 128).

Splits: with `corpus` "kjv" a sentence is a verse and the eval split is the chapters
`corpus.kjv_heldout` holds out (`heldout_every`, default 10, as BERT's pretraining): the KJV
tasks (`kjv_tasks`) are built from those chapters only, so no downstream text is trained on.
Other corpora ("files:<glob>", "tfds:<name>": `corpus.corpus_text`) have a sentence per line,
and the last `eval_fraction` (default 0.05) of the lines is the eval split.

The vocabulary (the softmax's ids): 0 = <S>, 1 = </S>, 2 = <UNK>, then the training tokens seen at
least `min_count` times (default 2, so that <UNK> is trained), most frequent first: the order a
log-uniform sampled softmax assumes. Inputs are characters, so every token, in the vocabulary or
not, has its own input; only the targets of rare and unseen tokens are <UNK>.

Items: {"chars": int32 [T, C] (`characters`, 0 for padding), "ids": int32 [T] (softmax ids, -1
for padding), "segments": int32 [T] (the sentence's number within the row from 1, 0 for
padding)}. Host-side numpy only.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Sequence

import numpy as np

from jaxpretrain.data.base import field
from jaxpretrain.data.characters import BOS, EOS, MAX_CHARS, char_table, tokenize
from jaxpretrain.data.corpus import corpus_key, corpus_text, kjv_heldout, kjv_verses
from jaxpretrain.data.word_vectors import Vocabulary
from jaxpretrain.errors import DataError

SPECIALS = (BOS, EOS, "<UNK>")
UNK = 2
DEFAULT_LENGTH = 128


class SentenceVocabulary(NamedTuple):
    """The tokenizer of a "sentences" `Dataset`: the softmax vocabulary and the character budget.

    Attributes:
      words: the `word_vectors.Vocabulary` of kept training tokens; softmax id = 3 + its id.
      max_chars: C, characters per token.
    """

    words: Vocabulary
    max_chars: int

    @property
    def vocab_size(self) -> int:
        """V = 3 specials + the kept tokens."""
        return len(SPECIALS) + len(self.words)

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """int32 softmax ids of `tokens` (<S>, </S> included), <UNK> (2) for unknown ones."""
        special = {s: i for i, s in enumerate(SPECIALS)}
        known = self.words.encode(tokens)
        out = np.where(known >= 0, known + len(SPECIALS), UNK).astype(np.int32)
        for n, token in enumerate(tokens):
            if token in special:
                out[n] = special[token]
        return out

    def save(self, workdir: str) -> str:
        """Writes <workdir>/vocab.txt ("token count" per line, most frequent first; the three
        specials are implicit)."""
        return self.words.save(workdir)


class PackedSentences:
    """Rows of packed sentences (module docstring): a random-access source.

    Args:
      spellings: int32 [R, T], each position's row in `chars` (its token's spelling), -1 padding.
      ids: int32 [R, T], softmax ids, -1 padding.
      segments: int32 [R, T], sentence numbers within the row from 1, 0 padding.
      chars: int16 [S, C], the character ids of every distinct token.
    """

    def __init__(self, spellings, ids, segments, chars):
        self.spellings, self.ids, self.segments, self.chars = spellings, ids, segments, chars
        for array in (spellings, ids, segments, chars):
            array.setflags(write=False)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        spelling = self.spellings[index]
        chars = np.where(spelling[:, None] >= 0, self.chars[np.maximum(spelling, 0)], 0)
        return {
            "chars": chars.astype(np.int32),
            "ids": self.ids[index],
            "segments": self.segments[index],
        }

    @property
    def num_tokens(self) -> int:
        """Real tokens (<S> and </S> included)."""
        return int((self.ids >= 0).sum())

    def __repr__(self) -> str:
        return f"PackedSentences({len(self)} rows of {self.ids.shape[1]}, {self.num_tokens} tokens)"


def pack_rows(lengths: Sequence[int], length: int) -> list[list[int]]:
    """Greedy packing: consecutive sentences of `lengths` tokens (each <= `length`) into rows of
    at most `length` tokens; returns the sentence indices of each row."""
    rows, row, used = [], [], 0
    for index, n in enumerate(lengths):
        if used + n > length:
            rows.append(row)
            row, used = [], 0
        row.append(index)
        used += n
    if row:
        rows.append(row)
    return rows


def _pieces(tokens: list[str], most: int) -> list[list[str]]:
    return [tokens[i : i + most] for i in range(0, len(tokens), most)]


def _pack(
    sentences: list[list[str]], vocab: SentenceVocabulary, spelling: dict[str, int], length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pieces = [[BOS, *p, EOS] for s in sentences if s for p in _pieces(s, length - len((BOS, EOS)))]
    rows = pack_rows([len(p) for p in pieces], length)
    spellings = np.full((len(rows), length), -1, np.int32)
    ids = np.full((len(rows), length), -1, np.int32)
    segments = np.zeros((len(rows), length), np.int32)
    for r, members in enumerate(rows):
        tokens = [t for m in members for t in pieces[m]]
        spellings[r, : len(tokens)] = [spelling[t] for t in tokens]
        ids[r, : len(tokens)] = vocab.ids(tokens)
        segments[r, : len(tokens)] = np.repeat(
            np.arange(1, len(members) + 1), [len(pieces[m]) for m in members]
        )
    return spellings, ids, segments


def _split_sentences(corpus: tuple, heldout_every: int, eval_fraction: float):
    """(train, eval) lists of sentences as token lists."""
    if dict(corpus)["corpus"] == "kjv":
        verses = kjv_verses()
        train = [tokenize(v.text) for v in verses if not kjv_heldout(v, heldout_every)]
        held = [tokenize(v.text) for v in verses if kjv_heldout(v, heldout_every)]
        return train, held
    lines = [tokenize(line) for line in corpus_text(dict(corpus)).splitlines()]
    lines = [line for line in lines if line]
    cut = len(lines) - int(round(len(lines) * eval_fraction))
    return lines[:cut], lines[cut:]


class SentenceSources(NamedTuple):
    train: PackedSentences
    eval: PackedSentences
    tokenizer: SentenceVocabulary


@functools.lru_cache(maxsize=4)
def _cached(
    corpus: tuple,
    heldout_every: int,
    eval_fraction: float,
    min_count: int,
    length: int,
    max_chars: int,
    max_sentences: int,
) -> SentenceSources:
    train, held = _split_sentences(corpus, heldout_every, eval_fraction)
    if max_sentences:
        train, held = train[:max_sentences], held[:max_sentences]
    if not train or not held:
        raise DataError(
            f"the sentences split leaves {len(train)} training and {len(held)} eval sentences:"
            " set data.heldout_every (kjv) or data.eval_fraction so that both have some."
        )
    vocab = SentenceVocabulary(
        Vocabulary.build([t for s in train for t in s], min_count=min_count), max_chars
    )
    distinct = sorted({t for s in train + held for t in s} | {BOS, EOS})
    spelling = {t: i for i, t in enumerate(distinct)}
    chars = char_table(distinct, max_chars)
    train_arrays, eval_arrays = (_pack(s, vocab, spelling, length) for s in (train, held))
    return SentenceSources(
        PackedSentences(*train_arrays, chars), PackedSentences(*eval_arrays, chars), vocab
    )


def sentence_sources(data_config: Any) -> SentenceSources:
    """The train and eval sources and vocabulary of a "sentences" data config (cached).

    Fields: `corpus` (and the corpus fields of `corpus.corpus_text`), `heldout_every` (kjv,
    default 10), `eval_fraction` (other corpora, default 0.05), `min_count` (default 2),
    `length` (T, default 128), `max_chars` (C, default 50), `max_sentences` (the first this many
    sentences of each split, for tests and smoke runs; default 0: all).

    Raises:
      ValueError: `length` < 3, an empty split, or a `min_count` that keeps nothing.
      corpus.CorpusNotFoundError: the corpus is missing.
    """
    length = int(field(data_config, "length", DEFAULT_LENGTH))
    if length < 3:
        raise DataError(f"data.length must be >= 3 (<S>, a token, </S>), got {length}.")
    return _cached(
        corpus_key(data_config),
        int(field(data_config, "heldout_every", 10)),
        float(field(data_config, "eval_fraction", 0.05)),
        int(field(data_config, "min_count", 2)),
        length,
        int(field(data_config, "max_chars", MAX_CHARS)),
        int(field(data_config, "max_sentences", 0)),
    )
