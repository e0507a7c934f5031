"""How long ``import analogsim`` takes in a fresh interpreter, and that it pulls in neither torch nor numba.

Each run is a new subprocess. Two measures, medians over the runs (interleaved with a bare interpreter):

* ``python -X importtime -c "import analogsim"``: the cumulative import time of the ``analogsim`` package as
  Python reports it (its own modules plus numpy etc. that it imports first);
* wall clock of ``python -c "import analogsim"`` minus that of ``python -c "pass"``.

torch is blocked in the child (``sys.modules['torch'] = None``), so the import must work without it.
Target: < 0.5 s.

    .venv/bin/python benchmarks/import_time.py [--runs 15] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

BLOCK = "import sys; sys.modules['torch'] = None; "
PROBE = BLOCK + ("import analogsim, json; print(json.dumps({m: sys.modules.get(m) is not None for m in "
                 "('torch', 'numba', 'scipy', 'matplotlib', 'analogsim.model.equilibrium')}))")


def _importtime_us(python: str) -> int:
    """Cumulative microseconds of the top-level ``analogsim`` import from ``-X importtime``."""
    p = subprocess.run([python, "-X", "importtime", "-c", BLOCK + "import analogsim"], capture_output=True,
                       text=True, check=True)
    for line in p.stderr.splitlines():
        parts = [s.strip() for s in line.split("|")]
        if len(parts) == 3 and parts[2] == "analogsim":
            return int(parts[1])
    raise RuntimeError("analogsim not found in -X importtime output")


def _wall(python: str, code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([python, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    py = args.python
    _wall(py, BLOCK + "import analogsim")  # warm the file cache and __pycache__
    cum, bare, full = [], [], []
    for _ in range(args.runs):
        cum.append(_importtime_us(py) / 1e6)
        bare.append(_wall(py, "pass"))
        full.append(_wall(py, BLOCK + "import analogsim"))
    mods = json.loads(subprocess.run([py, "-c", PROBE], capture_output=True, text=True, check=True).stdout)
    net = np.asarray(full) - np.asarray(bare)
    res = {"benchmark": "import analogsim (torch blocked)", "runs": args.runs,
           "importtime_cumulative_s": {"median": float(np.median(cum)), "min": float(np.min(cum))},
           "wall_minus_bare_interpreter_s": {"median": float(np.median(net)), "min": float(np.min(net))},
           "bare_interpreter_s": float(np.median(bare)), "modules_loaded_after_import": mods,
           "target_s": 0.5, "passed": bool(np.median(cum) < 0.5 and not mods["torch"] and not mods["numba"]),
           "load_average": list(os.getloadavg())}
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from analogsim._io import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
