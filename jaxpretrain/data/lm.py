"""Language-modelling data: a corpus, a BPE tokenizer trained on its training part, and windows.

`lm_sources(data_config)` turns `data_config.corpus` (see `corpus.corpus_text`) into a training
and an evaluation `TokenWindows`:

1. the text is split by characters into a head (1 - eval_fraction) and a contiguous held-out tail
   (eval_fraction), cut at a line break so no line straddles the two;
2. a byte-level BPE with `vocab_size` ids is trained on the head only (deterministic for a given
   text), so the held-out text influences nothing the model sees; or, with `tokenizer` set, a
   saved tokenizer is read instead (e.g. GPT-2's own, to fine-tune imported GPT-2 weights);
3. both parts are encoded; train and eval are non-overlapping windows of `context` + 1 tokens.

The result is cached per config values (`functools.lru_cache`): a config's corpus is tokenized
once however often its data set is loaded. Host-side numpy only.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from jaxpretrain.data.base import field
from jaxpretrain.data.corpus import corpus_key, corpus_text
from jaxpretrain.data.text import TokenWindows
from jaxpretrain.data.tokenization import Tokenizer
from jaxpretrain.errors import DataError


class LMSources(NamedTuple):
    """What `lm_sources` returns.

    Attributes:
        train: windows of the training head, items {"tokens": int32 [context + 1]}.
        eval: non-overlapping windows of the held-out tail.
        tokenizer: the BPE trained on the training head.
        eval_bytes_per_token: UTF-8 bytes per token of the eval tail, to turn nats/token into
            bits/byte: bpb = loss / ln 2 / eval_bytes_per_token (`text.bits_per_byte`).
    """

    train: TokenWindows
    eval: TokenWindows
    tokenizer: Tokenizer
    eval_bytes_per_token: float


def _split_text(text: str, eval_fraction: float) -> tuple[str, str]:
    """(head, tail) of `text`, the tail ~eval_fraction of its characters, cut after a newline."""
    if not 0.0 < eval_fraction < 1.0:
        raise DataError(f"data.eval_fraction must be in (0, 1), got {eval_fraction}.")
    cut = int(round(len(text) * (1.0 - eval_fraction)))
    newline = text.rfind("\n", 0, cut)
    cut = newline + 1 if newline > 0 else cut
    if cut <= 0 or cut >= len(text):
        raise DataError(
            f"a corpus of {len(text)} characters is too short to hold out {eval_fraction:.0%}:"
            " use more text or another data.eval_fraction."
        )
    return text[:cut], text[cut:]


@functools.lru_cache(maxsize=4)
def _cached(
    corpus: tuple[tuple[str, Any], ...],
    vocab_size: int,
    context: int,
    eval_fraction: float,
    tokenizer_path: str,
) -> LMSources:
    text = corpus_text(dict(corpus))
    head, tail = _split_text(text, eval_fraction)
    if tokenizer_path:
        tokenizer = Tokenizer.load(tokenizer_path)
        if tokenizer.vocab_size != vocab_size:
            raise DataError(
                f"data.tokenizer {tokenizer_path!r} has {tokenizer.vocab_size} ids but"
                f" data.vocab_size={vocab_size}: set data.vocab_size={tokenizer.vocab_size}."
            )
    else:
        tokenizer = Tokenizer.train(head, vocab_size=vocab_size)
        if tokenizer.vocab_size != vocab_size:
            raise DataError(
                f"BPE on corpus {dict(corpus)['corpus']!r} stopped at {tokenizer.vocab_size} ids,"
                f" below data.vocab_size={vocab_size}: the text has too few distinct pairs; lower"
                " vocab_size."
            )
    train_ids, eval_ids = tokenizer.encode(head), tokenizer.encode(tail)
    for ids in (train_ids, eval_ids):
        ids.setflags(write=False)
    return LMSources(
        train=TokenWindows(train_ids, context),
        eval=TokenWindows(eval_ids, context),
        tokenizer=tokenizer,
        eval_bytes_per_token=tokenizer.num_bytes(eval_ids) / max(len(eval_ids), 1),
    )


def lm_sources(data_config: Any) -> LMSources:
    """Train/eval token windows, the tokenizer and eval bytes/token for a text data config.

    Fields of `data_config` (ml_collections.ConfigDict or dict):
        corpus: "kjv", "files:<glob>" or "tfds:<name>" (`corpus.corpus_text`, which also reads
            the optional TFDS fields `tfds_split`, `text_feature`, `max_documents`, `data_dir`).
        vocab_size: V of the byte-level BPE, trained on the training part only; ≥ 257.
        context: W, the model's context length; items hold W + 1 tokens.
        eval_fraction: share of the text (by characters, from the end) held out (default 0.05).
        tokenizer: optional; a saved tokenizer (`Tokenizer.load`: a tokenizer.json, or a
            directory with GPT-2's vocab.json + merges.txt) used instead of training one. Its
            size must equal vocab_size.

    Args:
        data_config: the config's `data` block.
    """
    corpus = field(data_config, "corpus")
    vocab_size = int(field(data_config, "vocab_size", 0))
    context = int(field(data_config, "context", 0))
    if not isinstance(corpus, str) or not corpus:
        raise DataError("data.corpus must name a corpus: 'kjv', 'files:<glob>' or 'tfds:<name>'.")
    if vocab_size <= 256:
        raise DataError(
            f"data.vocab_size must exceed 256 (the byte symbols plus <|endoftext|>), got {vocab_size}."
        )
    if context < 1:
        raise DataError(f"data.context must be a positive int, got {context}.")
    eval_fraction = float(field(data_config, "eval_fraction", 0.05))
    tokenizer_path = str(field(data_config, "tokenizer", ""))
    # Cached per corpus, tokenizer and window settings.
    return _cached(corpus_key(data_config), vocab_size, context, eval_fraction, tokenizer_path)
