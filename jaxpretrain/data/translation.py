"""Sentence pairs for translation: the synthetic reversal task, local TSV files, TFDS (WMT).

`translation_sources(data_config)` turns `data_config.pairs` into training and evaluation sources
and the tokenizers their ids come from:

- "reverse": the offline synthetic task. Sources are sequences of `min_symbols`..`max_symbols`
  letters ("c a d"), targets the same letters reversed ("d a c"); the split of a sequence is
  fixed by its CRC-32 (one in ten is "eval"), so no eval sequence is ever trained on. Its
  tokenizer is word-level: <|endoftext|> = 0, "a" = 1, ..., with V = vocab_size.
- "tsv:<path>": one pair a line, "source<TAB>target", UTF-8. Held out for evaluation: the file
  `eval_pairs` ("tsv:<path>") names, or else the last `eval_fraction` of the lines.
- "tfds:<name>" (e.g. "tfds:wmt14_translate/de-en"): a TFDS translation set that is already
  built; `source_language` and `target_language` name its features ("en", "de"), `train_split`
  and `eval_split` its splits, `data_dir` where it lives.

Tokenization (Sennrich et al. 2016; Vaswani et al. 2017 §5.1 share one BPE between the
languages): a byte-level BPE (`tokenization.Tokenizer`) of `vocab_size` ids trained on the
training pairs only (`tokenizer_examples` of them, evenly spaced; 0 = all), one shared by both
languages (`shared_vocab`) or one per language. `tokenizer` (a file `TokenizerPair.save` wrote,
such as <workdir>/tokenizer.json) is used instead of training when set.

Items, with S = max_source_length and T = max_target_length (both count the EOS):
    source        int32 [S]      x_1..x_m EOS PAD...
    source_length int32 []       m + 1
    target        int32 [T + 1]  BOS y_1..y_n EOS PAD...   (decoder input target[:-1],
    target_length int32 []       n + 1                      labels target[1:], n + 1 real)
BOS, EOS and PAD are all <|endoftext|>, id `EOS_ID` = 0 (padding is told apart by the lengths). A
pair with more tokens than S or T is an error naming where it is, unless `truncate` (then it is
cut, keeping the EOS). TSV and reverse pairs are encoded once, up front; TFDS pairs when read.
Results are cached per config values. Host-side numpy only; `tokenizers` is imported when
first needed, as in `tokenization`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any, NamedTuple, Sequence

import numpy as np

from jaxpretrain.data.base import field
from jaxpretrain.data.tokenization import EOT, Tokenizer
from jaxpretrain.data.translation_pairs import (
    TfdsPairs,
    read_tsv,
    reverse_pairs,
    split_tail,
)
from jaxpretrain.errors import DataError, NotFoundError

EOS_ID = 0  # <|endoftext|>: the first special token of every tokenizer made here.
TOKENIZER_FILE = "tokenizer.json"  # What `TokenizerPair.save` writes into a directory.

# The data config's fields (the cache key) and their defaults; None marks required ones.
_FIELDS = dict(
    pairs=None,  # "reverse", "tsv:<path>" or "tfds:<name>".
    vocab_size=None,  # V of each tokenizer.
    max_source_length=None,  # S, with the EOS.
    max_target_length=None,  # T, with the EOS.
    truncate=False,  # Cut pairs longer than S or T instead of raising.
    shared_vocab=True,  # One BPE for both languages.
    tokenizer="",  # A saved TokenizerPair used instead of training.
    tokenizer_examples=0,  # Training pairs the BPE is trained on (0: all).
    eval_pairs="",  # TSV: "tsv:<path>" of the eval pairs ("": the tail of `pairs`).
    eval_fraction=0.05,  # TSV: the tail of `pairs` held out without eval_pairs.
    source_language="",  # TFDS: the source feature, e.g. "en".
    target_language="",  # TFDS: the target feature, e.g. "de".
    train_split="train",  # TFDS.
    eval_split="test",  # TFDS.
    data_dir="",  # TFDS ("": its default).
    train_size=0,  # Reverse: training sequences.
    eval_size=0,  # Reverse: eval sequences.
    min_symbols=1,  # Reverse: the shortest sequence.
    max_symbols=0,  # Reverse: the longest sequence.
    seed=0,  # Reverse: seeds the sequences.
)


@dataclasses.dataclass(frozen=True)
class TokenizerPair:
    """The source and target tokenizers (the same object with a shared vocabulary)."""

    source: Tokenizer
    target: Tokenizer

    def save(self, path: str) -> str:
        """Writes both as one JSON file {"source": ..., "target": ...}, `path` or
        `path`/tokenizer.json if `path` is a directory; returns the file."""
        if os.path.isdir(path):
            path = os.path.join(path, TOKENIZER_FILE)
        both = {k: json.loads(getattr(self, k).tokenizer.to_str()) for k in ("source", "target")}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(both, f)
        return str(path)

    @classmethod
    def load(cls, path: str) -> TokenizerPair:
        """The pair `save` wrote to `path` (a file, or a directory holding tokenizer.json)."""
        import tokenizers  # pylint: disable=import-outside-toplevel

        if os.path.isdir(path):
            path = os.path.join(path, TOKENIZER_FILE)
        if not os.path.isfile(path):
            raise NotFoundError(
                f"tokenizer file {str(path)!r} does not exist: training writes it as "
                "<workdir>/tokenizer.json."
            )
        with open(path, encoding="utf-8") as f:
            both = json.load(f)
        if set(both) != {"source", "target"}:
            raise DataError(
                f"{str(path)!r} is not a translation tokenizer pair (keys {sorted(both)}, expected "
                "'source' and 'target'); it was not written by TokenizerPair.save."
            )
        source, target = (
            Tokenizer(tokenizers.Tokenizer.from_str(json.dumps(both[k])))
            for k in ("source", "target")
        )
        return cls(source, target if both["source"] != both["target"] else source)


class TranslationSource:
    """Random access to padded items (module docstring) over text pairs.

    Args:
        pairs: random-access (source, target) strings with `where(i)` naming pair i for errors.
        tokenizers: the TokenizerPair encoding them.
        max_source_length: S. max_target_length: T.
        truncate: cut long pairs instead of raising.
        eager: encode every pair now (so a bad pair fails at once) instead of when read.
    """

    def __init__(
        self,
        pairs,
        tokenizers: TokenizerPair,
        *,
        max_source_length: int,
        max_target_length: int,
        truncate: bool,
        eager: bool,
    ):
        if max_source_length < 1 or max_target_length < 1:
            raise DataError(
                f"data.max_source_length and data.max_target_length must be positive, got "
                f"{max_source_length} and {max_target_length}."
            )
        self.pairs, self.tokenizers = pairs, tokenizers
        self.max_source_length, self.max_target_length = max_source_length, max_target_length
        self.truncate = truncate
        self._items = None
        if eager:
            indices = range(len(pairs))
            items = [self._pack(i, *ids) for i, ids in zip(indices, self._encode(indices))]
            self._items = {k: np.stack([item[k] for item in items]) for k in items[0]}

    def _encode(self, indices: Sequence[int]) -> list[tuple[list[int], list[int]]]:
        """The (source ids, target ids) of pairs `indices`, without EOS."""
        pairs = [self.pairs[i] for i in indices]
        sides = []
        for column, side in enumerate(("source", "target")):
            tokenizer, texts = getattr(self.tokenizers, side), [pair[column] for pair in pairs]
            try:
                encoded = tokenizer.tokenizer.encode_batch(texts, add_special_tokens=False)
            except Exception as e:  # tokenizers raises a bare Exception for an unknown word.
                bad = next(i for i, t in zip(indices, texts) if not _encodes(tokenizer, t))
                raise DataError(
                    f"{self.pairs.where(bad)}: the {side} tokenizer cannot encode "
                    f"{self.pairs[bad][column][:60]!r} ({e}): a word-level vocabulary (the "
                    "reverse task's letters) has no unknown token; use only its words."
                ) from e
            sides.append([e.ids for e in encoded])
        return list(zip(*sides))

    def _pack(self, index: int, source: list[int], target: list[int]) -> dict[str, np.ndarray]:
        s, t = self.max_source_length, self.max_target_length
        m, n = len(source) + 1, len(target) + 1  # With the EOS.
        if (m > s or n > t) and not self.truncate:
            raise DataError(
                f"{self.pairs.where(index)}: the pair has {m} source and {n} target tokens (with "
                f"EOS), more than data.max_source_length={s} or data.max_target_length={t}: raise "
                "those, or set data.truncate=True to cut long pairs."
            )
        m, n = min(m, s), min(n, t)
        item = {
            "source": np.full(s, EOS_ID, np.int32),  # EOS and padding are both EOS_ID.
            "source_length": np.int32(m),
            "target": np.full(t + 1, EOS_ID, np.int32),  # BOS too.
            "target_length": np.int32(n),
        }
        item["source"][: m - 1] = source[: m - 1]
        item["target"][1:n] = target[: n - 1]
        return item

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        index = int(index)
        if self._items is not None:
            return {k: v[index] for k, v in self._items.items()}
        [(source, target)] = self._encode([index])
        return self._pack(index, source, target)

    def text(self, index: int) -> tuple[str, str]:
        """The raw (source, target) strings of pair `index` (references for BLEU)."""
        return self.pairs[int(index)]


def _encodes(tokenizer: Tokenizer, text: str) -> bool:
    try:
        tokenizer.tokenizer.encode(text, add_special_tokens=False)
    except Exception:  # pylint: disable=broad-except
        return False
    return True


def reverse_tokenizer(num_symbols: int) -> Tokenizer:
    """Word-level tokenizer of the reverse task: <|endoftext|> = 0, "a" = 1, "b" = 2, ..."""
    import tokenizers  # pylint: disable=import-outside-toplevel
    from tokenizers import models, pre_tokenizers  # pylint: disable=import-outside-toplevel

    vocab = {EOT: EOS_ID, **{chr(ord("a") + i): i + 1 for i in range(num_symbols)}}
    tokenizer = tokenizers.Tokenizer(models.WordLevel(vocab))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens([EOT])
    return Tokenizer(tokenizer)


def _train_tokenizers(train, config: dict) -> TokenizerPair:
    vocab_size, limit = config["vocab_size"], config["tokenizer_examples"]
    count = len(train) if not limit else min(limit, len(train))
    sample = [train[int(i)] for i in np.linspace(0, len(train) - 1, count).round()]

    def bpe(texts: list[str], side: str) -> Tokenizer:
        tokenizer = Tokenizer.train("\n".join(texts) + "\n", vocab_size=vocab_size)
        if tokenizer.vocab_size != vocab_size:
            raise DataError(
                f"the {side} BPE stopped at {tokenizer.vocab_size} ids, below data.vocab_size="
                f"{vocab_size}: the training pairs have too few distinct pairs; lower vocab_size."
            )
        return tokenizer

    sources, targets = [s for s, _ in sample], [t for _, t in sample]
    if config["shared_vocab"]:
        shared = bpe(sources + targets, "shared")
        return TokenizerPair(shared, shared)
    return TokenizerPair(bpe(sources, "source"), bpe(targets, "target"))


class TranslationSources(NamedTuple):
    train: TranslationSource
    eval: TranslationSource
    tokenizers: TokenizerPair


@functools.lru_cache(maxsize=4)
def _cached(key: tuple[tuple[str, Any], ...]) -> TranslationSources:
    c = dict(key)
    pairs = c["pairs"]
    if pairs == "reverse":
        task = dict(
            num_symbols=c["vocab_size"] - 1,
            min_symbols=c["min_symbols"],
            max_symbols=c["max_symbols"],
            seed=c["seed"],
        )
        train = reverse_pairs("train", size=c["train_size"], **task)
        evaluation = reverse_pairs("eval", size=c["eval_size"], **task)
        tokenizer = reverse_tokenizer(task["num_symbols"])
        tokenizers, eager = TokenizerPair(tokenizer, tokenizer), True
    elif pairs.startswith("tsv:") and len(pairs) > len("tsv:"):
        train = read_tsv(os.path.expanduser(pairs[len("tsv:") :]))
        if c["eval_pairs"]:
            if not c["eval_pairs"].startswith("tsv:"):
                raise DataError(f"data.eval_pairs must be 'tsv:<path>', got {c['eval_pairs']!r}.")
            evaluation = read_tsv(os.path.expanduser(c["eval_pairs"][len("tsv:") :]))
        else:
            train, evaluation = split_tail(train, c["eval_fraction"])
        tokenizers, eager = None, True
    elif pairs.startswith("tfds:") and len(pairs) > len("tfds:"):
        name, languages = pairs[len("tfds:") :], (c["source_language"], c["target_language"])
        train = TfdsPairs(name, c["train_split"], c["data_dir"] or None, languages)
        evaluation = TfdsPairs(name, c["eval_split"], c["data_dir"] or None, languages)
        tokenizers, eager = None, False
    else:
        raise DataError(
            f"Unknown data.pairs {pairs!r}; expected 'reverse', 'tsv:<path>' or 'tfds:<name>' "
            "(e.g. 'tfds:wmt14_translate/de-en')."
        )
    if c["tokenizer"]:
        tokenizers = TokenizerPair.load(c["tokenizer"])
    elif tokenizers is None:
        tokenizers = _train_tokenizers(train, c)
    lengths = dict(
        max_source_length=c["max_source_length"],
        max_target_length=c["max_target_length"],
        truncate=c["truncate"],
        eager=eager,
    )
    return TranslationSources(
        train=TranslationSource(train, tokenizers, **lengths),
        eval=TranslationSource(evaluation, tokenizers, **lengths),
        tokenizers=tokenizers,
    )


def translation_sources(data_config: Any) -> TranslationSources:
    """Train/eval sources and tokenizers for a data config with name "translation".

    Required fields: `pairs`, `vocab_size`, `max_source_length`, `max_target_length`; the
    reverse task also needs `train_size`, `eval_size`, `max_symbols`; TFDS pairs
    `source_language` and `target_language`. `_FIELDS` lists them all with their defaults.
    """
    key = tuple((k, field(data_config, k, default)) for k, default in _FIELDS.items())
    missing = [k for k, v in key if v is None]
    if missing:
        raise DataError(f"translation data config lacks {missing} (see data.translation).")
    return _cached(key)
