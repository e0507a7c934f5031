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

    Examples
    --------
    >>> err = DivergenceError("energy became inf", step=120, cause="dt too large: try dt <= 0.01")
    >>> isinstance(err, FloatingPointError), err.step, err.cause
    (True, 120, 'dt too large: try dt <= 0.01')
    """

    def __init__(self, message: str, *, step: int = -1, cause: str = ""):
        super().__init__(message)
        self.step = int(step)
        self.cause = cause or message


class CheckpointError(ValueError):
    """A checkpoint or results file is corrupt, truncated, or belongs to another run.

    Examples
    --------
    >>> issubclass(CheckpointError, ValueError)
    True
    """


class ConfigError(ValueError):
    """An experiment configuration is invalid; ``path`` names the offending entry (e.g. ``sweep.kT[2]``).

    Examples
    --------
    >>> err = ConfigError("sweep.kT[2]", "must be >= 0, got -1")
    >>> str(err), err.path
    ('sweep.kT[2]: must be >= 0, got -1', 'sweep.kT[2]')
    """

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


def torch_required(feature: str) -> ImportError:
    """The ImportError raised when a torch-only feature is used without torch.

    Examples
    --------
    >>> err = torch_required("the EIT-P loss")
    >>> isinstance(err, ImportError), str(err).startswith("the EIT-P loss requires PyTorch")
    (True, True)
    """
    return ImportError(
        f"{feature} requires PyTorch, which is not installed: "
        "pip install 'analogsim-pnn[torch]' (pins torch==2.13.0)"
    )
