"""Inference dynamics: overdamped Langevin relaxation of the neurons with Sekimoto's energy books.

* :mod:`.simulate`: :func:`~.simulate.relax`, the entry point; :mod:`.langevin_run`: the prepared run
  (kernel arrays, buffers, RNG streams, threads);
* :mod:`.integrators`: Euler-Maruyama and MALA; :mod:`.protocols`: clamps that move in time;
  :mod:`.observers`: what a run records;
* :mod:`.stability` and :mod:`.oscillation`: the guard before a run and the check after it;
* :mod:`.graph`: the same dynamics on graph networks.

The numba kernels these call are in :mod:`analogsim.kernels`.
"""
