"""Exceptions raised by analogsim.

Argument errors are plain ``ValueError``/``TypeError``; the classes here carry
extra context for failures that happen while a simulation runs or a file is read.
"""

from __future__ import annotations


class DivergenceError(FloatingPointError):
    """A run produced a non-finite or exploding state.

    Attributes
    ----------
    step : int
        Index of the step (or presentation) at which the failure was detected.
    cause : str
        What went wrong and what to try instead.
    """

    def __init__(self, message: str, *, step: int = -1, cause: str = ""):
        super().__init__(message)
        self.step = int(step)
        self.cause = cause or message


class CheckpointError(ValueError):
    """A checkpoint or results file is corrupt, truncated, or belongs to another run."""


class ConfigError(ValueError):
    """An experiment configuration is invalid; ``path`` names the offending entry (e.g. ``sweep.kT[2]``)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


def torch_required(feature: str) -> ImportError:
    """The ImportError raised when a torch-only feature is used without torch."""
    return ImportError(
        f"{feature} requires PyTorch, which is not installed: "
        "pip install 'analogsim[torch]' (pins torch==2.13.0)"
    )
