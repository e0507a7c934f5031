"""analogsim: the reference simulator for physical (analog) neural networks.

A feed-forward net is mapped exactly onto the Hamiltonian
``H = sum_i kappa_i/2 (x_i - f(sum_j w_ji x_j + b_i))^2`` (Tkachenko, Eq. 6). analogsim samples its
equilibrium, relaxes it by Langevin dynamics, trains it by stress-driven annealing of the parameters,
and books the energy against the paper's thermodynamic bounds.

Importing analogsim is cheap: numba kernels, torch and dask load only when first used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .activations import ACTIVATIONS, get_activation  # noqa: E402
from .hamiltonian import OutputClamp  # noqa: E402
from .network import Network  # noqa: E402

# public name -> module that defines it (loaded on first access)
_LAZY = {
    "sample_equilibrium": "equilibrium",
    "free_energy": "equilibrium",
    "equipartition": "equilibrium",
    "clamped_minimum": "equilibrium",
    "backprop_gradient": "equilibrium",
    "stress_vs_backprop": "equilibrium",
    "hamiltonian": None,
    "equilibrium": None,
    "crosscheck": None,
    "bounds": None,
    "table1": None,
    "plot_bounds": None,
    "simulate": None,
    "training": None,
    "data": None,
    "sweeps": None,
    "relax": "simulate",
    "train": "training",
    "TrainResult": "training",
    "TrainConfig": "training",
    "TemperatureSchedule": "training",
    "TStarResult": "training",
    "RelaxResult": "simulate",
    "estimate_lambda_max": "simulate",
    "EulerMaruyama": "integrators",
    "MALA": "integrators",
    "Ramp": "protocols",
    "Sampled": "protocols",
    "thermodynamic_length": "protocols",
    "jarzynski": "observers",
    "EnergyMoments": "observers",
    "Trajectory": "observers",
    "checkpoint": None,
    "integrators": None,
    "protocols": None,
    "observers": None,
    "clamped": None,
    "threshold_temperature": "training",
    "run_sweep": "sweeps",
    "open_results": "sweeps",
    "load_config": "config",
    "config": None,
    "iem": None,
    "errors": None,
    "health": None,
    "units": None,
    "stability": None,
    "progress": None,
    "resources": None,
    "dynamic": None,
    "graph": None,
    "RunUnits": "units",
}


def __getattr__(name):
    if name in _LAZY:
        mod = _LAZY[name]
        if mod is None:
            return importlib.import_module(f".{name}", __name__)
        return getattr(importlib.import_module(f".{mod}", __name__), name)
    raise AttributeError(f"module 'analogsim' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
