"""Co-training's entropy-difference estimate and CPC's InfoNCE bound, checked against the truth.

  python scripts/markov_mi.py        # a table: flip p, offset k, true I, co-training Î, CPC bound

A binary symmetric Markov chain (x_0 uniform, each step flips with probability p) has
I(x_t; x_{t+k}) = ln 2 - H_b(p_k) with p_k = (1 - (1 - 2p)^k) / 2 exactly (the k-step flip
probability). The encoder is fixed to the identity code, z_t = c_t = one-hot(x_t) (the chain is
Markov, so x_t is a sufficient context); then

- co-training: ``methods.cotraining``'s marginal and conditional entropy models are trained on
  one sample of chains and Î_k = Ĥ(z) - Ĥ_k(z|c) (``methods.cotraining.entropy_estimates``) is
  measured on a fresh one; it converges to I (a difference of two cross-entropies, each tight
  at its optimum);
- CPC: a bilinear critic per offset (``models.cpc.Predictors``; with one-hot z and c it can
  express the optimal log-ratio ln p(x'|x)/p(x') exactly) is trained on InfoNCE with every
  latent of the batch as a candidate (``methods.cpc.cpc_losses``), and ``losses.mi_lower_bound``
  ln(N+1) - L is measured on the fresh sample: a lower bound, below I by the bias of InfoNCE.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpretrain import losses
from jaxpretrain.methods import cotraining, cpc
from jaxpretrain.models.cotraining import ConditionalModels, MarginalModel
from jaxpretrain.models.cpc import Predictors


def sample_chain(seed: int, num_chains: int, length: int, flip: float) -> np.ndarray:
    """int [num_chains, length] states of a binary symmetric Markov chain started uniform."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, 2, size=(num_chains, 1))
    flips = rng.random((num_chains, length - 1)) < flip
    return np.concatenate([start, start ^ np.cumsum(flips, axis=1) % 2], axis=1)


def true_mi(flip: float, offset: int) -> float:
    """I(x_t; x_{t+k}) = ln 2 - H_b(p_k), p_k = (1 - (1 - 2p)^k) / 2, in nats."""
    p = (1.0 - (1.0 - 2.0 * flip) ** offset) / 2.0
    entropy = 0.0 if p in (0.0, 1.0) else -p * math.log(p) - (1 - p) * math.log(1 - p)
    return math.log(2.0) - entropy


def _fit(loss_fn, params, steps: int, lr: float):
    """``params`` after ``steps`` full-batch Adam steps on ``loss_fn(params)``, in one compiled scan."""
    tx = optax.adam(lr)

    def step(carry, _):
        params, state = carry
        grads = jax.grad(loss_fn)(params)
        updates, state = tx.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.jit(lambda p: jax.lax.scan(step, (p, tx.init(p)), None, length=steps))(
        params
    )
    return params


def cotraining_estimate(train: np.ndarray, test: np.ndarray, offsets: int, steps: int = 300):
    """Î_k for k = 1..offsets [offsets]: entropy models fitted on ``train``, measured on ``test``."""
    model = {"marginal": MarginalModel(2), "conditional": ConditionalModels(2, offsets)}
    one_hot = lambda x: jax.nn.one_hot(jnp.asarray(x), 2)  # noqa: E731  Identity code.
    params = {
        "marginal": model["marginal"].init(jax.random.PRNGKey(0))["params"],
        "conditional": model["conditional"].init(jax.random.PRNGKey(1), one_hot(train))["params"],
    }

    def estimates(params, x):
        return cotraining.entropy_estimates(one_hot(x), one_hot(x), params, model=model)

    def loss(params):  # Each model minimises its own cross-entropy; their sum separates.
        h = estimates(params, train)
        return h["marginal"] + jnp.sum(h["conditional"])

    params = _fit(loss, params, steps, lr=0.1)
    return np.asarray(estimates(params, test)["mi"])


def cpc_bound(train: np.ndarray, tests: np.ndarray, offsets: int, steps: int = 300):
    """CPC's ln(N+1) - L_k for k = 1..offsets [offsets], the critic fitted on the batch ``train``
    [N, T] and the bound averaged over the batches ``tests`` [R, N, T] (one batch's value is
    noisy; the bound holds for the expectation)."""
    critic = Predictors(offsets, 2)
    one_hot = lambda x: jax.nn.one_hot(jnp.asarray(x), 2)  # noqa: E731
    params = critic.init(jax.random.PRNGKey(0), one_hot(train))["params"]

    def per_offset(params, x):
        z = one_hot(x)
        loss, _, candidates = cpc.cpc_losses(z, critic.apply({"params": params}, z))
        return loss, candidates

    params = _fit(lambda p: jnp.sum(per_offset(p, train)[0]), params, steps, lr=0.1)
    loss, candidates = jax.jit(jax.vmap(per_offset, in_axes=(None, 0)))(params, tests)
    return np.asarray(losses.mi_lower_bound(jnp.mean(loss, 0), int(candidates[0])))


def main() -> None:
    offsets, rows = 3, []
    rows.append("| flip p | k | true I (nats) | co-training Î | Î - I | CPC bound | bound - I |")
    rows.append("|---:|---:|---:|---:|---:|---:|---:|")
    for flip in (0.05, 0.1, 0.2):
        # Co-training: 256 chains of 64 steps; CPC: batches of 64 chains of 32 steps (2,048
        # candidates), the bound averaged over 8 test batches.
        cot = cotraining_estimate(
            sample_chain(0, 256, 64, flip), sample_chain(1, 256, 64, flip), offsets
        )
        tests = np.stack([sample_chain(seed, 64, 32, flip) for seed in range(3, 11)])
        bound = cpc_bound(sample_chain(2, 64, 32, flip), tests, offsets)
        for k in range(1, offsets + 1):
            truth = true_mi(flip, k)
            rows.append(
                f"| {flip} | {k} | {truth:.4f} | {cot[k - 1]:.4f} | {cot[k - 1] - truth:+.4f} "
                f"| {bound[k - 1]:.4f} | {bound[k - 1] - truth:+.4f} |"
            )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
