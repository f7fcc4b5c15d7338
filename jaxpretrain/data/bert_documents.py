"""BERT pretraining text: documents of sentences, tokenized once, and the chunk anchors a source reads.

BERT's pretraining input (Devlin et al. 2019, Sec. 3.1 and A.2; google-research/bert's
create_pretraining_data.py) is a corpus of *documents*, each a list of *sentences*: next-sentence
prediction pairs a stretch of a document with its actual continuation or with a stretch of
another document. `bert_sources(data_config)` builds:

1. the documents of `data_config.corpus`, split into train and eval:
   - "kjv": sentences are verses, documents chapters (`document` = "chapter") or books
     ("book"). The chapters `corpus.kjv_heldout(verse, heldout_every)` picks are never trained
     on: they are the eval documents (the KJV fine-tuning tasks use only them). A document is a
     run of consecutive verses of one chapter (or book) on one side of that split, so a book's
     training document stops where a held-out chapter was removed and the next sentence is
     always the real one. `heldout_every` = 0 holds out the last `eval_fraction` of documents.
   - "files:<glob>": google-research/bert's format: one sentence per line, blank lines between
     documents (a file's end also ends one); eval is the last `eval_fraction` of documents.
   - "tfds:<name>": each record's `text_feature` is a document, split into sentences at line
     breaks and after . ! ? followed by whitespace; eval as for files.
2. a WordPiece tokenizer trained on the training sentences only (or read from `vocab`);
3. every sentence tokenized once, stored flat (`TokenizedDocuments`: one int32 id array and
   offsets; no instances and no dupe_factor copies are materialised);
4. the *chunk anchors*: a greedy pass over each document cuts it into consecutive chunks of
   sentences, each ending at the first sentence that brings it to max_num_tokens =
   max_length - 3 tokens or at the document's end (create_instances_from_document's chunks for
   the full target length), so that one epoch over the anchors is about one pass over the text.

The instances themselves (masks, pairs) are drawn at read time by `bert_pretraining`'s
transform. Everything is cached per config values (`functools.lru_cache`). Host-side numpy only.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from typing import Any, NamedTuple, Sequence

import numpy as np

from jaxpretrain.data.base import field
from jaxpretrain.data.corpus import (
    corpus_key,
    kjv_heldout,
    kjv_verses,
    read_text_files,
    text_file_paths,
    tfds_texts,
)
from jaxpretrain.data.wordpiece import VOCAB_FILE, WordPieceTokenizer
from jaxpretrain.errors import DataError

DOCUMENT_KINDS = ("chapter", "book")  # The KJV's documents.
# A sentence ends at a line break, or after . ! or ? followed by whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class RawDocuments(NamedTuple):
    """Documents as text. `documents[d]` is a list of (sentence number, sentence text); the
    number is the sentence's place in the corpus's reading order (for the KJV, its index in
    `corpus.kjv_verses()`)."""

    train: list[list[tuple[int, str]]]
    eval: list[list[tuple[int, str]]]


@dataclasses.dataclass(frozen=True, eq=False)
class TokenizedDocuments:
    """Tokenized documents, flat: S sentences of D documents, N tokens in all.

    Attributes:
        ids: int32 [N], every sentence's WordPiece ids, back to back (no special tokens).
        sentence_starts: int64 [S + 1]; sentence s is `ids[sentence_starts[s]:sentence_starts[s+1]]`.
        document_starts: int64 [D + 1]; document d is sentences
            `document_starts[d]` .. `document_starts[d+1] - 1`.
        sentence_numbers: int64 [S], each sentence's place in the corpus's reading order (for
            the KJV, its verse index in `corpus.kjv_verses()`): where it came from.
    """

    ids: np.ndarray
    sentence_starts: np.ndarray
    document_starts: np.ndarray
    sentence_numbers: np.ndarray

    @property
    def num_documents(self) -> int:
        return len(self.document_starts) - 1

    @property
    def num_sentences(self) -> int:
        return len(self.sentence_starts) - 1

    @property
    def num_tokens(self) -> int:
        return len(self.ids)

    def sentence(self, s: int) -> np.ndarray:
        """int32 [L]: the ids of sentence s."""
        return self.ids[self.sentence_starts[s] : self.sentence_starts[s + 1]]

    def document_of(self, s: int) -> int:
        """The document that sentence s belongs to."""
        return int(np.searchsorted(self.document_starts, s, side="right")) - 1


def _chapter_runs(key_of: Any, items: Sequence[Any]) -> list[list[Any]]:
    """`items` cut into maximal runs of consecutive items with equal `key_of(item)`."""
    runs: list[list[Any]] = []
    last = object()
    for item in items:
        key = key_of(item)
        if not runs or key != last:
            runs.append([])
        runs[-1].append(item)
        last = key
    return runs


def _tail_split(documents: list, eval_fraction: float) -> RawDocuments:
    """The last `eval_fraction` of `documents` (at least 2 when there are 4 or more) as eval."""
    if not 0.0 < eval_fraction < 1.0:
        raise DataError(f"data.eval_fraction must be in (0, 1), got {eval_fraction}.")
    num_eval = max(2, int(round(len(documents) * eval_fraction)))
    num_eval = min(num_eval, max(len(documents) - 2, 0))
    cut = len(documents) - num_eval
    return RawDocuments(documents[:cut], documents[cut:])


def _kjv_documents(kind: str, heldout_every: int, eval_fraction: float) -> RawDocuments:
    verses = list(enumerate(kjv_verses()))
    heldout = {i for i, verse in verses if kjv_heldout(verse, heldout_every)}
    if kind == "chapter":
        runs = _chapter_runs(lambda iv: (iv[1].book, iv[1].chapter, iv[0] in heldout), verses)
    else:
        runs = _chapter_runs(lambda iv: (iv[1].book, iv[0] in heldout), verses)
    documents = [[(i, verse.text) for i, verse in run] for run in runs]
    if heldout_every == 0:
        return _tail_split(documents, eval_fraction)
    train = [d for d in documents if d[0][0] not in heldout]
    return RawDocuments(train, [d for d in documents if d[0][0] in heldout])


def _numbered(documents: list[list[str]]) -> list[list[tuple[int, str]]]:
    """Documents of sentences, each sentence numbered in reading order; empty ones dropped."""
    numbered, count = [], 0
    for document in documents:
        sentences = [s for s in (t.strip() for t in document) if s]
        numbered.append(list(enumerate(sentences, count)))
        count += len(sentences)
    return [d for d in numbered if d]


def _file_documents(corpus: str) -> list[list[str]]:
    documents: list[list[str]] = []
    for path in text_file_paths(corpus):
        documents.append([])
        for line in read_text_files([path]).splitlines():
            if line.strip():
                documents[-1].append(line)
            elif documents[-1]:
                documents.append([])
    return documents


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`: cut at line breaks and after . ! ? followed by whitespace."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def raw_documents(data_config: Any) -> RawDocuments:
    """The train and eval documents of `data_config.corpus`, as text (see the module docstring).

    Raises:
        ValueError: an unknown corpus or document kind, or a bad eval_fraction / heldout_every.
        corpus.CorpusNotFoundError, base.DatasetNotFoundError: the corpus is missing.
    """
    corpus = field(data_config, "corpus")
    kind = field(data_config, "document", "chapter")
    if kind not in DOCUMENT_KINDS:
        raise DataError(
            f"Unknown data.document {kind!r}; expected 'chapter' or 'book' (the KJV's documents)."
        )
    eval_fraction = float(field(data_config, "eval_fraction", 0.05))
    if corpus == "kjv":
        heldout_every = int(field(data_config, "heldout_every", 10))
        return _kjv_documents(kind, heldout_every, eval_fraction)
    if isinstance(corpus, str) and corpus.startswith("files:") and len(corpus) > len("files:"):
        return _tail_split(_numbered(_file_documents(corpus)), eval_fraction)
    if isinstance(corpus, str) and corpus.startswith("tfds:") and len(corpus) > len("tfds:"):
        texts = tfds_texts(corpus[len("tfds:") :], data_config)
        return _tail_split(_numbered([split_sentences(t) for t in texts]), eval_fraction)
    raise DataError(
        f"Unknown corpus {corpus!r} for BERT pretraining; expected 'kjv', 'files:<glob>' (one"
        " sentence per line, blank lines between documents) or 'tfds:<name>'."
    )


def tokenize_documents(
    documents: list[list[tuple[int, str]]], tokenizer: WordPieceTokenizer
) -> TokenizedDocuments:
    """`documents` encoded in one `encode_batch`; sentences with no tokens and documents with
    no sentences left are dropped (as create_pretraining_data.py does)."""
    texts = [text for document in documents for _, text in document]
    encoded = tokenizer.encode_batch(texts) if texts else []
    pieces, numbers, document_starts, k = [], [], [0], 0
    for document in documents:
        for number, _ in document:
            if len(encoded[k]):
                pieces.append(encoded[k])
                numbers.append(number)
            k += 1
        if len(pieces) > document_starts[-1]:
            document_starts.append(len(pieces))
    lengths = np.asarray([len(p) for p in pieces], np.int64)
    arrays = (
        np.concatenate(pieces).astype(np.int32) if pieces else np.zeros(0, np.int32),
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        np.asarray(document_starts, np.int64),
        np.asarray(numbers, np.int64),
    )
    for array in arrays:
        array.setflags(write=False)
    return TokenizedDocuments(*arrays)


class BertCorpus(NamedTuple):
    """What `tokenized_corpus` returns: the tokenizer and both splits' tokenized documents."""

    tokenizer: WordPieceTokenizer
    train: TokenizedDocuments
    eval: TokenizedDocuments


