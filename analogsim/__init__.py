"""analogsim: the reference simulator for physical (analog) neural networks.

A feed-forward net is mapped exactly onto the Hamiltonian
``H = sum_i kappa_i/2 (x_i - f(sum_j w_ji x_j + b_i))^2`` (Tkachenko, Eq. 6). analogsim samples its
equilibrium, relaxes it by Langevin dynamics, trains it by stress-driven annealing of the parameters,
and books the energy against the paper's thermodynamic bounds.

Importing analogsim is cheap: numba kernels, torch and dask load only when first used.

The package is grouped by concept: :mod:`analogsim.model` (the network and its energy),
:mod:`analogsim.inference` (Langevin dynamics of the neurons), :mod:`analogsim.training`,
:mod:`analogsim.dynamic` (the dynamic machine), :mod:`analogsim.bounds` (bounds and the IEM),
:mod:`analogsim.data` (data, configurations, files), :mod:`analogsim.sweeps`, :mod:`analogsim.validation`,
:mod:`analogsim.cli`, with :mod:`analogsim.report` (health, progress, figure style) and the numba kernels in
:mod:`analogsim.kernels`. :mod:`analogsim.graph` is the namespace of graph networks.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.2"

from . import _compat  # noqa: E402

_compat.install()

from .model.activations import ACTIVATIONS, get_activation  # noqa: E402
from .model.hamiltonian import OutputClamp  # noqa: E402
from .model.network import Network  # noqa: E402

# public name -> "module:attribute" or "module" (loaded on first access)
_LAZY = {
    "sample_equilibrium": "model.equilibrium:", "free_energy": "model.equilibrium:",
    "equipartition": "model.equilibrium:", "clamped_minimum": "model.equilibrium:",
    "backprop_gradient": "model.equilibrium:", "stress_vs_backprop": "model.equilibrium:",
    "relax": "inference.simulate:", "RelaxResult": "inference.simulate:",
    "estimate_lambda_max": "inference.simulate:", "EulerMaruyama": "inference.integrators:",
    "MALA": "inference.integrators:", "Ramp": "inference.protocols:", "Sampled": "inference.protocols:",
    "thermodynamic_length": "inference.protocols:", "jarzynski": "inference.observers:",
    "EnergyMoments": "inference.observers:", "Trajectory": "inference.observers:",
    "train": "training:", "TrainResult": "training:", "TrainConfig": "training:",
    "TemperatureSchedule": "training:", "TStarResult": "training:", "threshold_temperature": "training:",
    "run_sweep": "sweeps:", "open_results": "sweeps:", "load_config": "data.config:", "RunUnits": "bounds.units:",
    # concept packages
    "model": "model", "inference": "inference", "training": "training", "dynamic": "dynamic", "bounds": "bounds",
    "data": "data", "sweeps": "sweeps", "validation": "validation", "report": "report", "graph": "graph",
    "errors": "errors",
    # 0.1's module names, kept as attributes (their import names are aliases, see analogsim._compat)
    "hamiltonian": "model.hamiltonian", "equilibrium": "model.equilibrium", "crosscheck": "model.crosscheck",
    "clamped": "model.clamped", "table1": "bounds.table_i", "plot_bounds": "bounds.figures",
    "simulate": "inference.simulate", "integrators": "inference.integrators", "protocols": "inference.protocols",
    "observers": "inference.observers", "stability": "inference.stability", "checkpoint": "data.checkpoint",
    "config": "data.config", "iem": "bounds.iem", "health": "report.health", "units": "bounds.units",
    "progress": "report.progress", "resources": "report.resources",
}


def __getattr__(name):
    if name in _LAZY:
        mod, colon, _ = _LAZY[name].partition(":")
        module = importlib.import_module(f".{mod}", __name__)
        return getattr(module, name) if colon else module
    raise AttributeError(f"module 'analogsim' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
