"""BERT's tokenizer: WordPiece, trained here with Hugging Face `tokenizers` or read from a `vocab.txt`.

WordPiece (Wu et al. 2016, "Google's Neural Machine Translation System", Sec. 4.1; the
vocabulary BERT uses, Devlin et al. 2019, Sec. 3): text is normalised (Unicode clean-up, accents
stripped and lower-cased for an uncased model), split into words at whitespace and punctuation,
and each word is cut greedily into the longest pieces of the vocabulary, left to right; a piece
that continues a word carries the prefix "##" ("unaffable" -> "un", "##aff", "##able"). A word
with no cut becomes [UNK]. The special tokens are [PAD] [UNK] [CLS] [SEP] [MASK].

`pack` lays out BERT's input: [CLS] A [SEP] for one sentence, [CLS] A [SEP] B [SEP] for a pair,
token types 0 up to and including the first [SEP] and 1 after it, then [PAD] to a fixed length.

Host-side only (no jax); `tokenizers` is imported when needed.
"""

from __future__ import annotations

import collections
import functools
import json
import os
from typing import TYPE_CHECKING, Iterable, NamedTuple, Sequence

import numpy as np

from jaxpretrain.errors import DataError, NotFoundError

if TYPE_CHECKING:
    import tokenizers

# In this order they take ids 0..4 in a vocabulary trained here.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
CONTINUATION = "##"  # The prefix of a piece that continues a word.
VOCAB_FILE = "vocab.txt"
_CONFIG_FILE = "tokenizer_config.json"  # Holds do_lower_case, as in a Hugging Face BERT folder.


def _bert_pipeline(tokenizer: tokenizers.Tokenizer, lowercase: bool) -> tokenizers.Tokenizer:
    """Sets BERT's normaliser, pre-tokenizer (whitespace and punctuation) and decoder."""
    from tokenizers import decoders, normalizers, pre_tokenizers  # pylint: disable=import-outside-toplevel

    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix=CONTINUATION)
    return tokenizer


def train_wordpiece(
    texts: Iterable[str], *, vocab_size: int, lowercase: bool = True
) -> tokenizers.Tokenizer:
    """Trains a WordPiece vocabulary of at most `vocab_size` tokens on `texts`.

    Ids 0..4 are `SPECIAL_TOKENS`, then "##" + each character of the normalised text (sorted),
    then the characters seen, then pieces in the order learned. Deterministic in any process:
    `tokenizers`' trainer alone is not (huggingface/tokenizers#1794: it numbers the "##"
    characters in hash-map order, and those numbers break ties between merges), so they are
    numbered here first, in sorted order, as reserved tokens of the trainer.

    Args:
        texts: the training text, e.g. one string per sentence or document.
        vocab_size: the largest vocabulary wanted; a small corpus may give fewer tokens.
        lowercase: lower-case and strip accents first (an "uncased" BERT).
    """
    import tokenizers  # pylint: disable=import-outside-toplevel
    from tokenizers import models, trainers  # pylint: disable=import-outside-toplevel

    if vocab_size <= len(SPECIAL_TOKENS):
        raise DataError(
            f"vocab_size {vocab_size} is too small: WordPiece needs more than the"
            f" {len(SPECIAL_TOKENS)} special tokens {', '.join(SPECIAL_TOKENS)}."
        )
    tokenizer = _bert_pipeline(tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]")), lowercase)
    texts = list(texts)
    normalize = tokenizer.normalizer.normalize_str
    characters = sorted({c for text in texts for c in normalize(text) if not c.isspace()})
    continuations = [CONTINUATION + c for c in characters]
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS) + continuations,
        continuing_subword_prefix=CONTINUATION,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    # The "##" characters become plain pieces again: only SPECIAL_TOKENS stay special.
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    model = models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix=CONTINUATION)
    tokenizer = _bert_pipeline(tokenizers.Tokenizer(model), lowercase)
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer


def read_vocab(path: str) -> list[str]:
    """The tokens of a BERT `vocab.txt`, one per line; the line number is the id.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an empty file, a repeated token, or one of `SPECIAL_TOKENS` missing.
    """
    if not os.path.isfile(path):
        raise NotFoundError(
            f"BERT vocabulary {str(path)!r} does not exist: give the vocab.txt of a BERT (a"
            " Hugging Face BERT folder or a jaxpretrain BERT workdir holds one)."
        )
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n").rstrip("\r") for line in f]
    if tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise DataError(f"BERT vocabulary {str(path)!r} is empty: it needs one token per line.")
    repeated = sorted(t for t, n in collections.Counter(tokens).items() if n > 1)
    if repeated:
        raise DataError(
            f"BERT vocabulary {str(path)!r} repeats tokens {repeated[:5]}: each line must hold a"
            " different token (the line number is its id)."
        )
    missing = [t for t in SPECIAL_TOKENS if t not in set(tokens)]
    if missing:
        raise DataError(
            f"BERT vocabulary {str(path)!r} lacks {', '.join(missing)}: BERT needs all of"
            f" {', '.join(SPECIAL_TOKENS)}; add them as lines, or train a vocabulary with"
            " WordPieceTokenizer.train."
        )
    return tokens


class Packed(NamedTuple):
    """BERT's input for one example, each [max_length]: `tokens` int32 ids, `token_types` int32
    (0 for [CLS] A [SEP], 1 for B [SEP], 0 at padding) and `valid` bool (False at [PAD])."""

    tokens: np.ndarray
    token_types: np.ndarray
    valid: np.ndarray


