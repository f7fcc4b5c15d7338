"""Sentence embeddings from a BERT: a trained ``bert`` run or Hugging Face BERT weights.

Each sentence is encoded alone as [CLS] sentence [SEP] and summarised by one vector [D]:
- "cls": BERT's pooled output tanh(W h_L[CLS] + b), the vector its next-sentence head and
  fine-tuned task layers read (Devlin et al. 2019, Sec. 3);
- "mean": the mean of the last layer's outputs over the sentence's real tokens, h̄ =
  Σ_t valid_t h_L[t] / Σ_t valid_t ([CLS] and [SEP] included), which Reimers & Gurevych 2019
  (Sentence-BERT, Sec. 3) found the better pooling.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpretrain.data.wordpiece import WordPieceTokenizer
from jaxpretrain.errors import InputError
from jaxpretrain.models.bert import BertEncoder
from jaxpretrain.train import pretrained

POOLINGS = ("cls", "mean")


class SentenceEncoder(NamedTuple):
    """A BERT encoder, its params and the tokenizer its ids come from (``load_sentence_encoder``)."""

    encoder: BertEncoder
    params: Any
    tokenizer: WordPieceTokenizer


def load_sentence_encoder(path: str) -> SentenceEncoder:
    """The encoder of a trained ``bert`` workdir (its checkpoint and vocab.txt), or of "hf:<dir>"
    Hugging Face BERT weights (config.json, model.safetensors or pytorch_model.bin, vocab.txt)."""
    trained = pretrained.load_model(path, "bert", use="sentence embeddings")
    encoder = BertEncoder(**trained.model.encoder_fields())
    return SentenceEncoder(
        encoder, trained.params["encoder"], WordPieceTokenizer.load(trained.directory)
    )


def embed_sentences(
    sentence_encoder: SentenceEncoder,
    sentences: Sequence[str],
    *,
    pooling: str = "cls",
    max_length: int = 128,
    batch_size: int = 64,
) -> np.ndarray:
    """One vector per sentence: float32 [N, D] (module docstring).

    Args:
        sentence_encoder: from ``load_sentence_encoder`` (or built by hand).
        sentences: N strings; each is cut to ``max_length`` tokens with [CLS] and [SEP].
        pooling: "cls" (the pooled output) or "mean" (of the last layer over real tokens).
        max_length: T, at most the encoder's position table.
        batch_size: sentences per compiled call (the last batch is padded).
    """
    if pooling not in POOLINGS:
        raise InputError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}.")
    encoder, params, tokenizer = sentence_encoder
    if not 3 <= max_length <= encoder.max_length:
        raise InputError(
            f"max_length {max_length} must be in [3, {encoder.max_length}] (the model's"
            " positions): lower it."
        )
    if not sentences:
        return np.zeros((0, encoder.width), np.float32)

    @jax.jit
    def embed(tokens, valid):
        hidden, pooled = encoder.apply({"params": params}, tokens, None, valid, method="encode")
        if pooling == "cls":
            return pooled.astype(jnp.float32)
        weights = valid[..., None].astype(jnp.float32)  # [B, T, 1]
        return jnp.sum(hidden.astype(jnp.float32) * weights, 1) / jnp.sum(weights, 1)

    packed = [
        tokenizer.pack(ids, max_length=max_length) for ids in tokenizer.encode_batch(sentences)
    ]
    tokens = np.stack([p.tokens for p in packed])  # [N, T]
    valid = np.stack([p.valid for p in packed])  # [N, T]
    n = len(sentences)
    padded = -n % batch_size
    tokens = np.concatenate([tokens, np.repeat(tokens[:1], padded, 0)])
    valid = np.concatenate([valid, np.repeat(valid[:1], padded, 0)])
    out = [
        np.asarray(embed(tokens[i : i + batch_size], valid[i : i + batch_size]))
        for i in range(0, len(tokens), batch_size)
    ]
    return np.concatenate(out)[:n]
