"""Translating text with a trained Transformer, and corpus BLEU of an eval split.

Host-side: decoded strings cannot come out of a jitted step, so ``translate_source`` runs the
jitted beam search (``methods.translation.translate``) batch by batch, decodes the ids with the
target tokenizer, and ``corpus_bleu`` scores the detokenized output against the raw references
with sacrebleu (Post 2018, "A Call for Clarity in Reporting BLEU Scores"): BLEU = BP · exp(Σ_n ¼
log p_n) over 1- to 4-gram precisions with the brevity penalty (Papineni et al. 2002), on
sacrebleu's default 13a tokenization. (Vaswani et al. 2017 report tokenized BLEU, a little higher.)

    model, params, tokenizers, config = load_translation_model("runs/reverse")
    translate_texts(model, params, tokenizers, ["a b c"], max_source_length=11, max_length=11)
"""

from __future__ import annotations

import functools
import os
from typing import Any, Sequence

import jax
import numpy as np

from jaxpretrain.data.translation import (
    EOS_ID,
    TOKENIZER_FILE,
    TokenizerPair,
    TranslationSource,
)
from jaxpretrain.data.translation_pairs import ListPairs
from jaxpretrain.errors import InputError
from jaxpretrain.methods.translation import translate
from jaxpretrain.train import pretrained


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """sacrebleu's corpus BLEU (0-100) of detokenized ``hypotheses`` against one reference each."""
    import sacrebleu  # pylint: disable=import-outside-toplevel

    if len(hypotheses) != len(references) or not hypotheses:
        raise InputError(
            f"corpus_bleu needs one reference per hypothesis and at least one pair, got "
            f"{len(hypotheses)} hypotheses and {len(references)} references."
        )
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


def load_translation_model(workdir: str) -> tuple[Any, Any, TokenizerPair, Any]:
    """(model, params, tokenizers, config) of a trained translation workdir: its config.json,
    latest checkpoint and the tokenizer.json training wrote."""
    trained = pretrained.load_model(workdir, "translation", use="translation")
    tokenizer_file = os.path.join(workdir, TOKENIZER_FILE)
    tokenizers = TokenizerPair.load(tokenizer_file)
    trained.config.data.tokenizer = tokenizer_file  # Rebuilding a source reuses it, never retrains.
    return trained.model, trained.params, tokenizers, trained.config


@functools.lru_cache(maxsize=8)
def _translator(model, max_length: int, beam_size: int, alpha: float):
    return jax.jit(
        functools.partial(
            translate, model=model, max_length=max_length, beam_size=beam_size, alpha=alpha
        )
    )


def _text(tokenizers: TokenizerPair, ids: np.ndarray) -> str:
    """The target text of y_1..y_n EOS ... (everything from the first EOS on is dropped)."""
    ends = np.flatnonzero(ids == EOS_ID)
    return tokenizers.target.decode(ids[: ends[0]] if ends.size else ids)


def translate_source(
    model,
    params,
    source: TranslationSource,
    *,
    max_length: int,
    beam_size: int = 4,
    alpha: float = 0.6,
    batch_size: int = 64,
    max_examples: int = 0,
) -> list[str]:
    """Translations of the first ``max_examples`` (0: all) items of ``source``, in order.

    Args:
      model, params: a ``models.Transformer`` and its params.
      source: items as ``data.translation`` makes them.
      max_length: L, the most target tokens (EOS included) generated per sentence.
      beam_size: k (1: greedy). alpha: the length penalty's α (Vaswani et al.: k = 4, α = 0.6).
      batch_size: sentences per jitted call; the last batch is padded, so one shape compiles.
    """
    count = len(source) if not max_examples else min(max_examples, len(source))
    translate = _translator(model, max_length, beam_size, float(alpha))
    texts = []
    for start in range(0, count, batch_size):
        rows = [min(i, count - 1) for i in range(start, start + batch_size)]
        items = [source[i] for i in rows]
        tokens = np.stack([item["source"] for item in items])  # [B, S]
        lengths = np.stack([item["source_length"] for item in items])  # [B]
        valid = np.arange(tokens.shape[1]) < lengths[:, None]
        output = np.asarray(translate(params, tokens, valid))  # [B, L]
        texts += [_text(source.tokenizers, ids) for ids in output[: count - start]]
    return texts


def translate_texts(
    model,
    params,
    tokenizers: TokenizerPair,
    texts: Sequence[str],
    *,
    max_source_length: int,
    max_length: int,
    **kwargs,
) -> list[str]:
    """Translations of source sentences (``translate_source``'s keyword arguments apply).

    Raises:
      ValueError: a sentence has more than ``max_source_length`` tokens (with EOS).
    """
    pairs = ListPairs([(t, "") for t in texts], [f"sentence {i + 1}" for i in range(len(texts))])
    source = TranslationSource(
        pairs,
        tokenizers,
        max_source_length=max_source_length,
        max_target_length=1,  # Only the EOS: targets are what we generate.
        truncate=False,
        eager=True,
    )
    return translate_source(model, params, source, max_length=max_length, **kwargs)


def bleu(
    model, params, source: TranslationSource, *, max_length: int, **kwargs
) -> tuple[float, list[str]]:
    """(corpus BLEU, translations) of ``source`` against its raw target texts
    (``translate_source``'s keyword arguments apply)."""
    hypotheses = translate_source(model, params, source, max_length=max_length, **kwargs)
    references = [source.text(i)[1] for i in range(len(hypotheses))]
    return corpus_bleu(hypotheses, references), hypotheses
