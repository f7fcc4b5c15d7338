"""Text corpora for language modelling, as one string each.

`corpus_text(data_config)` reads `data_config.corpus`: the King James Bible from Debian's
`bible-kjv` package, offline (`kjv_text`, ~4.1 MB, 31,102 verses); local text files
(`files:<glob>`); or a TFDS text data set by name (`tfds:lm1b`). A missing corpus is a
`CorpusNotFoundError` whose message says how to get it.

`corpus_lines(data_config)` gives the same text a line at a time, reading files as it goes, for
readers that need one pass and not the whole string (`word_vectors`: its memory stays the
vocabulary and the id array, whatever the corpus's size). `text_file_paths` and `tfds_texts`
give the files and the TFDS records one by one, for readers that keep document boundaries
(`bert_documents`). `corpus_key` is the hashable form of the
fields that choose the text, for the caches of the modules that tokenize it (`lm`,
`word_vectors`, `bert_documents`). Host-side only (no jax).
"""

from __future__ import annotations

import functools
import glob as glob_lib
import os
import re
import shutil
import subprocess
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np

from jaxpretrain.data.base import field, tfds_source
from jaxpretrain.errors import DataError, NotFoundError

# The data config fields `corpus_text` reads.
CORPUS_FIELDS = ("corpus", "tfds_split", "text_feature", "max_documents", "data_dir")

_KJV_RANGE = "Genesis 1:1-Revelation 22:21"
_KJV_INSTALL = "apt-get install bible-kjv"
# `bible -f` prints one verse per line, each after its reference: "Ge1:1 ", "1Cor13:4 ", "SSol2:1 ".
_VERSE_REF = re.compile(r"([1-3]?[A-Za-z]+)(\d+):(\d+) ")


class CorpusNotFoundError(NotFoundError):
    """A text corpus is missing (package not installed, file absent); the message says the fix."""


class Verse(NamedTuple):
    """One verse of the King James Bible.

    Attributes:
        book: the book's index in canonical order, 0 (Genesis) to 65 (Revelation).
        chapter: the chapter number, from 1.
        number: the verse number within its chapter, from 1.
        text: the verse without its reference.
    """

    book: int
    chapter: int
    number: int
    text: str


_KJV_BOOK_NAMES = (
    "Genesis Exodus Leviticus Numbers Deuteronomy Joshua Judges Ruth 1_Samuel 2_Samuel 1_Kings"
    " 2_Kings 1_Chronicles 2_Chronicles Ezra Nehemiah Esther Job Psalms Proverbs Ecclesiastes"
    " Song_of_Solomon Isaiah Jeremiah Lamentations Ezekiel Daniel Hosea Joel Amos Obadiah Jonah"
    " Micah Nahum Habakkuk Zephaniah Haggai Zechariah Malachi Matthew Mark Luke John Acts Romans"
    " 1_Corinthians 2_Corinthians Galatians Ephesians Philippians Colossians 1_Thessalonians"
    " 2_Thessalonians 1_Timothy 2_Timothy Titus Philemon Hebrews James 1_Peter 2_Peter 1_John"
    " 2_John 3_John Jude Revelation"
)
# The 66 books in order, Genesis to Revelation: `KJV_BOOKS[verse.book]` names a verse's book.
KJV_BOOKS = tuple(name.replace("_", " ") for name in _KJV_BOOK_NAMES.split(" "))


