"""The (data, model) mesh driven by the models' logical axis names: on 8 fake CPU devices, GPT as
2x4 with FSDP and the translation Transformer as 4x2 take the same 3 steps as on one device,
with their parameters really split. (8x1, replicated and FSDP, is tests/parallel/test_mesh.py's;
every other layout of both models, in the README's figures, was measured with this code.)"""

import jax
import numpy as np
import pytest
from conftest import load_config, max_relative_difference

from jaxpretrain import parallel
from jaxpretrain.train.experiment import build_experiment

STEPS = 3
# config: (mesh.model, fsdp) on the 8 devices: 2x4 with FSDP, and 4x2.
LAYOUTS = {"gpt2_kjv": (4, True), "transformer_reverse": (2, False)}


def _run(name, devices, model=1, fsdp=False):
    config = load_config(name)
    config.fsdp = fsdp
    experiment = build_experiment(config, parallel.make_mesh(devices, model=model))
    state, losses = experiment.state, []
    for step in range(STEPS):
        state, metrics = experiment.step(state, experiment.global_batch(step))
        losses.append(float(metrics["loss"]))
    return np.asarray(losses), state.params


@pytest.fixture(scope="module", params=list(LAYOUTS))
def runs(request):
    """(name, (losses [STEPS], params) on one device, the same on the 8-device mesh)."""
    name = request.param
    return name, _run(name, jax.devices()[:1]), _run(name, jax.devices(), *LAYOUTS[name])


def test_mesh_matches_one_device(runs):
    _, (losses_1, params_1), (losses, params) = runs
    np.testing.assert_allclose(losses, losses_1, rtol=1e-5)
    assert max_relative_difference(params, params_1) < 1e-5


def test_parameters_are_split_by_their_names(runs):
    name, _, (_, params) = runs
    model, _ = LAYOUTS[name]
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    specs = {jax.tree_util.keystr(path): tuple(leaf.sharding.spec) for path, leaf in flat}

    def all_end(suffix):
        return [spec for key, spec in specs.items() if key.endswith(suffix)]

    # Attention kernels W[h, k, j] [H, K, D] split by heads over `model` where it divides H = 2.
    heads = "model" if 2 % model == 0 else None
    assert all_end("['query']['kernel']") and {*all_end("['query']['kernel']")} == {
        (heads, None, None)
    }, specs
    # The MLP's W_1 [D, F] split by columns over `model`, W_2 [F, D] by rows.
    assert all_end("['fc']['kernel']") and {*all_end("['fc']['kernel']")} == {(None, "model")}
    assert all_end("['proj']['kernel']") and {*all_end("['proj']['kernel']")} == {("model", None)}
    if name == "gpt2_kjv":  # FSDP: the embedding [V, D] split by V over `model`, D over `data`.
        embedding = params["wte"]["embedding"]
        assert tuple(embedding.sharding.spec) == ("model", "data")
        assert embedding.sharding.shard_shape(embedding.shape) == (512 // 4, 32 // 2)
