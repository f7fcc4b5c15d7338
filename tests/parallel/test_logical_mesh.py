"""The (data, model) mesh driven by the models' logical axis names: GPT on 8 fake CPU devices as
8x1, 4x2, 2x4 and 8x1 with FSDP, and the translation Transformer as 4x2 and 2x4 with FSDP (its
compilations cost more), take the same 3 steps as on one device, with parameters really split."""

import jax
import numpy as np
import pytest
from conftest import load_config, max_relative_difference

from jaxpretrain import parallel
from jaxpretrain.train.experiment import build_experiment

STEPS = 3
# layout: (mesh.model, fsdp) on the 8 devices.
LAYOUTS = {"8x1": (1, False), "4x2": (2, False), "2x4": (4, False), "8x1 fsdp": (1, True)}
MODELS = {
    "gpt2_kjv": ("8x1", "4x2", "2x4", "8x1 fsdp"),
    "transformer_reverse": ("4x2", "2x4 fsdp"),
}
LAYOUTS["2x4 fsdp"] = (4, True)


def _run(name, devices, model=1, fsdp=False):
    config = load_config(name)
    config.fsdp = fsdp
    experiment = build_experiment(config, parallel.make_mesh(devices, model=model))
    state, losses = experiment.state, []
    for step in range(STEPS):
        state, metrics = experiment.step(state, experiment.global_batch(step))
        losses.append(float(metrics["loss"]))
    return np.asarray(losses), state.params


@pytest.fixture(scope="module", params=list(MODELS))
def runs(request):
    """{layout: (losses [STEPS], params)} with the 1-device run under "1x1"."""
    out = {"1x1": _run(request.param, jax.devices()[:1])}
    for layout in MODELS[request.param]:
        out[layout] = _run(request.param, jax.devices(), *LAYOUTS[layout])
    return out


def test_meshes_match_one_device(runs):
    losses_1, params_1 = runs["1x1"]
    for layout, (losses, params) in runs.items():
        np.testing.assert_allclose(losses, losses_1, rtol=1e-5, err_msg=layout)
        assert max_relative_difference(params, params_1) < 1e-5, layout


def _specs(params):
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return {jax.tree_util.keystr(path): tuple(leaf.sharding.spec) for path, leaf in flat}


def test_parameters_are_split_by_their_names(runs):
    # 4x2: attention kernels W[h, k, j] [H, K, D] split by heads over `model` (H = 2 in both).
    heads = _specs(runs["4x2"][1])
    queries = [s for k, s in heads.items() if k.endswith("['query']['kernel']")]
    assert queries and all(s == ("model", None, None) for s in queries), heads
    # 2x4: the MLP's W_1 [D, F] split by columns over `model` (F divides by 4 in both models).
    columns = _specs(runs[next(k for k in runs if k.startswith("2x4"))][1])
    fc = [s for k, s in columns.items() if k.endswith("['fc']['kernel']")]
    assert fc and all(s[-1] == "model" for s in fc), columns
    # FSDP splits GPT's embedding [V, D] by D over `data` (the smoke translation model has no
    # parameter of FSDP's minimum size, 2^14).
    if "8x1 fsdp" in runs:
        fsdp = _specs(runs["8x1 fsdp"][1])
        assert fsdp["['wte']['embedding']"] == ("model", "data"), fsdp
