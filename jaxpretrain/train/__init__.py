"""Training: state, optimizers, the one step builder, the one loop, checkpoints and metrics."""

from jaxpretrain.train.checkpoint import CheckpointError, load_pretrained
from jaxpretrain.train.loop import NonFiniteLossError, train
from jaxpretrain.train.state import TrainState

__all__ = ["CheckpointError", "NonFiniteLossError", "TrainState", "load_pretrained", "train"]