def _check_documents(name: str, num_train: int, num_eval: int) -> None:
    for split, count in (("train", num_train), ("eval", num_eval)):
        if count < 2:
            raise DataError(
                f"the {split} part of corpus {name!r} has {count} document(s), but next sentence"
                " prediction draws B from another document: give the corpus at least 4 documents"
                " (blank lines between them in 'files:'), or hold out more."
            )


def _load_vocab(path: str, lowercase: bool | None) -> WordPieceTokenizer:
    if lowercase is None:  # As the folder's tokenizer_config.json says (uncased if none).
        return WordPieceTokenizer.load(path)
    return WordPieceTokenizer.from_vocab(
        os.path.join(path, VOCAB_FILE) if os.path.isdir(path) else path, lowercase=lowercase
    )


@functools.lru_cache(maxsize=4)
def _tokenized(
    corpus: tuple,
    document_fields: tuple,
    vocab_size: int | None,
    lowercase: bool | None,
    vocab: str,
) -> BertCorpus:
    raw = raw_documents({**dict(corpus), **dict(document_fields)})
    name = dict(corpus)["corpus"]
    _check_documents(name, len(raw.train), len(raw.eval))
    if vocab:
        tokenizer = _load_vocab(vocab, lowercase)
        if vocab_size is not None and vocab_size != tokenizer.vocab_size:
            raise DataError(
                f"data.vocab {vocab!r} has {tokenizer.vocab_size} ids but data.vocab_size="
                f"{vocab_size}: set data.vocab_size={tokenizer.vocab_size} or leave it unset."
            )
    else:
        wanted = 8192 if vocab_size is None else vocab_size
        texts = [text for document in raw.train for _, text in document]
        tokenizer = WordPieceTokenizer.train(
            texts, vocab_size=wanted, lowercase=True if lowercase is None else lowercase
        )
        if tokenizer.vocab_size != wanted:
            raise DataError(
                f"WordPiece on corpus {name!r} stopped at {tokenizer.vocab_size} ids, below"
                f" data.vocab_size={wanted}: the text is too small; set"
                f" data.vocab_size={tokenizer.vocab_size} or lower."
            )
    train, evaluation = (tokenize_documents(d, tokenizer) for d in (raw.train, raw.eval))
    _check_documents(name, train.num_documents, evaluation.num_documents)
    return BertCorpus(tokenizer, train, evaluation)


