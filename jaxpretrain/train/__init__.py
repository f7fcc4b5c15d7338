"""Training: state, optimizers, the one step builder, the one loop, checkpoints and metrics."""

from jaxpretrain.errors import CheckpointError, Preempted
from jaxpretrain.train.checkpoint import load_pretrained
from jaxpretrain.train.loop import NonFiniteLossError, train
from jaxpretrain.train.state import TrainState

__all__ = [
    "CheckpointError",
    "NonFiniteLossError",
    "Preempted",
    "TrainState",
    "load_pretrained",
    "train",
]
