"""Memory and time estimates before a run allocates or starts anything.

A run whose arrays cannot fit is refused before allocation with a ``ValueError`` that names the setting,
the estimate and the memory this machine has available (``MemAvailable`` of ``/proc/meminfo``); a run
whose size implies hours gets a warning line (:func:`analogsim.report.progress.warn_long_run`). The estimates
are computed with Python integers (no overflow, whatever the widths) and are lower bounds: the arrays a
run must hold at least, and the time its kernels need at least on one core of a current CPU.

Examples
--------
>>> train_bytes([4, 16, 1]) < 1e6
True
>>> try:
...     check_memory(10 ** 30, "--sizes", "the network's parameters")
... except ValueError as e:
...     print(str(e)[:60])
--sizes: the network's parameters would need about 1e+21 GB,
"""

from __future__ import annotations

import os

__all__ = ["available_memory", "check_memory", "n_params", "train_bytes", "relax_bytes", "figure_bytes",
           "train_seconds", "relax_seconds", "check_sizes", "format_bytes"]

#: Largest layer width accepted (a float64 weight matrix of this width squared is 8 TB).
MAX_WIDTH = 1 << 20

# Seconds per unit of work: about half of what was measured on a 2-core x86-64 machine (float64, warm
# caches, [4, 16, 1], 5 runs): 7.8 +- 0.8 us per soft-clamp presentation (66 ns per parameter + neuron),
# 5.7 +- 0.3 ms per hard-clamp presentation, 3.0 ns per (parameter + neuron) x replica x Langevin step.
_SOFT_PER_ELEMENT = 30e-9      # one fixed-point presentation, per (parameter + neuron) x batch x substep
_HARD_PER_PRESENTATION = 2e-3  # hard output clamp: the Newton fallback, per presentation (small nets)
_RELAX_PER_ELEMENT = 1.5e-9    # one Langevin step, per (parameter + neuron) x replica


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (None when unknown).

    Examples
    --------
    >>> m = available_memory()
    >>> m is None or m > 0
    True
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """'12 MB', '3.4 GB', '1e+18 GB'.

    Examples
    --------
    >>> format_bytes(3.4e9), format_bytes(2e6)
    ('3.4 GB', '2 MB')
    """
    n = float(n)
    if n < 1e6:
        return f"{n / 1e3:.0f} kB"
    if n < 1e9:
        return f"{n / 1e6:.0f} MB"
    if n < 1e12:
        return f"{n / 1e9:.2g} GB"
    return f"{n / 1e9:.2g} GB"


def check_memory(nbytes: int, setting: str, what: str, *, available: int | None = None, fraction: float = 0.9) -> int:
    """Refuse (ValueError) when ``nbytes`` exceed ``fraction`` of the available memory; return nbytes.

    Parameters
    ----------
    nbytes : int
        Estimated bytes the run allocates.
    setting : str
        The option or config key that sets the size (named in the message).
    what : str
        What the memory is for.
    available : int, optional
        Bytes available (default :func:`available_memory`).

    Examples
    --------
    >>> check_memory(1000, "--replicas", "the replicas' states", available=10 ** 9)
    1000
    """
    avail = available_memory() if available is None else available
    if avail is not None and nbytes > fraction * avail:
        raise ValueError(f"{setting}: {what} would need about {format_bytes(nbytes)}, more than this machine has "
                         f"available ({format_bytes(avail)}); lower {setting}")
    return int(nbytes)


def check_sizes(sizes, setting: str = "--sizes") -> list[int]:
    """Layer sizes as Python ints, each 1..MAX_WIDTH (refused with the setting's name otherwise).

    Examples
    --------
    >>> check_sizes([4, 16, 1])
    [4, 16, 1]
    """
    out = []
    for i, n in enumerate(sizes):
        if isinstance(n, bool) or not isinstance(n, int) and not (hasattr(n, "__index__")):
            raise TypeError(f"{setting}[{i}] must be an integer, got {n!r}")
        n = int(n)
        if not 1 <= n <= MAX_WIDTH:
            raise ValueError(f"{setting}[{i}] must be a layer width from 1 to {MAX_WIDTH}, got {n}")
        out.append(n)
    if len(out) < 2:
        raise ValueError(f"{setting} must list at least the input and output sizes, got {out}")
    return out