def tokenized_corpus(data_config: Any) -> BertCorpus:
    """The tokenizer and the tokenized train/eval documents of a BERT data config (cached per
    the corpus fields, `document`, `heldout_every`, `eval_fraction`, `vocab_size`, `lowercase`,
    `vocab`; see `registry` for the fields)."""
    document_fields = tuple(
        (k, field(data_config, k)) for k in ("document", "heldout_every", "eval_fraction")
    )
    vocab_size = field(data_config, "vocab_size")
    lowercase = field(data_config, "lowercase")
    return _tokenized(
        corpus_key(data_config),
        document_fields,
        None if vocab_size is None else int(vocab_size),
        None if lowercase is None else bool(lowercase),
        str(field(data_config, "vocab", "")),
    )


def chunk_anchors(documents: TokenizedDocuments, max_num_tokens: int) -> np.ndarray:
    """The greedy chunks of every document: int32 [C, 3] rows (document, first sentence, last
    sentence), sentence numbers global and the last inclusive. A chunk ends at the first sentence
    that brings it to `max_num_tokens` tokens, or at its document's end."""
    lengths = np.diff(documents.sentence_starts)
    rows = []
    for d in range(documents.num_documents):
        start, end = int(documents.document_starts[d]), int(documents.document_starts[d + 1])
        first, total = start, 0
        for s in range(start, end):
            total += int(lengths[s])
            if total >= max_num_tokens or s == end - 1:
                rows.append((d, first, s))
                first, total = s + 1, 0
    return np.asarray(rows, np.int32).reshape(-1, 3)


