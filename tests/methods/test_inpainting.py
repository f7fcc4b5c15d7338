"""Context-encoder inpainting: two players in the one step, masks, pictures, divergence, transfer."""

import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config
from PIL import Image

from jaxpretrain import parallel
from jaxpretrain.methods import inpainting
from jaxpretrain.train import CheckpointError, NonFiniteLossError, train
from jaxpretrain.train.checkpoint import restore_params
from jaxpretrain.train.experiment import build_experiment
from jaxpretrain.train.metrics import read_metrics


@pytest.fixture(scope="module")
def inpainting_run(tmp_path_factory):
    """A finished inpainting smoke run: 6 steps on 32x32 digits, checkpoints 3 and 6."""
    workdir = tmp_path_factory.mktemp("inpainting")
    train(load_config("inpainting_digits"), str(workdir))
    return str(workdir)


def _constant_lr(optimizer, lr):
    optimizer.update(base_lr=lr, lr_scaling="none", decay="constant", warmup_steps=0)


def test_generator_overfits_one_batch_against_its_discriminator():
    config = load_config("inpainting_digits")
    _constant_lr(config.optimizer, 3e-3)
    _constant_lr(config.optimizers.discriminator, 1e-3)
    experiment = build_experiment(config, parallel.make_mesh())
    batch = experiment.global_batch(0)
    state, first = experiment.step(experiment.state, batch)
    for _ in range(60):
        state, last = experiment.step(state, batch)
    first, last = jax.device_get((first, last))
    assert last["generator/reconstruction"] < 0.2 * first["generator/reconstruction"]
    # Both players were updated inside the one step, each with its own loss and optimizer.
    assert {"discriminator/loss", "generator/loss", "discriminator/lr", "generator/lr"} <= set(last)
    assert np.isfinite(last["discriminator/loss"]) and last["generator/lr"] == 3e-3


def test_losses_are_the_papers_weighted_sum_and_the_hole_is_what_is_scored():
    config = load_config("inpainting_digits")
    model = inpainting.make_model(config)
    rng = np.random.default_rng(0)
    image = rng.random((4, 16, 16, 1)).astype(np.float32)
    hole = np.zeros((4, 16, 16, 1), np.float32)
    hole[:, 4:12, 4:12] = 1.0
    batch = {"image": jnp.asarray(image), "hole": jnp.asarray(hole)}
    params = jax.jit(lambda r, b: inpainting.init_params(r, b, model=model, config=config))(
        jax.random.PRNGKey(0), batch
    )
    config.mask.overlap = 0
    loss, metrics = jax.jit(
        lambda p, b: inpainting.generator_loss(p, b, None, model=model, config=config)
    )(params, batch)
    prediction = jax.jit(model["generator"].apply)(
        {"params": params["generator"]}, image * (1 - hole)
    )
    sliced = np.mean((np.asarray(prediction) - image)[:, 4:12, 4:12] ** 2)
    np.testing.assert_allclose(metrics["reconstruction"], sliced, rtol=1e-5)
    np.testing.assert_allclose(
        loss, 0.999 * metrics["reconstruction"] + 0.001 * metrics["adversarial"], rtol=1e-6
    )
    # The context pixels of the input do not change the loss's hole, only what the model sees.
    changed = {**batch, "image": batch["image"].at[:, 4:12, 4:12].set(0.0)}
    fill = jax.jit(lambda p, b: inpainting._fill(p, b, model)[0])
    np.testing.assert_allclose(fill(params, changed), prediction, rtol=1e-6, atol=1e-6)


def test_overlap_weights_are_ten_on_a_band_around_the_hole():
    hole = np.zeros((1, 12, 12, 1), np.float32)
    hole[0, 4:8, 4:8] = 1.0
    weights = np.asarray(
        inpainting.reconstruction_weights(jnp.asarray(hole), overlap=2, overlap_weight=10.0)
    )
    expected = np.zeros((12, 12), np.float32)
    expected[2:10, 2:10] = 10.0
    expected[4:8, 4:8] = 1.0
    np.testing.assert_array_equal(weights[0, :, :, 0], expected)