def n_params(sizes) -> int:
    """Weights and biases of a network with these layer sizes (exact, Python ints).

    Examples
    --------
    >>> n_params([3, 8, 1])
    41
    """
    return sum(int(a) * int(b) + int(b) for a, b in zip(sizes[:-1], sizes[1:]))


def train_bytes(sizes, *, batch_size: int = 1, n_data: int = 0, itemsize: int = 8, hard_clamp: bool = False) -> int:
    """Bytes a training run holds at least: ~8 parameter-sized arrays (theta, its copies, the books'
    gradient sums, noise and gradient buffers), ~12 neuron buffers per batch row, the data set; with the
    hard output clamp (Newton solver) also the dense Hessian over the hidden neurons, per batch row.

    Examples
    --------
    >>> train_bytes([3, 8, 1]) > 41 * 8
    True
    """
    N = n_params(sizes)
    n_neu = sum(int(s) for s in sizes)
    out = 8 * N * max(itemsize, 8) + 12 * n_neu * int(batch_size) * itemsize + int(n_data) * n_neu * itemsize
    if hard_clamp:
        n_free = sum(int(s) for s in sizes[1:-1])
        out += 2 * int(batch_size) * n_free * n_free * itemsize
    return out


def relax_bytes(sizes, replicas: int, *, itemsize: int = 8, integrator: str = "em", n_steps: int = 0) -> int:
    """Bytes a Langevin relaxation holds at least: the parameters (x3), ~6 (MALA ~10) state-sized
    buffers per replica, and 3 int64 per step (the protocol's per-step schedule).

    Examples
    --------
    >>> relax_bytes([4, 16, 1], 256) < 1e6
    True
    """
    N = n_params(sizes)
    n_neu = sum(int(s) for s in sizes)
    per = 10 if integrator == "mala" else 6
    return 3 * N * itemsize + per * n_neu * int(replicas) * itemsize + 24 * int(n_steps)


def figure_bytes(width_in: float, height_in: float, dpi: float) -> int:
    """Bytes of the RGBA canvas (x3: the renderer's buffers and the PNG encoder) of a figure.

    Examples
    --------
    >>> figure_bytes(6.4, 4.8, 150) < 1e8
    True
    """
    px = int(width_in * dpi) * int(height_in * dpi)
    return 3 * 4 * px


def train_seconds(sizes, presentations: int, *, batch_size: int = 1, substeps: int = 1,
                  hard_clamp: bool = False) -> float:
    """Lower-bound seconds of a separated-time-scales training run (compilation excluded).

    Examples
    --------
    >>> train_seconds([4, 16, 1], 10 ** 15) > 3600
    True
    """
    N = n_params(sizes)
    n_neu = sum(int(s) for s in sizes)
    per = _SOFT_PER_ELEMENT * (N + n_neu) * int(batch_size) * int(substeps)
    if hard_clamp:  # Newton on the dense Hessian over the hidden neurons: ~n^3 per solve
        n_free = sum(int(s) for s in sizes[1:-1])
        per = max(per, (_HARD_PER_PRESENTATION + 1e-10 * n_free ** 3) * int(substeps) * int(batch_size))
    return float(presentations) * per


def relax_seconds(sizes, n_steps: int, replicas: int) -> float:
    """Lower-bound seconds of a Langevin relaxation (compilation excluded).

    Examples
    --------
    >>> relax_seconds([4, 16, 1], 10 ** 14, 256) > 3600
    True
    """
    N = n_params(sizes)
    n_neu = sum(int(s) for s in sizes)
    return float(n_steps) * int(replicas) * (N + n_neu) * _RELAX_PER_ELEMENT
