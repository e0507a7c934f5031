"""The dynamic analog machine: run the measurements behind docs/dynamic.md and save them as JSON.

    python docs/figures/dynamic/make_figures.py run  --out docs/figures/dynamic/results.json   # ~15 min on 2 cores
    python docs/figures/dynamic/make_figures.py plot --out docs/figures/dynamic/results.json   # figures next to it

``run`` measures (energies in kT): the reset work against tau for the three reset protocols with the fits
a + b/tau, the reset error against the tilt depth, stored-bit lifetimes against E_b/kT, and the digits budget.
``plot`` only reads the JSON and draws the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def run(out: Path, quick: bool) -> None:
    from analogsim._io import atomic_write_json
    from analogsim.dynamic import DoubleWell
    from analogsim.dynamic.experiments import (digits_budget, error_vs_depth, excess_slope, lifetimes,
                                               quasistatic_series)

    el = DoubleWell(E_b=16.0)
    taus = [3200.0, 6400.0, 12800.0] if quick else [6400.0, 12800.0, 25600.0, 51200.0]
    n = 1000 if quick else 8000
    series = [quasistatic_series(el, "standard", taus, p=0.5, n_elements=4 * n, seed=21)]
    series += [quasistatic_series(el, "prior-adapted", taus, p=p, n_elements=n, seed=22 + i)
               for i, p in enumerate((0.1, 0.5, 0.8))]
    series.append(quasistatic_series(el, "uncompute", taus, p=0.5, n_elements=n, seed=26))
    res = {"series": series, "excess_slope": excess_slope(series[0]["points"], series[0]["bound"]),
           "error_vs_depth": error_vs_depth(el, [3.0, 4.0, 5.0, 6.0, 7.0], tau=6400.0,
                                            n_elements=5000 if quick else 40000, seed=27),
           "lifetimes": lifetimes(1.0, [1 / 4, 1 / 5, 1 / 6, 1 / 7], n_elements=1000 if quick else 4000, dt=0.1,
                                  seed=28),
           "digits": digits_budget(taus=(6400.0, 12800.0) if quick else (12800.0, 25600.0, 51200.0),
                                   n_test=20 if quick else 100, max_iter=60 if quick else 300, seed=29)}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, res)


def plot(out: Path) -> None:
    from analogsim.dynamic.plots import digits_budget_figure, error_vs_work_figure, work_vs_tau_figure

    res = json.loads(out.read_text())
    d = out.parent
    work_vs_tau_figure(res["series"]).savefig(d / "work_vs_tau.png", dpi=110)
    error_vs_work_figure(res["error_vs_depth"], res["series"][:1]).savefig(d / "error_vs_work.png", dpi=110)
    digits_budget_figure(res["digits"]).savefig(d / "digits_budget.png", dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["run", "plot"])
    ap.add_argument("--out", default="docs/figures/dynamic/results.json")
    ap.add_argument("--quick", action="store_true", help="small sizes (a minute)")
    a = ap.parse_args(argv)
    (run if a.what == "run" else lambda o, q: plot(o))(Path(a.out), a.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
