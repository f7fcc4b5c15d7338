"""The co-training estimate against the exact mutual information of a binary Markov chain (the
encoder fixed to the identity code), and CPC's InfoNCE bound on the same chain
(scripts/markov_mi.py prints both for several flip probabilities)."""

import importlib.util
import math
import os
import sys

import numpy as np
from conftest import ROOT

TOLERANCE = 0.02  # Nats: |Î - I| after fitting the entropy models on 8,192 transitions.


def _markov_module():
    name = "scripts_markov_mi"
    path = os.path.join(ROOT, "scripts", "markov_mi.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_true_mi_formula():
    markov = _markov_module()
    assert math.isclose(markov.true_mi(0.0, 3), math.log(2))  # Never flips: x_t fixes x_{t+k}.
    assert math.isclose(markov.true_mi(0.5, 1), 0.0, abs_tol=1e-12)  # Independent.
    # p_2 = 2p(1 - p): two steps flip once.
    p2 = 2 * 0.1 * 0.9
    want = math.log(2) + p2 * math.log(p2) + (1 - p2) * math.log(1 - p2)
    assert math.isclose(markov.true_mi(0.1, 2), want)
    chain = markov.sample_chain(0, 200, 50, 0.1)
    assert set(np.unique(chain)) == {0, 1}
    assert abs(np.mean(chain[:, 1:] != chain[:, :-1]) - 0.1) < 0.01


def test_estimate_converges_to_the_true_mi_and_cpc_bound_stays_below():
    markov = _markov_module()
    flip, offsets = 0.1, 3
    train, test = (markov.sample_chain(seed, 128, 64, flip) for seed in (0, 1))
    estimate = markov.cotraining_estimate(train, test, offsets, steps=200)
    truth = np.array([markov.true_mi(flip, k) for k in range(1, offsets + 1)])  # 0.368 .. 0.138
    print("true I", truth, "co-training Î", estimate)
    np.testing.assert_allclose(estimate, truth, atol=TOLERANCE)
    # Batches of 64 chains of 8 steps (512 candidates); the bound averaged over 8 test batches.
    tests = np.stack([markov.sample_chain(seed, 64, 8, flip) for seed in range(3, 11)])
    bound = markov.cpc_bound(markov.sample_chain(2, 64, 8, flip), tests, offsets, steps=150)
    print("CPC bound", bound)
    assert np.all(bound < truth + TOLERANCE) and np.all(bound > 0.5 * truth), bound