class ChunkSource:
    """A random-access source of chunk anchors over tokenized documents.

    Item i is {"document": int32 [], "first_sentence": int32 [], "last_sentence": int32 []}
    (global sentence numbers of `corpus`, last inclusive); `bert_pretraining.instance_transform`
    turns it into a masked [CLS] A [SEP] B [SEP] instance, drawing B's other documents from this
    same `corpus`.

    Attributes:
        corpus: the `TokenizedDocuments` the anchors index.
        tokenizer: the `WordPieceTokenizer` of its ids.
        max_length: T, the instance length the chunks are cut for (max_num_tokens = T - 3).
        anchors: int32 [C, 3], `chunk_anchors(corpus, T - 3)`.
    """

    def __init__(self, corpus: TokenizedDocuments, tokenizer: WordPieceTokenizer, max_length: int):
        self.corpus = corpus
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.anchors = chunk_anchors(corpus, max_length - 3)
        self.anchors.setflags(write=False)

    def __len__(self) -> int:
        return len(self.anchors)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        document, first, last = self.anchors[int(index)]
        return {"document": document, "first_sentence": first, "last_sentence": last}

    def __repr__(self) -> str:
        return (
            f"ChunkSource({len(self)} chunks of {self.corpus.num_documents} documents,"
            f" {self.corpus.num_tokens} tokens, max_length={self.max_length})"
        )


class BertSources(NamedTuple):
    """What `bert_sources` returns."""

    train: ChunkSource
    eval: ChunkSource
    tokenizer: WordPieceTokenizer


def check_max_length(max_length: int) -> int:
    if max_length < 8:
        raise DataError(
            f"data.max_length must be at least 8 ([CLS] A [SEP] B [SEP] needs room), got"
            f" {max_length}; BERT uses 128 or 512."
        )
    return max_length


@functools.lru_cache(maxsize=4)
def _sources(corpus: BertCorpus, max_length: int) -> BertSources:
    return BertSources(
        ChunkSource(corpus.train, corpus.tokenizer, max_length),
        ChunkSource(corpus.eval, corpus.tokenizer, max_length),
        corpus.tokenizer,
    )


def bert_sources(data_config: Any) -> BertSources:
    """The train and eval `ChunkSource`s and the tokenizer of a BERT data config (cached)."""
    max_length = check_max_length(int(field(data_config, "max_length", 128)))
    return _sources(tokenized_corpus(data_config), max_length)
