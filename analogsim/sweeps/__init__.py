"""Parameter sweeps: expand a config's grid, run each point as an independent seeded task on a local
process pool or a Dask cluster, store every finished point at once, and consolidate a labelled
xarray dataset (``results.nc``). See ``docs/sweeps.md``.

Examples
--------
>>> from analogsim.sweeps import run_sweep, open_results             # doctest: +SKIP
>>> run_sweep("examples/stress_vs_kappa.toml", "results/stress")     # doctest: +SKIP
>>> open_results("results/stress")["rel_error"]                      # doctest: +SKIP
"""

from __future__ import annotations

from .backends import DaskBackend, LocalPool, SchedulerUnreachable, make_backend
from .runner import SweepSummary, prepare, run_sweep
from .store import ResultsStore, open_results
from .tasks import TaskSpec, available_tasks, get_task, register_task

__all__ = ["run_sweep", "prepare", "SweepSummary", "open_results", "ResultsStore", "LocalPool", "DaskBackend",
           "SchedulerUnreachable", "make_backend", "register_task", "get_task", "available_tasks", "TaskSpec"]
