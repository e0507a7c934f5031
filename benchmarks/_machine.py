"""What machine a benchmark ran on: the CPU model and the BLAS kernels in use (shared by the benchmark scripts)."""

from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_kernels() -> list:
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries: API, version, kernel (architecture), threads and
    the library's file name (not its path on this machine)."""
    import numpy  # noqa: F401 - load the BLAS libraries so that threadpoolctl sees them
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "architecture", "num_threads")
    return [{**{k: d.get(k) for k in keys}, "library": os.path.basename(d.get("filepath") or "")}
            for d in threadpool_info()]
