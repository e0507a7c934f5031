"""numba kernels: plain functions over arrays, no validation, no I/O, no globals.

Modules: :mod:`.bits` (bit casts, the unsigned index of the hot loops), :mod:`.rng` (per-chunk
xoshiro256++ streams, scalar and vectorised normals), :mod:`.energy` (energy and gradient passes of H,
activations, dense products), :mod:`.langevin` (EM/MALA step loops over chunks).
Nothing is imported here so that ``import analogsim`` stays free of numba.

numba's on-disk cache keys a function by its own source file only: ``langevin.run_chunk`` links code from
``energy.py`` and ``rng.py``, so after editing those clear ``kernels/__pycache__/*.nb*`` (touching
``langevin.py`` was not always enough).
"""
