"""Offline fine-tuning tasks built from the King James Bible's held-out chapters (no download).

BERT pretraining on the KJV skips the held-out chapters (`corpus.kjv_heldout`, every
`heldout_every`-th chapter); these tasks use only them, so no fine-tuning or evaluation text was
seen in pretraining (`heldout_every` must equal the pretraining config's). The held-out chapters,
in canonical order, alternate between the task's "train" (0th, 2nd, ...) and "eval" (1st, 3rd,
...) chapters, so eval verses come from chapters the fine-tune never saw either. The tasks
(`text_tasks.KJV_TASKS`):
- "section" (one verse, 6 classes, accuracy): the part of the Bible a verse comes from,
  `SECTIONS`: Law (Genesis-Deuteronomy), History (Joshua-Esther), Wisdom (Job-Song of Solomon),
  Prophets (Isaiah-Malachi), Gospels and Acts (Matthew-Acts), Epistles and Revelation
  (Romans-Revelation). A topic task, like SST-2 is a sentiment task.
- "same_book" (a verse pair, accuracy + F1): 1 if both verses come from the same book, 0 if
  from different books. Each verse of the split starts one pair; half the pairs (alternating in
  a permutation fixed by `seed`) are positive, their partner another verse of the same book, the
  rest negative, their partner a verse of another book: a paraphrase-like pair task, like MRPC.
- "grammar" (one verse, 2 classes, MCC): 1 = the verse as written, 0 = the verse with two
  different words swapped, an acceptability task like CoLA (Warstadt et al. 2019). Only words of
  letters alone are swapped (punctuation stays in place), and only verses of at least 4 words
  with two different such words take part. Each verse appears in one form only (half of them,
  chosen by `seed`, corrupted), so a model cannot compare the two forms.

`kjv_task_sources(data_config)` reads the fields `task`, `inputs` ("wordpiece", default, or
"words"), `max_length` (T, default 128), `heldout_every` (default 10), `per_class` (training
examples per class, for same_book per label, the first of a `seed`ed permutation; default 0:
all; eval is never cut) and `seed` (default 0). With "wordpiece" inputs (BERT) it reads `vocab`
(`text_tasks.task_tokenizer`) and items are {"tokens": int32 [T], "token_types": int32 [T],
"valid": bool [T], "label": int32 []}, packed by `WordPieceTokenizer.pack`. With "words" inputs
(ELMo and averaged word vectors; single-sentence tasks) items are {"chars": int32 [T, C], the
verse as ELMo's <S> tokens </S> (`characters`, C = `max_chars`, default 50), "label"}, plus
"words": int32 [T], ids in the CBOW vocabulary `word_vocab` names (a cbow workdir or its
vocab.txt; -1 for padding and unknown words) when it is set. Built once per config values
(cached). Deterministic: equal configs give equal items. Host-side numpy only.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from jaxpretrain.data.base import ArraySource, field
from jaxpretrain.data.characters import MAX_CHARS, sentence_char_ids, tokenize
from jaxpretrain.data.corpus import KJV_BOOKS, Verse, kjv_heldout, kjv_verses
from jaxpretrain.data.text_tasks import (
    KJV_TASKS,
    max_length,
    task_of,
    task_tokenizer,
    vocab_path,
)
from jaxpretrain.data.word_vectors import Vocabulary, words_of
from jaxpretrain.data.wordpiece import WordPieceTokenizer
from jaxpretrain.errors import DataError

SECTIONS = ("Law", "History", "Wisdom", "Prophets", "Gospels and Acts", "Epistles and Revelation")
# The first book of each section: Genesis, Joshua, Job, Isaiah, Matthew, Romans.
_SECTION_STARTS = tuple(
    KJV_BOOKS.index(b) for b in ("Genesis", "Joshua", "Job", "Isaiah", "Matthew", "Romans")
)
SPLITS = ("train", "eval")
INPUTS = ("wordpiece", "words")  # BERT's packed WordPiece ids, or ELMo's characters (+ CBOW ids).
DEFAULT_HELDOUT_EVERY = 10


def section_of(book: int) -> int:
    """The index in `SECTIONS` of book `book` (0 Genesis .. 65 Revelation)."""
    return int(np.searchsorted(_SECTION_STARTS, book, side="right")) - 1


class Example(NamedTuple):
    """One example before tokenization: its texts (one or two), label and the verses used."""

    texts: tuple[str, ...]
    label: int
    verses: tuple[Verse, ...]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"KJV task split must be 'train' or 'eval', got {split!r}.")


@functools.lru_cache(maxsize=8)
def split_verses(split: str, heldout_every: int = DEFAULT_HELDOUT_EVERY) -> tuple[Verse, ...]:
    """The verses of a KJV task split: the held-out chapters alternately "train" and "eval".

    Raises:
        ValueError: `heldout_every` < 1 (nothing held out) or an unknown split.
    """
    _check_split(split)
    if heldout_every < 1:
        raise DataError(
            f"the KJV tasks use the chapters BERT pretraining held out: set data.heldout_every to"
            f" the pretraining config's (>= 1, default 10), got {heldout_every}."
        )
    chapters: dict[tuple[int, int], int] = {}  # Held-out (book, chapter) -> its rank among them.
    verses = []
    for verse in kjv_verses():
        if kjv_heldout(verse, heldout_every):
            rank = chapters.setdefault((verse.book, verse.chapter), len(chapters))
            if rank % 2 == SPLITS.index(split):
                verses.append(verse)
    return tuple(verses)


def _words(verse: Verse) -> list[str]:
    return verse.text.split()


def _section(verses: tuple[Verse, ...], rng: np.random.Generator) -> list[Example]:
    del rng
    return [Example((v.text,), section_of(v.book), (v,)) for v in verses]


def _same_book(verses: tuple[Verse, ...], rng: np.random.Generator) -> list[Example]:
    books = np.asarray([v.book for v in verses])
    examples = []
    for j, i in enumerate(rng.permutation(len(verses))):
        label = int(j % 2 == 0)
        candidates = np.flatnonzero((books == books[i]) if label else (books != books[i]))
        candidates = candidates[candidates != i]
        if len(candidates) == 0:  # Every chapter has 2 verses or more, so never.
            raise DataError(f"no partner for {verses[i]} in the same_book task.")
        k = int(rng.choice(candidates))
        examples.append(Example((verses[i].text, verses[k].text), label, (verses[i], verses[k])))
    return examples


def swappable(words: list[str]) -> list[int]:
    """The positions of `words` the grammar task may swap: words of letters alone."""
    return [p for p, w in enumerate(words) if w.isalpha()]


def _grammar(verses: tuple[Verse, ...], rng: np.random.Generator) -> list[Example]:
    eligible = [
        v
        for v in verses
        if len(_words(v)) >= 4 and len({_words(v)[p] for p in swappable(_words(v))}) >= 2
    ]
    examples = []
    for j, i in enumerate(rng.permutation(len(eligible))):
        verse = eligible[i]
        words = _words(verse)
        label = int(j % 2 == 0)
        if not label:
            positions = swappable(words)
            while True:
                p, q = rng.choice(positions, size=2, replace=False)
                if words[p] != words[q]:
                    break
            words[p], words[q] = words[q], words[p]
        examples.append(Example((" ".join(words),), label, (verse,)))
    return examples


_BUILDERS = {"section": _section, "same_book": _same_book, "grammar": _grammar}


@functools.lru_cache(maxsize=16)
def kjv_task_examples(
    task: str,
    split: str,
    *,
    heldout_every: int = DEFAULT_HELDOUT_EVERY,
    per_class: int = 0,
    seed: int = 0,
) -> tuple[Example, ...]:
    """The examples of a KJV task split, as text (module docstring), in a fixed order.

    Args:
        task: a key of `text_tasks.KJV_TASKS`.
        split: "train" or "eval".
        heldout_every: the pretraining config's `heldout_every` (`corpus.kjv_heldout`).
        per_class: keep the first `per_class` training examples of each label in a permutation
            fixed by `seed` (in their original order); 0 keeps all; ignored for "eval".
        seed: fixes the pairs, the corrupted verses and the per-class choice.
    """
    task_of({"name": "kjv_task", "task": task})  # An unknown task: the error lists them.
    if per_class < 0:
        raise DataError(f"data.per_class must be >= 0 (0: every example), got {per_class}.")
    verses = split_verses(split, heldout_every)
    stream = [seed, list(KJV_TASKS).index(task), SPLITS.index(split)]
    examples = _BUILDERS[task](verses, np.random.default_rng(stream))
    if split == "train" and per_class:
        labels = np.asarray([e.label for e in examples])
        order = np.random.default_rng([*stream, 1]).permutation(len(examples))
        keep = np.concatenate([order[labels[order] == c][:per_class] for c in np.unique(labels)])
        examples = [examples[i] for i in np.sort(keep)]
    return tuple(examples)


def pack_examples(
    examples: tuple[Example, ...], tokenizer: WordPieceTokenizer, length: int
) -> dict[str, np.ndarray]:
    """Packed arrays of `examples`: tokens, token_types int32 [N, T], valid bool [N, T], label
    int32 [N]."""
    if not examples:
        raise DataError("no examples to pack.")
    columns = [
        tokenizer.encode_batch([e.texts[f] for e in examples])
        for f in range(len(examples[0].texts))
    ]
    packed = [tokenizer.pack(*ids, max_length=length) for ids in zip(*columns)]
    arrays = {k: np.stack([getattr(p, k) for p in packed]) for k in packed[0]._fields}
    return {**arrays, "label": np.asarray([e.label for e in examples], np.int32)}


def word_arrays(
    examples: tuple[Example, ...], length: int, max_chars: int, word_vocab: Vocabulary | None
) -> dict[str, np.ndarray]:
    """Arrays of single-sentence `examples` for word-level encoders: chars int32 [N, T, C]
    (ELMo's <S> tokens </S>, `characters`), label int32 [N], and with a CBOW `word_vocab` also
    words int32 [N, T] (its ids of `word_vectors.words_of`, -1 for padding and unknown words).

    Raises:
        ValueError: a sentence-pair task, or a verse of more than T - 2 tokens.
    """
    if not examples:
        raise DataError("no examples to pack.")
    if len(examples[0].texts) != 1:
        raise DataError(
            "data.inputs='words' (ELMo, averaged word vectors) takes single-sentence tasks:"
            f" set data.task to one of {[n for n, t in KJV_TASKS.items() if not t.is_pair]}."
        )
    texts = [e.texts[0] for e in examples]
    arrays = {
        "chars": sentence_char_ids(
            [tokenize(t) for t in texts], max_chars=max_chars, length=length
        ),
        "label": np.asarray([e.label for e in examples], np.int32),
    }
    if word_vocab is not None:
        words = np.full((len(texts), length), -1, np.int32)
        for n, text in enumerate(texts):
            ids = word_vocab.encode(words_of(text))[:length]
            words[n, : len(ids)] = ids
        arrays["words"] = words
    return arrays


@functools.lru_cache(maxsize=8)
def _source(
    task: str,
    split: str,
    inputs: str,
    vocab: str,
    length: int,
    heldout_every: int,
    per_class: int,
    seed: int,
    max_chars: int,
) -> ArraySource:
    """The arrays of one split; ``vocab`` is the WordPiece vocabulary's path ("wordpiece" inputs)
    or the CBOW vocabulary's ("words" inputs; "" for none)."""
    examples = kjv_task_examples(
        task, split, heldout_every=heldout_every, per_class=per_class, seed=seed
    )
    if inputs == "words":
        arrays = word_arrays(
            examples, length, max_chars, _word_vocabulary(vocab) if vocab else None
        )
    else:
        arrays = pack_examples(
            examples, task_tokenizer({"name": "kjv_task", "vocab": vocab}), length
        )
    for array in arrays.values():
        array.setflags(write=False)  # Shared by every Dataset of these config values.
    return ArraySource(arrays)


@functools.lru_cache(maxsize=4)
def _word_vocabulary(path: str) -> Vocabulary:
    return Vocabulary.load(path)


class KjvTaskSources(NamedTuple):
    train: ArraySource
    eval: ArraySource
    tokenizer: WordPieceTokenizer | None


def kjv_task_sources(data_config: Any) -> KjvTaskSources:
    """The train and eval sources and tokenizer of a "kjv_task" data config (module docstring).

    Raises:
        ValueError: an unknown task (the tasks listed) or `inputs`, no `vocab` for WordPiece
            inputs, `heldout_every` < 1, `per_class` < 0, a pair task with word inputs.
        corpus.CorpusNotFoundError: Debian's bible-kjv is not installed.
    """
    task = task_of(data_config)
    inputs = field(data_config, "inputs", "wordpiece")
    if inputs not in INPUTS:
        raise DataError(f"unknown data.inputs {inputs!r}; use one of {INPUTS}.")
    words = inputs == "words"
    tokenizer = None if words else task_tokenizer(data_config)
    values = (
        inputs,
        field(data_config, "word_vocab", "") if words else vocab_path(data_config),
        max_length(data_config),
        int(field(data_config, "heldout_every", DEFAULT_HELDOUT_EVERY)),
        int(field(data_config, "per_class", 0)),
        int(field(data_config, "seed", 0)),
        int(field(data_config, "max_chars", MAX_CHARS)),
    )
    train, evaluation = (_source(task.name, split, *values) for split in SPLITS)
    return KjvTaskSources(train, evaluation, tokenizer)
