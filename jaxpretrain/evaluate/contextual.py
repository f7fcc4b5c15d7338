"""ELMo's contextual word vectors of sentences, from an ELMo run or a downstream run built on one.

Each sentence is read alone as <S> tokens </S> (``data.characters``; tokens are words and
punctuation, ``characters.tokenize``), so a vector depends on its sentence and nothing else.
For each token t it gives ELMo's layers (Peters et al. 2018, Sec. 3.2), each 2P dims:
  layer 0: [x_t; x_t], the character encoder's context-free token vector, twice;
  layer j: [→h_t,j; ←h_t,j], both LSTMs' outputs at layer j = 1..L;
or their scalar mix γ Σ_j softmax(s)_j h_t,j (``models.ScalarMix``): the one a downstream run
learned (``configs/probe_kjv.py``), or for a plain ELMo run the equal-weight average (s = 0, γ
= 1). A word never seen in training still has characters, hence vectors.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxpretrain.data.characters import MAX_CHARS, sentence_char_ids, tokenize
from jaxpretrain.errors import InputError, NotFoundError
from jaxpretrain.methods.elmo import bilm
from jaxpretrain.models.elmo import BiLM, ScalarMix, word_mask
from jaxpretrain.train import checkpoint

OUTPUTS = ("layers", "mix")


class ContextualEncoder(NamedTuple):
    """A biLM, its params and a scalar mix's params ({"weights" [L + 1], "gamma" []})."""

    bilm: BiLM
    params: Any
    mix: Any
    max_chars: int


def load_contextual_encoder(workdir: str) -> ContextualEncoder:
    """The biLM of an ``elmo`` run (with an equal-weight mix), or of a downstream run whose
    backbone is "elmo" (with the mix it learned).

    Raises:
      FileNotFoundError: no config.json in ``workdir``.
      ValueError: a run of another model.
      CheckpointError: no readable checkpoint.
    """
    config = checkpoint.source_config(workdir)
    if config is None:
        raise NotFoundError(f"{workdir!r} holds no config.json: give an elmo training workdir.")
    config = ml_collections.ConfigDict(config)
    model = config.model
    if config.method != "elmo" and model.get("backbone") != "elmo":
        raise InputError(
            f"{workdir!r} trained method {config.method!r} with backbone"
            f" {model.get('backbone')!r}: contextual vectors need an elmo run, or a run whose"
            " backbone is 'elmo'."
        )
    params = checkpoint.restore_params(workdir)
    module = bilm(model)
    if config.method == "elmo":
        layers = module.num_layers + 1
        mix = {"weights": np.zeros(layers, np.float32), "gamma": np.ones((), np.float32)}
        return ContextualEncoder(
            module, params["bilm"], mix, config.data.get("max_chars", MAX_CHARS)
        )
    backbone = params["backbone"]
    return ContextualEncoder(
        module, backbone["bilm"], backbone["mix"], config.data.get("max_chars", MAX_CHARS)
    )


def contextual_vectors(
    encoder: ContextualEncoder,
    sentences: Sequence[str],
    *,
    output: str = "layers",
    batch_size: int = 32,
) -> tuple[np.ndarray, list[list[str]]]:
    """ELMo's vectors of every token of ``sentences`` (module docstring).

    Args:
      encoder: from ``load_contextual_encoder``.
      sentences: N non-empty strings, each one sentence.
      output: "layers" (every layer) or "mix" (the scalar mix).
      batch_size: sentences per compiled call.

    Returns:
      (vectors, tokens): float32 [N, L + 1, T, 2P] ("layers") or [N, T, 2P] ("mix"), T the most
      tokens of a sentence, zero past each sentence's end; and each sentence's tokens (row n's
      first len(tokens[n]) positions).

    Raises:
      ValueError: an unknown output, or an empty sentence (the message names it).
    """
    if output not in OUTPUTS:
        raise InputError(f"output must be one of {OUTPUTS}, got {output!r}.")
    tokens = [tokenize(s) for s in sentences]
    chars = sentence_char_ids(tokens, max_chars=encoder.max_chars)  # [N, T + 2, C]; checks.
    mix = ScalarMix(encoder.bilm.num_layers + 1)

    @jax.jit
    def embed(chars):
        layers = encoder.bilm.apply({"params": encoder.params}, chars, method="layers")
        words = word_mask(chars)
        if output == "mix":
            layers = mix.apply({"params": encoder.mix}, layers, words)
        else:
            layers = jnp.moveaxis(layers, 0, 1)  # [B, L + 1, T, 2P]
            words = words[:, None]
        layers = layers * words[..., None].astype(layers.dtype)
        return layers[..., 1:-1, :]  # Drop <S> and the last position (</S> or padding).

    rows = len(chars)
    padded = -(-rows // batch_size) * batch_size
    chars = np.concatenate([chars, np.zeros((padded - rows, *chars.shape[1:]), chars.dtype)])
    out = [np.asarray(embed(chars[i : i + batch_size])) for i in range(0, padded, batch_size)]
    return np.concatenate(out)[:rows].astype(np.float32), tokens
