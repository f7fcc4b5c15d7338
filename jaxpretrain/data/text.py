"""Token streams as training data: windows for `BatchStream`, a held-out tail, bits per byte.

A token stream becomes a random-access source through `TokenWindows`: window i is tokens
`[i*W, i*W + W + 1)`, W + 1 tokens whose first W are the inputs and last W the targets.
`split_tokens` holds out a contiguous tail for evaluation; `bits_per_byte` turns a loss in nats per
token into a tokenizer-independent number. Corpora are in `corpus`, the tokenizer in
`tokenization`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from jaxpretrain.errors import DataError

if TYPE_CHECKING:
    pass


class TokenWindows:
    """A random-access source of non-overlapping windows of a token stream, for `BatchStream`.

    Item i is `{"tokens": tokens[i*W : i*W + W + 1]}`, int32 [W + 1]: the model reads the first W
    and predicts the last W, so consecutive windows share one token (item i's last is item
    i + 1's first) and every token but the first is a target exactly once per epoch.

    Args:
        tokens: int [N], the tokenized corpus.
        window: W, the model's context length.
    """

    def __init__(self, tokens: np.ndarray, window: int):
        tokens = np.asarray(tokens)
        if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
            raise DataError(
                f"tokens must be integer ids of shape [N], got {tokens.dtype}{tokens.shape}."
            )
        if window < 1:
            raise DataError(f"window must be a positive int, got {window}.")
        self.tokens = tokens.astype(np.int32, copy=False).view()
        self.tokens.setflags(write=False)  # Items are views; keep them from being written.
        self.window = int(window)
        self._len = (len(tokens) - 1) // self.window
        if self._len < 1:
            raise DataError(
                f"the corpus has {len(tokens)} tokens, fewer than one window of {self.window + 1}:"
                " use a shorter window (context length) or a larger corpus."
            )

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        index = int(index)
        if not -self._len <= index < self._len:
            raise IndexError(f"index {index} out of range for TokenWindows of length {self._len}.")
        start = (index % self._len) * self.window
        return {"tokens": self.tokens[start : start + self.window + 1]}

    def __repr__(self) -> str:
        return f"TokenWindows({len(self.tokens)} tokens, window={self.window}, len={self._len})"


def split_tokens(tokens: np.ndarray, eval_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Splits a token stream into a training head and a contiguous held-out tail.

    The tail is contiguous, not a random sample of windows: neighbouring windows share a token and
    neighbouring text shares names, phrases and whole repeated passages, so windows drawn at random
    would put the context of most eval windows in training and flatter the eval loss. A tail is
    text the model has not seen, like a held-out set of documents (for the KJV, the last books).

    Args:
        tokens: int [N].
        eval_fraction: in (0, 1); the tail has round(N * eval_fraction) tokens (at least 1).

    Returns:
        (train int [N - E], eval int [E]), views of `tokens`.
    """
    tokens = np.asarray(tokens)
    if not 0.0 < eval_fraction < 1.0:
        raise DataError(f"eval_fraction must be in (0, 1), got {eval_fraction}.")
    n_eval = max(1, int(round(len(tokens) * eval_fraction)))
    if n_eval >= len(tokens):
        raise DataError(
            f"{len(tokens)} tokens are too few to hold out {eval_fraction:.0%}: use more text."
        )
    return tokens[: len(tokens) - n_eval], tokens[len(tokens) - n_eval :]


def bits_per_byte(nats_per_token: float, num_tokens: int, num_bytes: int) -> float:
    """A language-modelling loss in bits per UTF-8 byte, comparable across tokenizers.

    bpb = (nats_per_token * num_tokens) / num_bytes / ln 2: the total code length of the text in
    nats, spread over its bytes, in bits. A tokenizer with longer tokens has a higher loss per token
    but the same bits per byte for the same model quality.

    Args:
        nats_per_token: mean cross-entropy per predicted token (natural log).
        num_tokens: how many tokens were predicted.
        num_bytes: UTF-8 bytes those tokens stand for (`Tokenizer.num_bytes(targets)`).
    """
    if num_bytes <= 0 or num_tokens < 0:
        raise DataError(
            f"num_bytes must be positive and num_tokens non-negative, got {num_bytes}, {num_tokens}."
        )
    return float(nats_per_token) * num_tokens / num_bytes / math.log(2)
