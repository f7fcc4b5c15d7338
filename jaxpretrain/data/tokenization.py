"""GPT-2's tokenizer: byte-level byte-pair encoding, trained here or read from GPT-2's files.

Byte-level BPE (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners",
Sec. 2.2; BPE after Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword
Units"): text is UTF-8 encoded, each byte is mapped to one of 256 printable symbols, GPT-2's
regular expression splits the text into words, and BPE merges learned from corpus statistics join
frequent symbol pairs inside words. Every one of the 256 byte symbols is in the vocabulary, so any
string encodes without an unknown token and decodes back exactly. The tokenizer is either trained
on a corpus (`train_bpe`, with Hugging Face `tokenizers`) or read from GPT-2's own `vocab.json`
and `merges.txt` (`load_gpt2_tokenizer`); `Tokenizer` wraps either.

Host-side only (no jax); `tokenizers` is imported when needed.
"""

from __future__ import annotations

import functools
import os
import re
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:
    import tokenizers

from jaxpretrain.data.corpus import CorpusNotFoundError
from jaxpretrain.errors import DataError, NotFoundError

EOT = "<|endoftext|>"  # GPT-2's end-of-text token, also the document separator.

# Cut points in a long text at which GPT-2's pre-tokenizer never joins the two sides: just after a
# newline between two non-space characters. (Not after every newline: a whitespace run such as
# " \n " is split by lookahead, differently if cut.) The pieces encode, in parallel, to exactly the
# ids of the whole text.
_SAFE_CUT = re.compile(r"(?<=\S\n)(?=\S)")


def _pieces(text: str) -> list[str]:
    """`text` cut where the byte-level pre-tokenizer never joins across (see `_SAFE_CUT`)."""
    return _SAFE_CUT.split(text)


def _byte_level(tokenizer: tokenizers.Tokenizer) -> tokenizers.Tokenizer:
    """Sets GPT-2's byte-level pre-tokenizer (its regex, no added space) and decoder."""
    from tokenizers import decoders, pre_tokenizers  # pylint: disable=import-outside-toplevel

    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def train_bpe(
    text_or_iterator: str | Iterable[str],
    *,
    vocab_size: int,
    special_tokens: Sequence[str] = (EOT,),
) -> tokenizers.Tokenizer:
    """Trains a byte-level BPE tokenizer like GPT-2's on a text.

    The vocabulary is the special tokens (ids 0, 1, ...), the 256 byte symbols, then merges in the
    order learned, until there are `vocab_size` tokens or no pair is left to merge. Training is
    deterministic: the same text and arguments give the same tokenizer in any process.

    Args:
        text_or_iterator: the corpus, one string or an iterable of strings (e.g. documents).
        vocab_size: V, the largest vocabulary wanted; at least 256 + len(special_tokens). A small
            corpus may give fewer tokens.
        special_tokens: tokens never split nor merged, matched literally in encoded text.

    Returns:
        tokenizers.Tokenizer; wrap it in `Tokenizer` for numpy ids.
    """
    import tokenizers  # pylint: disable=import-outside-toplevel
    from tokenizers import models, pre_tokenizers, trainers  # pylint: disable=import-outside-toplevel

    special_tokens = list(special_tokens)
    minimum = 256 + len(special_tokens)
    if vocab_size < minimum:
        raise DataError(
            f"vocab_size {vocab_size} is too small: byte-level BPE needs at least {minimum}"
            f" (256 bytes + {len(special_tokens)} special tokens)."
        )
    texts = _pieces(text_or_iterator) if isinstance(text_or_iterator, str) else text_or_iterator
    tokenizer = _byte_level(tokenizers.Tokenizer(models.BPE()))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # All 256 bytes, seen or not.
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def load_gpt2_tokenizer(vocab_json: str, merges_txt: str) -> tokenizers.Tokenizer:
    """GPT-2's byte-level BPE tokenizer from its `vocab.json` and `merges.txt`.

    `<|endoftext|>` is a special token: its id in `vocab.json` (50256 for GPT-2), or the next id
    if the vocabulary lacks it.

    Raises:
        CorpusNotFoundError: a file is missing.
        ValueError: the files are not a byte-level BPE vocabulary with ids 0..V-1.
    """
    import tokenizers  # pylint: disable=import-outside-toplevel
    from tokenizers import models, pre_tokenizers  # pylint: disable=import-outside-toplevel

    for kind, path in (("vocab.json", vocab_json), ("merges.txt", merges_txt)):
        if not os.path.isfile(path):
            raise CorpusNotFoundError(
                f"GPT-2 {kind} {str(path)!r} does not exist: download vocab.json and merges.txt"
                " from the Hugging Face model openai-community/gpt2, or train one with train_bpe."
            )
    try:
        model = models.BPE.from_file(str(vocab_json), str(merges_txt))
    except Exception as e:  # tokenizers raises a bare Exception for malformed files.
        raise DataError(
            f"could not read GPT-2 BPE files {str(vocab_json)!r}, {str(merges_txt)!r}: {e}; they"
            " must be GPT-2's vocab.json (token -> id) and merges.txt (one 'a b' pair a line)."
        ) from e
    tokenizer = _byte_level(tokenizers.Tokenizer(model))
    vocab = tokenizer.get_vocab()
    missing = sorted(set(pre_tokenizers.ByteLevel.alphabet()) - set(vocab))
    if missing:
        raise DataError(
            f"{str(vocab_json)!r} lacks {len(missing)} of the 256 byte-level symbols (e.g."
            f" {missing[0]!r}): it is not a byte-level BPE vocabulary like GPT-2's."
        )
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise DataError(
            f"{str(vocab_json)!r} ids are not 0..{len(vocab) - 1} without gaps: renumber them."
        )
    tokenizer.add_special_tokens([EOT])
    return tokenizer


