"""numba kernels: plain functions over arrays, no validation, no I/O, no globals.

Modules: :mod:`.rng` (per-chunk xoshiro256++ streams, ziggurat normals), :mod:`.energy` (energy and
gradient passes of H, activations, dense products), :mod:`.langevin` (EM/MALA step loops over chunks).
Nothing is imported here so that ``import analogsim`` stays free of numba.
"""
