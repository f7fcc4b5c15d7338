"""The errors jaxpretrain raises on purpose, defined in the lowest layer (../shared/DESIGN.md).

Every error we raise deliberately (a bad config, missing or malformed data, a checkpoint that
cannot be read or does not fit, an argument a function cannot take) is a :class:`JaxpretrainError`
whose message names the problem and the fix. The scripts (``cli.run``) print such an error as one
line, ``error: <message>``, without a traceback; anything else is a bug and keeps its traceback.
Each class also derives from the built-in exception it refines (``ValueError``,
``FileNotFoundError``, ...), so ``except ValueError`` in a caller's code keeps working.
"""


class JaxpretrainError(Exception):
    """An error raised on purpose; its message says what is wrong and what to do."""

    exit_code = 1  # The scripts' exit status for it.


class ConfigError(JaxpretrainError, ValueError):
    """A config value (or combination) that cannot work: the message names the key."""


class DataError(JaxpretrainError, ValueError):
    """Data that is malformed, empty, or does not fit the config."""


class InputError(JaxpretrainError, ValueError):
    """An argument a function cannot take (shape, dtype, range), e.g. from research code."""


class NotFoundError(JaxpretrainError, FileNotFoundError):
    """A file, directory, corpus or data set that is not where the config says."""


class CheckpointError(JaxpretrainError, RuntimeError):
    """A checkpoint or weight file that is missing, unreadable, corrupt, or does not fit the model,
    or one that cannot be written."""


class WorkdirInUseError(JaxpretrainError, RuntimeError):
    """Another trainer holds the workdir's lock."""


class Preempted(JaxpretrainError):
    """Training stopped on a signal (SIGTERM, SIGINT) after checkpointing the step it had reached;
    rerunning the same command resumes there. Exits with 128 + the signal's number, as a shell
    does for a process the signal ended."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum
