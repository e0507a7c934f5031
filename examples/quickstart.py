"""Quickstart: build a net, sample it at a temperature, check the stress against backprop, draw the figure.

    python examples/quickstart.py [OUT.png]      (default: quickstart.png in the current folder)

The first lines are the README's ten lines; the rest draws the relative error of the stress gradient
against backprop as a function of the stiffness ratio r = kappa_out/kappa_hidden (log axes): it falls like
C r, so "stress = backprop" (Eq. 8-10) holds in the limit r -> 0, not as an identity.
"""

import sys

import numpy as np
from analogsim import Network, free_energy, sample_equilibrium, stress_vs_backprop

net = Network.create([4, 16, 16, 1], activations=["tanh", "tanh", "identity"], kappa=2.0, seed=0)
x0 = np.random.default_rng(1).standard_normal((64, 4))
eq = sample_equilibrium(net, x0[0], kT=0.1, n_replicas=10_000, seed=2)   # exact, no Markov chain
print(eq.equipartition(net.kappa))          # <kappa delta^2>/kT per layer (≈ 1) and its standard errors
print(free_energy(net, kT=0.1))             # (kT/2) sum ln(kappa/(2 pi kT)): independent of W, b, x0
rep = stress_vs_backprop(net, x0, np.sin(x0[:, :1]))                      # stress at the clamped minimum
print(rep["slope"], rep["constant"])        # error vs backprop = C r^1: a limit, not an identity

# ---------------------------------------------------------------------------------------------- the figure
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "quickstart.png"
r = np.asarray(rep["ratios"])
fig, ax = plt.subplots(figsize=(4.6, 3.8), layout="constrained")
ax.loglog(r, rep["rel_error"], "o-", label=f"stress vs backprop (slope {rep['slope']:.3f}, C = {rep['constant']:.2f})")
ax.loglog(r, rep["constant"] * r, "k:", lw=1, label="C r (fitted line)")
ax.set_xlabel("r = kappa_out / kappa_hidden [dimensionless]")
ax.set_ylabel("rel. error of dH/dθ vs ∇ MSE [dimensionless]")
ax.set_title("[4, 16, 16, 1] tanh net, 64 samples", fontsize=9)
fig.legend(fontsize=7, loc="outside lower center", frameon=False)  # off the data
fig.savefig(out, dpi=120)
print(f"figure: {out}")
