"""Words as characters, bilm-tf's scheme for ELMo (Peters et al. 2018; allenai/bilm-tf's data.py).

Each token is `max_chars` (C, 50 in ELMo) character ids: its UTF-8 bytes (0-255) between a
begin-of-word (258) and an end-of-word (259) id, then padding (260). The sentence boundaries are
tokens of their own, begin-of-sentence (256) and end-of-sentence (257) between the word marks.
Every id is then shifted by one (bilm-tf's Batcher does the same), so that 0 means "no token":
a padding position of a batch is C zeros, and `NUM_CHAR_IDS` = 262 ids in all.

A word longer than C - 2 bytes is cut to its first C - 2 bytes (its end-of-word mark stays):
the ELMo default of 50 keeps every word of the King James Bible (the longest has 18 bytes).

`tokenize` splits text into ELMo's tokens: maximal runs of letters, digits and apostrophes, and
every other non-space character alone ("earth." -> "earth", "."), case kept, since the character
CNN sees case. Host-side numpy only.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from jaxpretrain.errors import DataError

MAX_CHARS = 50
BOS_CHAR, EOS_CHAR, BOW_CHAR, EOW_CHAR, PAD_CHAR = 256, 257, 258, 259, 260
NUM_CHAR_IDS = PAD_CHAR + 2  # 0 (no token) and the 261 shifted ids 1..261.
BOS, EOS = "<S>", "</S>"  # The sentence-boundary tokens.
_TOKEN = re.compile(r"[\w']+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """ELMo's tokens of `text`: runs of `[\\w']` and single other non-space characters."""
    return _TOKEN.findall(text)


def _check_max_chars(max_chars: int) -> None:
    if max_chars < 3:
        raise DataError(
            f"max_chars must be >= 3 (begin-of-word, one byte, end-of-word), got {max_chars}."
        )


def word_char_ids(word: str, max_chars: int = MAX_CHARS) -> np.ndarray:
    """int16 [max_chars]: the shifted character ids of one token (`BOS`/`EOS` included).

    A word of more than max_chars - 2 UTF-8 bytes keeps its first max_chars - 2 (module
    docstring).
    """
    _check_max_chars(max_chars)
    ids = np.full(max_chars, PAD_CHAR, np.int16)
    if word == BOS or word == EOS:
        body = [BOS_CHAR if word == BOS else EOS_CHAR]
    else:
        body = list(word.encode("utf-8")[: max_chars - 2])
    ids[0] = BOW_CHAR
    ids[1 : 1 + len(body)] = body
    ids[1 + len(body)] = EOW_CHAR
    return ids + 1


def char_table(words: Sequence[str], max_chars: int = MAX_CHARS) -> np.ndarray:
    """int16 [W, max_chars]: `word_char_ids` of each word, row i for words[i]."""
    _check_max_chars(max_chars)
    if not words:
        return np.zeros((0, max_chars), np.int16)
    return np.stack([word_char_ids(w, max_chars) for w in words])


def sentence_char_ids(
    sentences: Sequence[Sequence[str]], *, max_chars: int = MAX_CHARS, length: int = 0
) -> np.ndarray:
    """int32 [N, T, max_chars]: each tokenized sentence as <S> tokens </S>, zero-padded to T.

    Args:
      sentences: N sentences, each a non-empty list of tokens (`tokenize`).
      max_chars: C, characters per token.
      length: T; 0 picks the longest sentence's length + 2.

    Raises:
      ValueError: an empty sentence, or one longer than `length` - 2 tokens (the message names it).
    """
    for number, tokens in enumerate(sentences):
        if not tokens:
            raise DataError(
                f"sentence {number} is empty: ELMo needs at least one token per sentence;"
                " drop empty lines before embedding."
            )
    longest = max((len(s) for s in sentences), default=0) + 2
    length = length or longest
    if longest > length:
        raise DataError(
            f"a sentence has {longest - 2} tokens, more than the {length - 2} that fit in"
            f" length={length} with <S> and </S>: raise the length or split the sentence."
        )
    out = np.zeros((len(sentences), length, max_chars), np.int32)
    for n, tokens in enumerate(sentences):
        out[n, : len(tokens) + 2] = char_table([BOS, *tokens, EOS], max_chars)
    return out