class WordPieceTokenizer:
    """A WordPiece tokenizer with numpy ids: a thin wrapper of a `tokenizers.Tokenizer`.

    Args:
        tokenizer: from `train_wordpiece` (or any WordPiece `tokenizers.Tokenizer`) holding
            every one of `SPECIAL_TOKENS`.
        lowercase: whether its normaliser lower-cases (saved beside the vocabulary).

    Attributes:
        vocab_size: V; ids are in [0, V).
        pad_id, unk_id, cls_id, sep_id, mask_id: the special tokens' ids.
    """

    def __init__(self, tokenizer: tokenizers.Tokenizer, *, lowercase: bool = True):
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise DataError(
                f"the tokenizer lacks {', '.join(missing)}: BERT needs all of"
                f" {', '.join(SPECIAL_TOKENS)}; train it with train_wordpiece."
            )
        self.tokenizer = tokenizer
        self.lowercase = lowercase
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            int(vocab[t]) for t in SPECIAL_TOKENS
        )

    @classmethod
    def train(
        cls, texts: Iterable[str], *, vocab_size: int, lowercase: bool = True
    ) -> WordPieceTokenizer:
        """`train_wordpiece` on `texts`."""
        return cls(
            train_wordpiece(texts, vocab_size=vocab_size, lowercase=lowercase), lowercase=lowercase
        )

    @classmethod
    def from_vocab(cls, path: str, *, lowercase: bool = True) -> WordPieceTokenizer:
        """The tokenizer of a BERT `vocab.txt` (`read_vocab` checks it)."""
        import tokenizers  # pylint: disable=import-outside-toplevel
        from tokenizers import models  # pylint: disable=import-outside-toplevel

        vocab = {token: i for i, token in enumerate(read_vocab(path))}
        model = models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix=CONTINUATION)
        return cls(_bert_pipeline(tokenizers.Tokenizer(model), lowercase), lowercase=lowercase)

    @classmethod
    def load(cls, path: str) -> WordPieceTokenizer:
        """A saved tokenizer: a `vocab.txt`, or a directory holding one (a jaxpretrain BERT
        workdir, a Hugging Face BERT folder). Casing comes from the directory's
        tokenizer_config.json (`do_lower_case`), lower-cased if there is none."""
        directory, vocab_path = (
            (path, os.path.join(path, VOCAB_FILE))
            if os.path.isdir(path)
            else (
                os.path.dirname(path),
                path,
            )
        )
        lowercase = True
        config_path = os.path.join(directory, _CONFIG_FILE)
        if os.path.isfile(config_path):
            with open(config_path, encoding="utf-8") as f:
                lowercase = bool(json.load(f).get("do_lower_case", True))
        return cls.from_vocab(vocab_path, lowercase=lowercase)

    def save(self, directory: str) -> str:
        """Writes `directory`/vocab.txt (one token per line, in id order) and
        tokenizer_config.json (`do_lower_case`), as a Hugging Face BERT folder has them; returns
        the vocab.txt path."""
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, VOCAB_FILE)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(token + "\n" for token in self.tokens)
        with open(os.path.join(directory, _CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump({"do_lower_case": self.lowercase}, f)
        return path

    @functools.cached_property
    def tokens(self) -> list[str]:
        """The vocabulary: `tokens[i]` is the token of id i."""
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        tokens = [""] * self.vocab_size
        for token, i in vocab.items():
            tokens[i] = token
        return tokens

    @functools.cached_property
    def continues_word(self) -> np.ndarray:
        """bool [V]: True at the ids of pieces that continue a word ("##..."), which whole-word
        masking joins to the word before."""
        return np.asarray([t.startswith(CONTINUATION) for t in self.tokens], bool)

    def encode(self, text: str) -> np.ndarray:
        """The ids of `text`, without special tokens: int32 [T]."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}; decode bytes first.")
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False).ids, np.int32)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """`encode` of each text (in parallel), as int32 arrays."""
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [np.asarray(e.ids, np.int32) for e in encodings]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of ids (int [T] in [0, V)); [PAD] is dropped, other special tokens kept."""
        ids = [int(i) for i in np.asarray(ids).reshape(-1) if int(i) != self.pad_id]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise DataError(f"token id {bad[0]} is outside the vocabulary [0, {self.vocab_size}).")
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def pack(self, a: np.ndarray, b: np.ndarray | None = None, *, max_length: int) -> Packed:
        """[CLS] a [SEP] (b [SEP]) padded to `max_length`, the longer of a and b cut at its end
        first until the pair fits (BERT's truncation, without its random side: fine-tuning
        inputs are fixed).

        Args:
            a, b: int ids [Ta], [Tb] without special tokens (`encode`); b None for one sentence.
            max_length: T, the packed length; at least 3 (5 with b: one token of each survives).
        """
        reserved = 2 if b is None else 3
        if max_length < reserved + (1 if b is None else 2):
            raise DataError(
                f"max_length {max_length} cannot hold [CLS], [SEP] and a token of each sentence:"
                f" use at least {reserved + (1 if b is None else 2)}."
            )
        a, b = list(a), (None if b is None else list(b))
        budget = max_length - reserved
        while len(a) + (0 if b is None else len(b)) > budget:
            longer = a if b is None or len(a) >= len(b) else b
            longer.pop()
        tokens = [self.cls_id, *a, self.sep_id]
        types = [0] * len(tokens)
        if b is not None:
            tokens += [*b, self.sep_id]
            types += [1] * (len(b) + 1)
        pad = max_length - len(tokens)
        valid = np.arange(max_length) < len(tokens)
        return Packed(
            tokens=np.asarray(tokens + [self.pad_id] * pad, np.int32),
            token_types=np.asarray(types + [0] * pad, np.int32),
            valid=valid,
        )

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(vocab_size={self.vocab_size}, lowercase={self.lowercase})"
