"""ELMo pretraining: a forward and a backward language model over characters (Peters et al. 2018,
"Deep contextualized word representations", Sec. 3.1).

The biLM (``models.ElmoLM``) reads each sentence <S> t_1 .. t_n </S> of a row of packed
sentences (``data.sentences``) and jointly maximises the log likelihood of both directions,

    L = ½ (mean_t -log p(t_{k+1} | t_1..t_k; →Θ) + mean_t -log p(t_{k-1} | t_k..t_n; ←Θ)),

each direction a ``losses.next_token`` cross-entropy over its N = tokens − sentences
predictions (the forward LM never predicts <S>, the backward one never </S>), with the token
encoder and the softmax shared. ``config.sampled_softmax`` = K > 0 trains on a sampled softmax
(``losses.sampled_softmax_cross_entropy``, K log-uniform candidates per step, as bilm-tf) for a
large vocabulary; evaluation is always the full softmax.

Held-out perplexity (``split_metrics``) is exp of the mean negative log likelihood per
prediction over the whole eval split, per direction (``forward_perplexity``,
``backward_perplexity``) and averaged as bilm-tf reports it, exp(½(CE_f + CE_b))
(``perplexity``); the eval split's sentences are never trained on. The ``eval/loss`` row is
a mean over batches weighted by rows, not predictions: quote the split's perplexities.

A downstream task (``methods.finetune`` with ``config.model.backbone = "elmo"``) inherits the
biLM: ``ENCODER`` is "bilm"; the softmax is left behind.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxpretrain import losses, models
from jaxpretrain.errors import ConfigError
from jaxpretrain.methods.common import require_dataset

ENCODER = "bilm"
_NOT_MODEL_FIELDS = ("backbone", "mix_layer_norm", "vocab_size")


def bilm(model_config) -> models.BiLM:
    """The ``models.BiLM`` of a ``config.model`` block (its fields but backbone, mix_layer_norm
    and vocab_size)."""
    return models.BiLM(**models.module_fields(model_config, drop=_NOT_MODEL_FIELDS))


def make_model(config, dataset=None) -> models.ElmoLM:
    """``models.ElmoLM`` over ``bilm(config.model)``; V is the data's vocabulary size, or
    ``config.model.vocab_size`` when no data set is given (both given: they must agree)."""
    size = config.model.get("vocab_size")
    if dataset is not None:
        data_size = dataset.tokenizer.vocab_size
        if size not in (None, data_size):
            raise ConfigError(
                f"config.model.vocab_size={size} but the data's vocabulary has {data_size}"
                f" words: drop the field or set it to {data_size}."
            )
        size = data_size
    elif size is None:
        require_dataset(dataset, "elmo")
    return models.ElmoLM(bilm(config.model), size)


def _check(batch) -> None:
    chars, ids, segments = batch["chars"], batch["ids"], batch["segments"]
    if chars.ndim != 3 or ids.shape != chars.shape[:2] or segments.shape != ids.shape:
        raise ConfigError(
            "elmo expects chars int [B, T, C], ids and segments int [B, T] (data.sentences),"
            f" got shapes {chars.shape}, {ids.shape} and {segments.shape}."
        )


def _pairs(batch):
    """bool [B, T - 1]: position t and t + 1 are tokens of one sentence, in a real row: the
    forward LM at t predicts t + 1 there, and the backward LM at t + 1 predicts t."""
    segments = batch["segments"]
    pairs = (segments[:, :-1] == segments[:, 1:]) & (segments[:, 1:] > 0)
    rows = batch.get("mask")  # bool [B]: False marks eval padding rows.
    return pairs if rows is None else pairs & rows[:, None]


def _token_losses(params, batch, *, model, config, rng=None):
    """Per-prediction losses of both directions, float32 [B, T - 1] each (0 where no pair)."""
    _check(batch)
    ids, pairs = batch["ids"], _pairs(batch)
    forward_targets = jnp.maximum(ids[:, 1:], 0)  # Position t predicts t + 1 ...
    backward_targets = jnp.maximum(ids[:, :-1], 0)  # ... and t + 1 predicts t.
    dropout = rng is not None and config.model.get("dropout_rate", 0.0) > 0
    kwargs = dict(deterministic=not dropout, rngs={"dropout": rng} if dropout else {})
    samples = config.get("sampled_softmax", 0) if rng is not None else 0
    if not samples:
        forward, backward = model.apply(
            {"params": params}, batch["chars"], batch["segments"], **kwargs
        )
        return (
            losses.next_token(forward[:, :-1], forward_targets, where=pairs),
            losses.next_token(backward[:, 1:], backward_targets, where=pairs),
        )
    forward, backward = model.apply(
        {"params": params}, batch["chars"], batch["segments"], method="hidden", **kwargs
    )
    softmax = params["softmax"]
    candidates = losses.log_uniform_samples(
        jax.random.fold_in(rng, 1), samples, softmax["kernel"].shape[1]
    )

    def sampled(hidden, targets):
        flat = hidden.reshape(-1, hidden.shape[-1])
        loss = losses.sampled_softmax_cross_entropy(
            flat,
            softmax["kernel"],
            softmax["bias"],
            targets.reshape(-1),
            candidates,
            where=pairs.reshape(-1),
        )
        return loss.reshape(targets.shape)

    return sampled(forward[:, :-1], forward_targets), sampled(backward[:, 1:], backward_targets)


def _mean(values, pairs):
    return jnp.sum(values) / jnp.maximum(jnp.sum(pairs), 1)


def loss_fn(params, batch, rng, *, model, config):
    """½ (forward + backward) mean cross-entropy per prediction (module docstring) of a batch:
    ``chars`` int [B, T, C], ``ids``, ``segments`` int [B, T]; an optional ``mask`` bool [B]
    excludes padding rows. ``rng`` drives dropout and the sampled softmax's candidates."""
    forward, backward = _token_losses(params, batch, model=model, config=config, rng=rng)
    pairs = _pairs(batch)
    forward_loss, backward_loss = _mean(forward, pairs), _mean(backward, pairs)
    loss = 0.5 * (forward_loss + backward_loss)
    return loss, {
        "forward_loss": forward_loss,
        "backward_loss": backward_loss,
        "perplexity": jnp.exp(loss),
    }


