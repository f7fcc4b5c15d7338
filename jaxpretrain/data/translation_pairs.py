"""Where translation pairs come from: local TSV files, the synthetic reversal task, TFDS sets.

Each reader gives (source, target) strings by index and `where(i)`, the place pair i came from,
for error messages; `translation.translation_sources` tokenizes them. Host-side numpy only.
"""

from __future__ import annotations

import importlib
import os
import re
import zlib
from typing import NamedTuple

import numpy as np

from jaxpretrain.data.base import tfds_source
from jaxpretrain.data.corpus import CorpusNotFoundError
from jaxpretrain.errors import DataError

REVERSE_EVAL_BUCKET = 10  # A reverse sequence is "eval" iff crc32(sequence) % 10 == 0.


class ListPairs(NamedTuple):
    """Pairs held in memory; `locations[i]` names pair i in error messages."""

    items: list[tuple[str, str]]
    locations: list[str]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[str, str]:
        return self.items[index]

    def where(self, index: int) -> str:
        return self.locations[index]


def read_tsv(path: str) -> ListPairs:
    """The "source<TAB>target" lines of a UTF-8 file (blank lines skipped).

    Raises:
        CorpusNotFoundError: the file does not exist.
        ValueError: not UTF-8, a line without exactly one tab or with an empty side, or no pairs.
    """
    if not os.path.isfile(path):
        raise CorpusNotFoundError(f"translation pairs file {str(path)!r} does not exist.")
    items, locations = [], []
    with open(path, encoding="utf-8") as f:
        try:
            lines = f.read().splitlines()
        except UnicodeDecodeError as e:
            raise DataError(f"{path} is not UTF-8 ({e.reason} at byte {e.start}).") from e
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        where = f"{path}:{number}"
        if len(fields) != 2:
            found = "no tab" if len(fields) == 1 else f"{len(fields) - 1} tabs"
            raise DataError(f"{where}: expected 'source<TAB>target', found {found}: {line[:60]!r}.")
        if not fields[0].strip() or not fields[1].strip():
            raise DataError(f"{where}: empty source or target: {line[:60]!r}.")
        items.append((fields[0].strip(), fields[1].strip()))
        locations.append(where)
    if not items:
        raise DataError(f"{path} holds no 'source<TAB>target' lines.")
    return ListPairs(items, locations)


def split_tail(pairs: ListPairs, eval_fraction: float) -> tuple[ListPairs, ListPairs]:
    n_eval = int(round(len(pairs) * eval_fraction))
    if not 0.0 < eval_fraction < 1.0 or not 0 < n_eval < len(pairs):
        raise DataError(
            f"cannot hold out data.eval_fraction={eval_fraction} of {len(pairs)} pairs: use a "
            "fraction in (0, 1) leaving both parts non-empty, or set data.eval_pairs."
        )
    cut = len(pairs) - n_eval
    return (
        ListPairs(pairs.items[:cut], pairs.locations[:cut]),
        ListPairs(pairs.items[cut:], pairs.locations[cut:]),
    )


class TfdsPairs:
    """Lazy pairs of a TFDS translation set: record i's (source_language, target_language)."""

    def __init__(self, name: str, split: str, data_dir: str | None, languages: tuple[str, str]):
        # The package tensorflow_datasets.translate imports TensorFlow (for other sets), so the
        # WMT builders register only when their own modules, which do not, are imported.
        match = re.match(r"(wmt\d*|wmt_t2t)_translate$", name.split("/")[0].split(":")[0])
        if match:
            importlib.import_module(f"tensorflow_datasets.translate.{match.group(1)}")
        self.records = tfds_source(name, split, data_dir=data_dir)
        self.name, self.split, self.languages = name, split, languages
        if len(self.records) == 0:
            raise DataError(f"TFDS {name!r} split {split!r} has no records: pick another.")
        features = sorted(self.records[0])
        if not set(languages) <= set(features) or languages[0] == languages[1]:
            raise DataError(
                f"TFDS {name!r} has the features {features}: set data.source_language and "
                f"data.target_language to two different ones of them (got {list(languages)})."
            )

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[str, str]:
        record = self.records[int(index)]  # One index at a time: mocked sources need it.
        texts = []
        for language in self.languages:
            value = record[language]
            value = value.item() if isinstance(value, np.ndarray) else value
            texts.append(value.decode("utf-8") if isinstance(value, bytes) else str(value))
        return texts[0], texts[1]

    def where(self, index: int) -> str:
        return f"TFDS {self.name} {self.split} record {index}"


def reverse_pairs(
    split: str, *, size: int, num_symbols: int, min_symbols: int, max_symbols: int, seed: int
) -> ListPairs:
    """`size` pairs ("c a d", "d a c") of the synthetic reversal task (module docstring)."""
    if not 1 <= num_symbols <= 26 or not 1 <= min_symbols <= max_symbols or size < 1:
        raise DataError(
            f"the reverse task needs 1 <= vocab_size - 1 <= 26 letters (got {num_symbols}), "
            f"1 <= min_symbols <= max_symbols (got {min_symbols}, {max_symbols}) and a positive "
            f"size (got {size})."
        )
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    letters = np.array([chr(ord("a") + i) for i in range(num_symbols)])
    items, chunk = [], 4096  # Fixed chunks: the first n items do not depend on `size`.
    for _ in range(10 + 2 * REVERSE_EVAL_BUCKET * size // chunk):  # Twice the draws eval needs.
        lengths = rng.integers(min_symbols, max_symbols + 1, size=chunk)
        symbols = rng.integers(0, num_symbols, size=(chunk, max_symbols), dtype=np.uint8)
        for length, row in zip(lengths, symbols):
            in_eval = zlib.crc32(row[:length].tobytes()) % REVERSE_EVAL_BUCKET == 0
            if in_eval == (split == "eval"):
                sequence = letters[row[:length]]
                items.append((" ".join(sequence), " ".join(sequence[::-1])))
        if len(items) >= size:
            break
    else:
        raise DataError(f"could not draw {size} {split} sequences: allow longer sequences.")
    items = items[:size]
    return ListPairs(items, [f"reverse {split} example {i}" for i in range(size)])
