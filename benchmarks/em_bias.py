"""Measure Euler-Maruyama's worst-layer equipartition bias constant c (ratio = 1 + c Gamma dt lambda_max).

The constant behind :data:`analogsim.inference.stability.EM_BIAS_WORST_LAYER`. Net: [3, 8, 8, 2] tanh, kappa = [1, 2, 1.5],
seed 0, bias_scale 0.2, input [0.3, -0.5, 0.8] (the net of the EM-bias validation), free output, kT = 0.05, EM
started from an exact equilibrium sample, lambda_max at the input's forward state. For each Gamma dt lambda_max
in the grid: the per-layer equipartition ratio <kappa delta^2>/kT with its standard error (spread of the
per-replica time means over independent replicas); then, per layer, the slope through the origin of
ratio - 1 against dt lambda_max weighted by 1/SE^2, its SE, and the chi^2 of the fit. The worst layer's slope
is c; 0.01/c is where the predicted worst-layer bias reaches 1 %.

    python benchmarks/em_bias.py [--replicas 4096] [--time 120] [--seed 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np

X0 = np.array([0.3, -0.5, 0.8])
GRID = (0.05, 0.1, 0.2, 0.3, 0.4)


def bias_net():
    from analogsim import Network

    return Network.create([3, 8, 8, 2], activations="tanh", kappa=[1.0, 2.0, 1.5], seed=0, bias_scale=0.2)


def measure(dtl, replicas, time_units, seed, kT=0.05):
    """Per-layer equipartition ratio and SE of EM at Gamma dt lambda_max = dtl."""
    from analogsim.inference.observers import EnergyMoments
    from analogsim.inference.simulate import estimate_lambda_max, relax

    net = bias_net()
    lam = estimate_lambda_max(net, net.forward(X0))
    dt = dtl / lam
    n_steps = int(round(time_units / dt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = relax(net, X0, kT=kT, dt=dt, n_steps=n_steps, n_replicas=replicas, seed=seed,
                  record=[EnergyMoments(burn_in=n_steps // 5)])
    return {"dtl": dtl, "n_steps": n_steps, "lambda_max": lam, "ratio": r.equipartition.tolist(),
            "se": r.equipartition_se.tolist()}


def fit(points):
    """Per layer: slope through the origin of ratio - 1 vs dtl (weights 1/SE^2), its SE, chi^2/dof."""
    x = np.array([p["dtl"] for p in points])
    out = []
    for l in range(len(points[0]["ratio"])):
        y = np.array([p["ratio"][l] - 1 for p in points])
        s = np.array([p["se"][l] for p in points])
        w = 1 / s ** 2
        c = float(np.sum(w * x * y) / np.sum(w * x * x))
        se = float(1 / np.sqrt(np.sum(w * x * x)))
        chi2 = float(np.sum(w * (y - c * x) ** 2) / max(len(x) - 1, 1))
        out.append({"layer": l + 1, "c": c, "se": se * max(1.0, np.sqrt(chi2)), "chi2_dof": chi2})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicas", type=int, default=4096)
    ap.add_argument("--time", type=float, default=120.0, help="time units per point (dt * n_steps)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    pts = []
    for i, d in enumerate(GRID):
        pts.append(measure(d, args.replicas, args.time, args.seed + i))
        print(json.dumps(pts[-1]), file=sys.stderr, flush=True)
    layers = fit(pts)
    worst = max(layers, key=lambda r: abs(r["c"]))
    out = {"points": pts, "layers": layers, "worst": worst, "dtl_at_1_percent": 0.01 / abs(worst["c"]),
           "replicas": args.replicas, "time_units": args.time, "seed": args.seed}
    print(json.dumps(out, indent=1))
    if args.json:
        from analogsim._io import atomic_write_text

        atomic_write_text(args.json, json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