class Tokenizer:
    """A byte-level BPE tokenizer with numpy ids: a thin wrapper of a `tokenizers.Tokenizer`.

    Args:
        tokenizer: from `train_bpe`, `load_gpt2_tokenizer` or `tokenizers.Tokenizer.from_file`.
        eot_token: the end-of-text token, which must be in the vocabulary.

    Attributes:
        vocab_size: V; ids are in [0, V).
        eot_id: the id of `eot_token`.
    """

    def __init__(self, tokenizer: tokenizers.Tokenizer, *, eot_token: str = EOT):
        self.tokenizer = tokenizer
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
        eot_id = tokenizer.token_to_id(eot_token)
        if eot_id is None:
            raise DataError(
                f"the tokenizer has no {eot_token!r} token: train it with"
                f" special_tokens=({eot_token!r},) or add it with add_special_tokens."
            )
        self.eot_id = int(eot_id)
        self.eot_token = eot_token

    @classmethod
    def train(cls, text_or_iterator: str | Iterable[str], *, vocab_size: int) -> Tokenizer:
        """`train_bpe` on the text, with `<|endoftext|>` as the one special token."""
        return cls(train_bpe(text_or_iterator, vocab_size=vocab_size))

    def encode(self, text: str) -> np.ndarray:
        """The ids of `text`: int32 [T]. Long texts are encoded in parallel, with the same ids."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}; decode bytes first.")
        pieces = _pieces(text)
        encodings = self.tokenizer.encode_batch(pieces, add_special_tokens=False)
        ids = [np.asarray(e.ids, np.int32) for e in encodings]
        return np.concatenate(ids) if ids else np.zeros([0], np.int32)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of ids: int [T], each in [0, V). Special tokens are kept as their text.

        Raises:
            ValueError: an id outside [0, V), e.g. sampled from a model's padded vocabulary.
        """
        ids = np.asarray(ids)
        if ids.ndim != 1 or not (ids.size == 0 or np.issubdtype(ids.dtype, np.integer)):
            raise DataError(f"decode takes integer ids of shape [T], got {ids.dtype}{ids.shape}.")
        bad = np.flatnonzero((ids < 0) | (ids >= self.vocab_size))
        if bad.size:
            raise DataError(
                f"token id {int(ids[bad[0]])} (at position {int(bad[0])}) is outside the"
                f" vocabulary [0, {self.vocab_size}): the model's vocab_size must match the"
                f" tokenizer's, or mask logits of ids >= {self.vocab_size} before sampling."
            )
        return self.tokenizer.decode(ids.tolist(), skip_special_tokens=False)

    @functools.cached_property
    def _token_bytes(self) -> np.ndarray:
        """int64 [V]: UTF-8 bytes each id stands for; 0 for special tokens."""
        lengths = np.zeros([self.vocab_size], np.int64)
        for token, i in self.tokenizer.get_vocab().items():
            lengths[i] = len(token)  # One byte-level symbol is one byte.
        lengths[list(self.tokenizer.get_added_tokens_decoder())] = 0  # <|endoftext|> and such.
        return lengths

    def num_bytes(self, ids: Sequence[int] | np.ndarray) -> int:
        """UTF-8 bytes of the text `ids` (int [...]) stand for, special tokens not counted.

        Exact even for a slice that cuts a character, unlike `len(decode(ids).encode())`; the
        denominator of `bits_per_byte`.
        """
        return int(self._token_bytes[np.asarray(ids)].sum())

    def save(self, path: str) -> str:
        """Writes the tokenizer as `path` (a .json file) or `path`/tokenizer.json; returns the file."""
        if os.path.isdir(path):
            path = os.path.join(path, "tokenizer.json")
        self.tokenizer.save(str(path))
        return str(path)

    @classmethod
    def load(cls, path: str, *, eot_token: str = EOT) -> Tokenizer:
        """A saved tokenizer: `path` is a .json file `save` wrote, or a directory holding either
        tokenizer.json or GPT-2's vocab.json + merges.txt (as in a Hugging Face GPT-2 download)."""
        import tokenizers  # pylint: disable=import-outside-toplevel

        if os.path.isdir(path):
            gpt2_files = [os.path.join(path, f) for f in ("vocab.json", "merges.txt")]
            if not os.path.isfile(os.path.join(path, "tokenizer.json")) and all(
                os.path.isfile(f) for f in gpt2_files
            ):
                return cls(load_gpt2_tokenizer(*gpt2_files), eot_token=eot_token)
            path = os.path.join(path, "tokenizer.json")
        if not os.path.isfile(path):
            raise NotFoundError(
                f"tokenizer file {str(path)!r} does not exist: write one with Tokenizer.save, or"
                " give a directory holding GPT-2's vocab.json and merges.txt."
            )
        return cls(tokenizers.Tokenizer.from_file(str(path)), eot_token=eot_token)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, eot_id={self.eot_id})"
