"""Information-theoretic co-training with a difference of entropy models (McAllester 2018,
"Information Theoretic Co-Training", arXiv 1802.07572), on sequences.

The encoder Φ gives each position a distribution q_Φ(k|x_t) over K codes z_t and a context c_t
summarising x_≤t (``models.cotraining``). With entropies estimated by cross-entropy models
(``losses.cross_entropy_entropy``; upper bounds, each minimised by its own model player),

    Ĥ(z)      = min_Ψ E -Σ_k q(k|x_t) ln P_Ψ(k)                  (the marginal model)
    Ĥ_Δt(z|c) = min_Ψ E -Σ_k q(k|x_{t+Δt}) ln P_Ψ(k|c_t)        (one conditional model per Δt)
    Î_Δt      = Ĥ(z) - Ĥ_Δt(z|c),

the encoder maximises Σ_Δt λ_Δt Î_Δt - λ Ĥ(z) (McAllester's (1-β)Ĥ(z) - Ĥ(z|c) for one offset,
β = λ), i.e. it minimises

    L_Φ = Σ_Δt λ_Δt Ĥ_Δt(z|c) - (Σ_Δt λ_Δt - λ) Ĥ(z) + γ E_x H(q(·|x))

(γ: the sharpening guard below).

Against the marginal model it is adversarial: Φ maximises the cross-entropy P_Ψ(z) minimises,
which spreads the codes over all K. Requiring 0 < λ < Σ λ_Δt keeps that push positive.

Collapse guards. Two ways for the codes to collapse, each with Î = 0:
- to uniform codes: every q(·|x) uniform gives Ĥ(z) = Ĥ(z|c) = ln K and ∂L_Φ/∂q the same for
  every code, so the softmax passes no gradient (a saddle; uniform soft codes maximise the
  adversarial Ĥ(z) for free);
- to one code for every frame: while Ĥ(z|c) ≈ Ĥ(z), ∂L_Φ/∂q_k ≈ λ(-ln P_Ψ(k)) favours the most
  frequent code, and the estimate rewards the collapse as long as the marginal model lags (its
  logits must diverge to fit a deterministic code, and the conditional heads, with D_c inputs
  each, fit faster): a spurious Î = Ĥ(z) - Ĥ(z|c) > 0. Measured on MNIST-1D without guards.
The guards are DINO's pair (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision
Transformers", Sec. 3.1: "centering prevents one dimension to dominate but encourages collapse
to the uniform distribution, while the sharpening has the opposite effect"):
- centering (``config.cotraining.center_codes``): the code logits minus their mean over the
  batch's real frames (DINO keeps a running mean; the batch mean needs no state), so no code
  can win every frame;
- sharpening (γ, ``config.cotraining.code_entropy_weight``): γ E_x H(q(·|x)), the per-example
  code entropy that I(x; z) = H(z) - H(z|x) subtracts (Krause et al. 2010, "Discriminative
  Clustering by Regularized Information Maximization"; Hu et al. 2017, IMSAT), which drives the
  codes towards the deterministic z_Φ(x) McAllester's objective is stated for and makes the
  uniform point a maximum of L_Φ rather than a resting point.

Three players, ``loss_fns = {"marginal", "conditional", "encoder"}``, in this order in the one
step, each on its own optimizer (``config.optimizers.<player>``, else ``config.optimizer``): the
entropy models first fit the current codes (Ψ ≈ Ψ*(Φ), which is what makes Ĥ an estimate), then
the encoder steps against the updated models (as a GAN's generator steps after its
discriminator).

Metrics (the encoder's step logs them as encoder/..., and every eval): ``entropy/marginal`` Ĥ(z), per offset
``entropy/conditional/dt{k}`` Ĥ(z|c) and ``mi/dt{k}`` Î (all in nats), and the collapse
indicators ``code_entropy`` E_x H(q(·|x)) (ln K at collapse) and ``code_perplexity``
exp H(q̄) of the batch's mean code distribution q̄ (the number of codes in use; K at most).

``ENCODER`` is "encoder/backbone": CPC's sequence backbone with the same parameter names, so a
CPC linear-probe config (``configs/cpc_probe_mnist1d.py`` shape) inherits it unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpretrain import losses, models
from jaxpretrain.errors import ConfigError
from jaxpretrain.methods import supervised
from jaxpretrain.methods.common import masked_mean
from jaxpretrain.models import cotraining as cotraining_models

ENCODER = "encoder/backbone"


def offset_weights(config) -> tuple[float, ...]:
    """λ_Δt for Δt = 1..D (``config.cotraining.offset_weights``; empty: all 1)."""
    return tuple(config.cotraining.offset_weights) or (1.0,) * config.cotraining.offsets


def _check(config) -> None:
    """One-line errors for a config the objective cannot use, before anything is built."""
    cot = config.cotraining
    if cot.num_codes < 2:
        raise ConfigError(
            f"config.cotraining.num_codes must be >= 2 codes, got K = {cot.num_codes}."
        )
    weights = tuple(cot.offset_weights)
    if cot.offsets < 1 or (weights and len(weights) != cot.offsets):
        raise ConfigError(
            f"config.cotraining.offsets must be >= 1 and offset_weights hold one λ_Δt per offset "
            f"(or be empty), got {cot.offsets} and {weights}."
        )
    if any(w <= 0 for w in weights):
        raise ConfigError(f"config.cotraining.offset_weights must all be > 0, got {weights}.")
    total = sum(offset_weights(config))
    if not 0 < cot.marginal_weight < total:
        raise ConfigError(
            f"config.cotraining.marginal_weight λ must lie in (0, Σ λ_Δt = {total:g}), got "
            f"{cot.marginal_weight}: λ <= 0 rewards Ĥ(z) without bound, λ >= Σ λ_Δt rewards one code."
        )
    if cot.code_entropy_weight < 0:
        raise ConfigError(
            f"config.cotraining.code_entropy_weight γ must be >= 0, got {cot.code_entropy_weight}."
        )
    if config.model.get("backbone") != "cpc_sequence":
        raise ConfigError(
            "cotraining encodes sequences with CPC's backbone: config.model.backbone must be "
            f"'cpc_sequence', got {config.model.get('backbone')!r}."
        )


def make_model(config, dataset=None) -> dict:
    """``{"marginal": MarginalModel, "conditional": ConditionalModels, "encoder": CodeEncoder}``."""
    del dataset
    _check(config)
    cot = config.cotraining
    return {
        "marginal": cotraining_models.MarginalModel(cot.num_codes),
        "conditional": cotraining_models.ConditionalModels(cot.num_codes, cot.offsets),
        "encoder": cotraining_models.CodeEncoder(
            models.backbone(config.model, pooled=False), cot.num_codes
        ),
    }


def _signal(batch, config):
    (key,) = models.backbone_inputs(config.model)  # "signal"
    return batch[key]


def init_params(rng, batch, *, model, config):
    e_rng, m_rng, c_rng = jax.random.split(rng, 3)
    encoder = model["encoder"].init(e_rng, _signal(batch, config))["params"]
    _, context = model["encoder"].apply({"params": encoder}, _signal(batch, config))
    return {
        "marginal": model["marginal"].init(m_rng)["params"],
        "conditional": model["conditional"].init(c_rng, context)["params"],
        "encoder": encoder,
    }


def _rows(where, shape):
    """The row mask [B] (or None) broadcast to every position: bool ``shape`` [B, T] or None."""
    return None if where is None else jnp.broadcast_to(where[:, None], shape)


def _mean(values, rows):
    """Mean of per-position values [B, T] over the positions ``rows`` (bool [B, T] or None) keeps."""
    return masked_mean(values.reshape(-1), None if rows is None else rows.reshape(-1))


def _code_mean(values, rows):
    """Per-code mean of [B, T, K] values over the positions ``rows`` keeps: [K]."""
    return jax.vmap(lambda v: _mean(v, rows), in_axes=-1)(values)


def entropy_estimates(codes, context, params, *, model, where=None) -> dict:
    """Ĥ(z), Ĥ_Δt(z|c) and Î_Δt from the codes and contexts, under the entropy models' params.

    Args:
      codes: float [B, T, K] code distributions q(·|x_t) (one-hot: deterministic codes).
      context: float [B, T, D_c] contexts c_t (c_t predicts the codes at t + Δt).
      params: ``{"marginal": ..., "conditional": ...}`` (other players' entries are ignored).
      model: ``{"marginal": MarginalModel, "conditional": ConditionalModels, ...}``.
      where: optional bool [B], the real rows.

    Returns:
      {"marginal": Ĥ(z) [], "conditional": Ĥ_Δt(z|c) [D], "mi": Î_Δt [D]}, means over the real
      rows' positions (for Δt, the positions t with a code at t + Δt), in nats.
    """
    marginal_logits = model["marginal"].apply({"params": params["marginal"]})  # [K]
    conditional_logits = model["conditional"].apply({"params": params["conditional"]}, context)
    rows = _rows(where, codes.shape[:2])
    h_z = _mean(losses.cross_entropy_entropy(codes, marginal_logits, where=rows), rows)
    h_zc = []
    for dt in range(1, conditional_logits.shape[0] + 1):
        target, logits = codes[:, dt:], conditional_logits[dt - 1, :, :-dt]  # z_{t+Δt} | c_t
        rows = _rows(where, target.shape[:2])
        h_zc.append(_mean(losses.cross_entropy_entropy(target, logits, where=rows), rows))
    h_zc = jnp.stack(h_zc)
    return {"marginal": h_z, "conditional": h_zc, "mi": h_z - h_zc}


def _encode(params, batch, *, model, config):
    """(code logits [B, T', K], codes q [B, T', K], context c [B, T', D_c]) of the batch; with
    ``config.cotraining.center_codes`` the logits are centred, f(x_t) - mean over the batch's
    real positions (DINO's centering, computed on the batch instead of a running mean)."""
    where = batch.get("mask")
    logits, context = model["encoder"].apply({"params": params["encoder"]}, _signal(batch, config))
    if config.cotraining.center_codes:
        rows = _rows(where, logits.shape[:2])
        logits = logits - _code_mean(logits, rows)
    return logits, jax.nn.softmax(logits, axis=-1), context


def marginal_loss(params, batch, rng, *, model, config):
    """Ĥ(z): the marginal model's cross-entropy on the current codes."""
    del rng
    _, codes, context = _encode(params, batch, model=model, config=config)
    return entropy_estimates(codes, context, params, model=model, where=batch.get("mask"))[
        "marginal"
    ], {}


def conditional_loss(params, batch, rng, *, model, config):
    """Σ_Δt Ĥ_Δt(z|c): each head fits its own offset (their sum, unweighted)."""
    del rng
    _, codes, context = _encode(params, batch, model=model, config=config)
    h_zc = entropy_estimates(codes, context, params, model=model, where=batch.get("mask"))
    return jnp.sum(h_zc["conditional"]), {}


def _metrics(estimates, code_entropy, codes, where) -> dict:
    """The logged estimates, and the collapse indicators E_x H(q(·|x)) and exp H(q̄)."""
    rows = _rows(where, codes.shape[:2])
    mean_code = _code_mean(codes, rows)  # q̄ [K]
    plugin_entropy = -jnp.sum(jnp.where(mean_code > 0, mean_code * jnp.log(mean_code), 0.0))
    metrics = {
        "entropy/marginal": estimates["marginal"],
        "code_entropy": code_entropy,
        "code_perplexity": jnp.exp(plugin_entropy),
    }
    for k in range(estimates["mi"].shape[0]):
        metrics[f"entropy/conditional/dt{k + 1}"] = estimates["conditional"][k]
        metrics[f"mi/dt{k + 1}"] = estimates["mi"][k]
    return metrics


def encoder_loss(params, batch, rng, *, model, config):
    """L_Φ = Σ λ_Δt Ĥ_Δt(z|c) - (Σ λ_Δt - λ) Ĥ(z) + γ E H(q(·|x)), against the current models."""
    del rng
    cot, where = config.cotraining, batch.get("mask")
    logits, codes, context = _encode(params, batch, model=model, config=config)
    estimates = entropy_estimates(codes, context, params, model=model, where=where)
    rows = _rows(where, logits.shape[:2])
    code_entropy = _mean(losses.code_entropy(logits, where=rows), rows)
    weights = jnp.asarray(offset_weights(config))
    loss = (
        jnp.sum(weights * estimates["conditional"])
        - (jnp.sum(weights) - cot.marginal_weight) * estimates["marginal"]
        + cot.code_entropy_weight * code_entropy
    )
    return loss, _metrics(estimates, code_entropy, jax.lax.stop_gradient(codes), where)


loss_fns = {"marginal": marginal_loss, "conditional": conditional_loss, "encoder": encoder_loss}


def eval_metrics(params, batch, *, model, config):
    """Ĥ(z), Ĥ_Δt(z|c), Î_Δt, the collapse indicators and the encoder's loss, on real rows."""
    loss, metrics = encoder_loss(params, batch, None, model=model, config=config)
    return {**metrics, "encoder_loss": loss}


preprocess = supervised.preprocess  # Signals as stored.
