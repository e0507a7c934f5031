"""
4. Energy against data set size and parameter count: a sweep, locally and on Dask
=================================================================================

Eq. 16 says the energy of training grows like :math:`2NDkT`. Measured, the work is linear in the number of
presentations S (epochs × data set size) and, at a fixed S, does not depend on the data set size: the paper's
D is S. This tutorial measures W against S, the data set size and the parameter count N with a **sweep**: a
TOML experiment expanded into points, run on a local process pool or a Dask cluster, written point by point
(a killed sweep resumes) into an xarray/netCDF results folder. Theory: :doc:`../theory/training-bound`; the
sweep machinery: :doc:`../sweeps`.

**Run time on 2 cores:** 30 s in the quick build (CI), 2 min in the full one, measured on a 2-core machine
shared with other jobs (numba's cache warm); the time this build took is at the bottom of the page.
"""

# %%
# An experiment as TOML
# ---------------------
# The same text can live in a file and run with ``analogsim sweep FILE``. Every value may be a list or a
# range under ``[sweep]``; the points are the product of the axes.
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from analogsim.data.config import parse_config
from analogsim.sweeps import open_results

QUICK = os.environ.get("ANALOGSIM_DOCS_MODE", "quick") != "full"
S_MAX = 4000 if QUICK else 32000

toml_S = f"""
[experiment]
name = "energy_vs_S"
kind = "train"
seed = 0

[network]
n_in = 4
width = 8
depth = 2

[data]
teacher_width = 0
n_test = 64

[dynamics]
kT = 1e-4

[training]
mu = 100.0
kappa_out = 1e-3
weight_decay = 1e-4

[sweep]
presentations = {{start = {S_MAX // 8}, stop = {S_MAX}, num = {3 if QUICK else 4}, scale = "log"}}
n_train = [32, 128]
seed = {{start = 0, stop = {4 if QUICK else 8}}}
"""
cfg = parse_config(toml_S, name="energy_vs_S")
print("axes:", {k: list(v) for k, v in cfg.axes.items()})

# %%
# Run it on the local pool
# ------------------------
# ``--workers 2`` runs two points at a time; each point has its own random stream, so the numbers do not
# depend on the number of workers or on the backend. From Python, ``analogsim.sweeps.run_sweep(cfg, out,
# workers=2)`` does the same (in a script, under ``if __name__ == "__main__":``, as every use of
# multiprocessing must be).
out = Path(tempfile.mkdtemp(prefix="analogsim-tutorial-"))
(out / "energy_vs_S.toml").write_text(toml_S)


def sweep(*args):
    """Run ``analogsim sweep ARGS`` and show its JSON summary."""
    cmd = [sys.executable, "-m", "analogsim.cli", "sweep", *map(str, args), "--json", "--no-progress"]
    shown = [a.name if isinstance(a, Path) else str(a) for a in args]
    print("$ analogsim sweep", " ".join(shown))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"analogsim sweep failed ({done.returncode}):\n{done.stderr[-2000:]}")
    info = json.loads(done.stdout)
    print({k: info[k] for k in ("backend", "n_points", "n_ok", "n_failed", "wall_s")})


sweep(out / "energy_vs_S.toml", "--out", out / "energy_vs_S", "--workers", 2)
ds = open_results(out / "energy_vs_S")
print(ds["work"])

# %%
# W grows in proportion to S, whatever the data set size
# ------------------------------------------------------
# Each seed is another teacher, student and data order, so the work varies from seed to seed; the figure
# shows the mean over seeds with its standard error. The temperature (kT = 1e-4) is one where the thermal
# noise dominates, so the work per presentation is the same all along the run.
W = ds["work"].mean("seed")
W_se = ds["work"].std("seed", ddof=1) / np.sqrt(ds.sizes["seed"])
S = ds["presentations"].values.astype(float)
fig, ax = plt.subplots(figsize=(5, 3.4))
for i, n in enumerate(ds["n_train"].values):
    ax.errorbar(S * (1 + 0.04 * i), W.sel(n_train=n), yerr=W_se.sel(n_train=n), fmt="o", capsize=3,
                label=f"{n} training entries")
slope = np.polyfit(np.log(S), np.log(W.mean("n_train").values), 1)[0]
ax.plot(S, W.mean("n_train").values[0] * S / S[0], "k--", lw=1, label=r"$\propto S$")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("presentations S")
ax.set_ylabel("work W (mean ± SE over seeds)")
ax.set_title(f"log-log slope {slope:.2f}", fontsize=9)
ax.legend(fontsize=8)
fig.tight_layout()
print(f"log-log slope of W vs S: {slope:.2f}")

# %%
# The same machinery on a Dask cluster
# ------------------------------------
# ``--dask-local 2`` starts a Dask LocalCluster with two workers on this machine (``--scheduler
# tcp://host:8786`` would use a running cluster). Here it sweeps the hidden width, hence the parameter count N.
toml_N = toml_S.replace('name = "energy_vs_S"', 'name = "energy_vs_N"').replace(
    "width = 8\n", "").replace("mu = 100.0", f"mu = 100.0\npresentations = {S_MAX // 2}").split(
    "[sweep]")[0] + f"""[sweep]
width = {[2, 4, 8] if QUICK else [2, 4, 8, 16, 32]}
seed = {{start = 0, stop = {2 if QUICK else 4}}}
"""
parse_config(toml_N, name="energy_vs_N")                  # validate before running
(out / "energy_vs_N.toml").write_text(toml_N)
sweep(out / "energy_vs_N.toml", "--out", out / "energy_vs_N", "--dask-local", 2)
dn = open_results(out / "energy_vs_N")
N = dn["n_params"].mean("seed").values
WN = dn["work"].mean("seed").values
fig, ax = plt.subplots(figsize=(5, 3.4))
ax.loglog(N, WN, "o-", label="measured W")
ax.loglog(N, dn["bound_2NSkT"].mean("seed").values, "k--", label="2 N S kT")
ax.set_xlabel("parameters N")
ax.set_ylabel("energy")
ax.set_title(f"log-log slope of W vs N: {np.polyfit(np.log(N), np.log(WN), 1)[0]:.2f}", fontsize=9)
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The results folder holds one file per finished point and the consolidated ``results.nc``; running the same
# command again resumes and skips finished points. ``analogsim plot DIR`` draws the standard figures.