@functools.cache
def kjv_verses() -> tuple[Verse, ...]:
    """The King James Bible as its 31,102 verses, in order, each with book, chapter and number.

    Runs Debian's `bible` command (package `bible-kjv`, whose data is `bible-kjv-text`) once and
    keeps the verses (about 4.1 MB of text) in memory. The first is Genesis 1:1, "In the
    beginning God created the heaven and the earth."; the last Revelation 22:21.

    Raises:
        CorpusNotFoundError: the `bible` command is not installed or cannot read its data.
    """
    command = shutil.which("bible")
    if command is None:
        raise CorpusNotFoundError(
            f"the King James Bible needs Debian's bible-kjv package: {_KJV_INSTALL}"
        )
    try:
        result = subprocess.run(
            [command, "-f", _KJV_RANGE],  # -f: one verse per line, each after its reference.
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError as e:
        raise CorpusNotFoundError(
            f"could not run {command!r} ({e}): reinstall Debian's bible-kjv package: {_KJV_INSTALL}"
        ) from e
    output = result.stdout.decode("utf-8", errors="replace")
    if result.returncode != 0 or not output:
        problem = result.stderr.decode("utf-8", errors="replace").strip() or output.strip()
        raise CorpusNotFoundError(
            f"`bible` failed (exit {result.returncode}: {problem or 'no output'}): reinstall its"
            f" data with apt-get install --reinstall bible-kjv bible-kjv-text"
        )
    verses, books = [], {}
    for number, line in enumerate(output.splitlines(), 1):
        match = _VERSE_REF.match(line)
        if match is None:
            raise DataError(
                f"unexpected line {number} from `bible -f`: {line[:80]!r}; expected 'Ge1:1 <verse>'"
                f" (is {command!r} Debian's bible-kjv?)"
            )
        book = books.setdefault(match.group(1), len(books))
        text = line[match.end() :].rstrip()
        verses.append(Verse(book, int(match.group(2)), int(match.group(3)), text))
    if len(books) != len(KJV_BOOKS):
        raise DataError(
            f"`bible -f` printed {len(books)} books, expected the {len(KJV_BOOKS)} of the KJV:"
            " reinstall its data with apt-get install --reinstall bible-kjv bible-kjv-text"
        )
    return tuple(verses)


def kjv_heldout(verse: Verse, every: int) -> bool:
    """Whether `verse` lies in a held-out chapter: of the 1,189 chapters, numbered 0, 1, ... in
    canonical order, those with number % `every` == `every` // 2 (every tenth chapter for
    `every` = 10, spread over every part of the Bible). BERT pretraining on the KJV skips them,
    and the fine-tuning tasks built from the KJV (`kjv_tasks`) use only them, so that no
    downstream example was seen in pretraining. `every` = 0 holds out nothing."""
    if every < 0:
        raise DataError(f"heldout_every must be >= 0 (0: hold out nothing), got {every}.")
    return every > 0 and _kjv_chapter_numbers()[(verse.book, verse.chapter)] % every == every // 2


@functools.cache
def _kjv_chapter_numbers() -> dict[tuple[int, int], int]:
    """(book, chapter) -> the chapter's number in canonical order, from 0."""
    numbers: dict[tuple[int, int], int] = {}
    for verse in kjv_verses():
        numbers.setdefault((verse.book, verse.chapter), len(numbers))
    return numbers


@functools.cache
def kjv_text() -> str:
    """The King James Bible as plain text: 31,102 verses, one per line, without references
    (`kjv_verses`). Starts "In the beginning God created the heaven and the earth.\\n" and ends
    "...be with you all. Amen.\\n".

    Raises:
        CorpusNotFoundError: the `bible` command is not installed or cannot read its data.
    """
    return "\n".join(verse.text for verse in kjv_verses()) + "\n"


def read_text_files(paths: Sequence[str]) -> str:
    """The UTF-8 text of `paths`, in order, each ending in a newline (one is added if missing).

    Raises:
        CorpusNotFoundError: no paths, or a path that is not a file.
        ValueError: an empty file, or one that is not UTF-8.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise CorpusNotFoundError("no text files given: pass at least one path to a text file.")
    texts = ["".join(_file_lines(path)) for path in paths]
    texts = [text if text.endswith("\n") else text + "\n" for text in texts]
    return "".join(texts)


def _file_lines(path: str) -> Iterator[str]:
    """The lines of one UTF-8 text file, read as they are used; a missing, non-UTF-8 or empty
    file is an error naming the fix."""
    if not os.path.isfile(path):
        raise CorpusNotFoundError(f"text file {str(path)!r} does not exist: check the path.")
    empty = True
    with open(path, encoding="utf-8") as f:
        try:
            for line in f:
                empty = False
                yield line
        except UnicodeDecodeError as e:
            raise DataError(
                f"text file {str(path)!r} is not UTF-8 ({e.reason}): convert it, e.g."
                " iconv -f latin1 -t utf-8."
            ) from e
    if empty:
        raise DataError(f"text file {str(path)!r} is empty: remove it or give it some text.")


def read_sentences(path: str) -> list[str]:
    """The non-empty lines of the UTF-8 text file at `path`, stripped: one sentence each (the
    input of the embedding scripts).

    Raises:
        CorpusNotFoundError: no file at `path`.
        ValueError: the file has no non-empty line.
    """
    if not os.path.isfile(path):
        raise CorpusNotFoundError(f"text file {str(path)!r} does not exist: check the path.")
    with open(path, encoding="utf-8") as f:
        sentences = [line.strip() for line in f if line.strip()]
    if not sentences:
        raise DataError(f"{path} has no non-empty line: give one sentence per line.")
    return sentences


def tfds_texts(name: str, data_config: Any) -> list[str]:
    """The `text_feature` (default "text") of each record of TFDS text set `name`, in order, as
    str without a trailing newline: the first `max_documents` records (default 0: all) of split
    `tfds_split` (default "train") in `data_dir`.

    Raises:
        base.DatasetNotFoundError: the data set has not been built.
        ValueError: the split has no records.
        KeyError: the records have no feature `text_feature`.
    """
    split = field(data_config, "tfds_split", "train")
    feature = field(data_config, "text_feature", "text")
    limit = field(data_config, "max_documents", 0)
    source = tfds_source(name, split, data_dir=field(data_config, "data_dir") or None)
    count = len(source) if not limit else min(limit, len(source))
    if count == 0:
        raise DataError(f"TFDS data set {name!r} split {split!r} has no records: pick another.")
    texts = []
    for i in range(count):  # One index at a time: mocked sources break on batched reads.
        record = source[i]
        if feature not in record:
            raise DataError(
                f"TFDS data set {name!r} has no feature {feature!r} (it has {sorted(record)}):"
                f" set data.text_feature to one of those."
            )
        value = record[feature]
        value = value.item() if isinstance(value, np.ndarray) else value
        value = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        texts.append(value.rstrip("\n"))
    return texts


def text_file_paths(corpus: str) -> list[str]:
    """The files a "files:<glob>" corpus names, sorted (`**` recurses).

    Raises:
        CorpusNotFoundError: no file matches.
    """
    pattern = os.path.expanduser(corpus[len("files:") :])
    paths = sorted(p for p in glob_lib.glob(pattern, recursive=True) if os.path.isfile(p))
    if not paths:
        raise CorpusNotFoundError(
            f"no text files match {pattern!r}: check data.corpus='files:<glob>'."
        )
    return paths


def corpus_key(data_config: Any) -> tuple[tuple[str, Any], ...]:
    """The `CORPUS_FIELDS` of `data_config` as hashable (name, value) pairs: the cache key of the
    text, which `corpus_text(dict(key))` reads."""
    return tuple((k, field(data_config, k)) for k in CORPUS_FIELDS)


def corpus_text(data_config: Any) -> str:
    """The whole text of the corpus `data_config.corpus` names.

    `data_config.corpus` is one of:
    - "kjv": the King James Bible (`kjv_text`), offline from Debian's `bible-kjv`;
    - "files:<glob>" (e.g. "files:/data/books/*.txt", `**` recurses): the matching local UTF-8
      files in sorted order (`read_text_files`);
    - "tfds:<name>" (e.g. "tfds:lm1b"): records of a TFDS text set that is already built, one per
      line, with optional fields `tfds_split` (default "train"), `text_feature` (default "text"),
      `max_documents` (default 0: all; lm1b's train split has 30M sentences) and `data_dir`.

    Args:
        data_config: ml_collections.ConfigDict or plain dict.

    Raises:
        CorpusNotFoundError: the corpus is not installed or no file matches.
        base.DatasetNotFoundError: the TFDS data set has not been built.
    """
    corpus = field(data_config, "corpus")
    if corpus == "kjv":
        return kjv_text()
    if isinstance(corpus, str) and corpus.startswith("files:") and len(corpus) > len("files:"):
        return read_text_files(text_file_paths(corpus))
    if isinstance(corpus, str) and corpus.startswith("tfds:") and len(corpus) > len("tfds:"):
        return "\n".join(tfds_texts(corpus[len("tfds:") :], data_config)) + "\n"
    raise DataError(
        f"Unknown corpus {corpus!r}; expected 'kjv', 'files:<glob>' (e.g. 'files:books/*.txt') or"
        " 'tfds:<name>' (e.g. 'tfds:lm1b')."
    )


def corpus_lines(data_config: Any) -> Iterator[str]:
    """The text of `corpus_text(data_config)`, a line at a time: files are read as the lines are
    consumed, so a pass over a corpus of any size holds one line (KJV verses and TFDS records are
    `kjv_verses`'s and `tfds_texts`'s). The lines joined are the text `corpus_text` returns, up to
    line ends.

    Raises:
        As `corpus_text`; a file's problems (not UTF-8, empty) when its lines are reached.
    """
    corpus = field(data_config, "corpus")
    if corpus == "kjv":
        return (verse.text for verse in kjv_verses())
    if isinstance(corpus, str) and corpus.startswith("files:") and len(corpus) > len("files:"):
        paths = text_file_paths(corpus)  # A missing file fails now, not at the first line.
        return (line for path in paths for line in _file_lines(path))
    return iter(corpus_text(data_config).splitlines())