def eval_metrics(params, batch, *, model, config):
    """The full-softmax losses without dropout, per prediction within the batch."""
    forward, backward = _token_losses(params, batch, model=model, config=config)
    pairs = _pairs(batch)
    forward_loss, backward_loss = _mean(forward, pairs), _mean(backward, pairs)
    return {
        "loss": 0.5 * (forward_loss + backward_loss),
        "forward_loss": forward_loss,
        "backward_loss": backward_loss,
    }


def eval_outputs(params, batch, *, model, config):
    """Each row's summed full-softmax negative log likelihood per direction and its prediction
    count, [B] each: the split's exact perplexities (``split_metrics``)."""
    forward, backward = _token_losses(params, batch, model=model, config=config)
    return {
        "forward_nll": jnp.sum(forward, axis=1),
        "backward_nll": jnp.sum(backward, axis=1),
        "predictions": jnp.sum(_pairs(batch), axis=1),
    }


def split_metrics(outputs, *, config) -> dict[str, float]:
    """Held-out perplexities over every prediction of the split: exp(CE_f), exp(CE_b) and
    exp(½(CE_f + CE_b)), and the same in nats."""
    del config
    count = max(float(np.sum(outputs["predictions"])), 1.0)
    forward = float(np.sum(outputs["forward_nll"])) / count
    backward = float(np.sum(outputs["backward_nll"])) / count
    mean = 0.5 * (forward + backward)
    return {
        "forward_perplexity": math.exp(forward),
        "backward_perplexity": math.exp(backward),
        "perplexity": math.exp(mean),
        "nll_per_prediction": mean,
        "predictions": count,
    }


def init_params(rng, batch, *, model, config):
    del config
    _check(batch)
    return model.init(rng, batch["chars"][:1], batch["segments"][:1])["params"]


def preprocess(config, *, train: bool, dataset=None):
    """No per-example transform: the packed rows are used as they are."""
    del config, train, dataset
    return None