def test_a_mask_larger_than_the_image_is_a_one_line_error():
    config = load_config("inpainting_digits")
    config.mask.size = 40
    with pytest.raises(ValueError, match="mask.size=40 is larger than the 32x32") as error:
        build_experiment(config, parallel.make_mesh())
    assert "\n" not in str(error.value)
    # Where the image size is only known per example, the host-side mask checks each one.
    config.data.image_size, config.mask.kind = 8, "blocks"
    transform = inpainting.preprocess(config, train=True)
    example = {"image": np.zeros((8, 8, 1), np.float32), "label": np.int32(0)}
    with pytest.raises(ValueError, match="does not fit the 8x8 image"):
        transform(example, np.random.default_rng(0))


@pytest.mark.slow  # Uses a finished training run.
def test_pictures_are_written_as_png_and_tensorboard_images_every_eval(inpainting_run):
    pictures = sorted(os.listdir(os.path.join(inpainting_run, "pictures")))
    assert pictures == ["inpainting_0000006.png"]  # Smoke: eval_every 0, the final eval only.
    grid = np.asarray(Image.open(os.path.join(inpainting_run, "pictures", pictures[0])))
    # Rows masked / filled / truth of 8 images of 32x32, 2-pixel gaps.
    assert grid.shape == (3 * 34 + 2, 8 * 34 + 2, 3) and grid.dtype == np.uint8
    first = lambda row: grid[2 + 34 * row : 34 * (row + 1), 2:34]  # noqa: E731
    # The masked input shows the hole grey; the filled image keeps the truth's context.
    assert np.all(first(0)[10:22, 10:22] == 128)
    np.testing.assert_allclose(first(1)[:8].astype(int), first(2)[:8].astype(int), atol=1)
    events = os.listdir(os.path.join(inpainting_run, "tensorboard"))
    blob = b"".join(
        open(os.path.join(inpainting_run, "tensorboard", e), "rb").read() for e in events
    )
    assert b"inpainting" in blob and b"\x89PNG" in blob


@pytest.mark.slow  # Uses a finished training run.
def test_a_diverging_discriminator_stops_the_run_with_the_last_good_checkpoint(
    inpainting_run, tmp_path
):
    workdir = tmp_path / "run"
    shutil.copytree(inpainting_run, workdir)
    config = load_config("inpainting_digits")
    config.total_steps = 12
    config.optimizers.discriminator.base_lr = 1e30  # Only the discriminator diverges.
    with pytest.raises(NonFiniteLossError, match="last good checkpoint \\(step 6\\)") as error:
        train(config, str(workdir))
    assert "optimizers.<player>.base_lr" in str(error.value)
    assert sorted(int(n) for n in os.listdir(workdir / "checkpoints")) == [3, 6]
    params = restore_params(str(workdir))
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(params))
    assert read_metrics(str(workdir))[-1]["step"] == 6


@pytest.mark.slow  # Uses a finished training run.
def test_the_encoder_transfers_into_the_classifier(inpainting_run):
    config = load_config("finetune_inpainting_digits")
    config.init_from = inpainting_run
    experiment = build_experiment(config, parallel.make_mesh(), init_from=inpainting_run)
    params = jax.device_get(experiment.state.params)
    pretrained = restore_params(inpainting_run)["generator"]["encoder"]
    jax.tree.map(np.testing.assert_array_equal, params["backbone"], pretrained)
    assert not np.any(params["head"]["kernel"])  # A new, zero-initialised head.
    logits = experiment.model.apply({"params": params}, experiment.global_batch(0)["image"])
    assert logits.shape == (16, 10)


@pytest.mark.slow  # Uses a finished training run.
def test_an_encoder_that_does_not_fit_the_classifier_lists_every_mismatch(inpainting_run, tmp_path):
    config = load_config("finetune_inpainting_digits")
    config.init_from = inpainting_run
    config.model.features = (8, 32)  # The checkpoint's encoder is (8, 16).
    with pytest.raises(CheckpointError, match="mismatches") as error:
        train(config, str(tmp_path / "finetune"))
    message = str(error.value)
    for path in ("backbone/conv2/kernel", "backbone/conv2/bias", "backbone/norm2/scale"):
        assert path in message, message
    assert "(4, 4, 8, 32)" in message and "(4, 4, 8, 16)" in message
