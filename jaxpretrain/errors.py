"""Errors raised in more than one layer, defined in the lowest one (../shared/DESIGN.md).

`CheckpointError` is raised where parameters are read: Orbax checkpoints (`train.checkpoint`) and
foreign weights converted to our trees (`interop`), which sits below `train`.
"""


class CheckpointError(RuntimeError):
    """A checkpoint or weight file that is missing, unreadable, or does not fit the model."""
