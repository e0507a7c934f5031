"""
1. Build a net, sample it at a temperature, check stress against backprop
=========================================================================

A feed-forward net becomes a physical system with energy
:math:`H = \\sum_i \\frac{\\kappa_i}{2}\\delta_i^2` (Eq. 6 of the paper; see :doc:`../theory/model`).
This tutorial builds one, draws exact equilibrium samples with the input clamped, checks equipartition and
the free energy, and then compares the stress at the clamped minimum with the backprop gradient over the
stiffness ratio :math:`r = \\kappa_{out}/\\kappa_{hidden}` (Eq. 8–10).

**Run time on 2 cores:** about 5 s in both the quick build (CI) and the full one, measured on a 2-core machine
shared with other jobs (numba's cache warm); the time this build took is at the bottom of the page.
"""

# %%
# Build a network
# ---------------
# Layer sizes, one activation per layer, and a stiffness kappa (one number, one per layer, or one per
# neuron). All parameters live in one flat vector ``net.theta``.
import os

import matplotlib.pyplot as plt
import numpy as np

from analogsim import Network, free_energy, sample_equilibrium, stress_vs_backprop

QUICK = os.environ.get("ANALOGSIM_DOCS_MODE", "quick") != "full"

net = Network.create([4, 16, 16, 1], activations=["tanh", "tanh", "identity"], kappa=2.0, seed=0)
print(net.sizes, "parameters:", net.n_params)

# %%
# Sample it at a temperature
# --------------------------
# With the input clamped, the residuals :math:`\delta_i` are independent Gaussians of variance
# :math:`kT/\kappa_i` (the Jacobian of :math:`x \to \delta` is exactly 1), so sampling is exact: no
# Markov chain, no burn-in. Equipartition :math:`\langle\kappa\delta^2\rangle/kT = 1` holds in every layer.
kT = 0.1
x0 = np.array([0.5, -0.2, 0.1, 0.8])
eq = sample_equilibrium(net, x0, kT=kT, n_replicas=5_000 if QUICK else 40_000, seed=2)
ratio, se = eq.equipartition(net.kappa)
for layer, (m, s) in enumerate(zip(ratio, se), start=1):
    print(f"layer {layer}: <kappa delta^2>/kT = {m:.4f} +- {s:.4f}")

# %%
# The free energy :math:`F = \frac{kT}{2}\sum_i \ln\frac{\kappa_i}{2\pi kT}` does not depend on the
# weights, the biases or the input: that is what lets quasi-static inference be reversible (Eq. 7).
print("F =", free_energy(net, kT=kT))
print("F with other weights =", free_energy(Network.create([4, 16, 16, 1], kappa=2.0, seed=99), kT=kT))

# %%
# The output neuron fluctuates around the forward pass: its spread is :math:`\sqrt{kT/\kappa}` plus what
# the hidden layers' fluctuations propagate.
xs_T0 = net.forward(x0[None, :])
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.hist(eq.xs[-1][:, 0], bins=60, density=True, alpha=0.7, label=f"exact samples, kT = {kT}")
ax.axvline(xs_T0[-1][0, 0], color="k", ls="--", label="forward pass (T = 0)")
ax.set_xlabel("output neuron $x_L$")
ax.set_ylabel("density")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Stress against backprop: a limit, not an identity
# -------------------------------------------------
# Clamp input and output, minimise H over the hidden neurons, and compare the parameter force
# :math:`\partial H/\partial\theta` there with the backprop gradient of the squared loss. The relative
# error vanishes like :math:`C\,r` as the stiffness ratio :math:`r \to 0`; at :math:`r = 1` they differ by
# tens of percent.
rng = np.random.default_rng(1)
xb = rng.standard_normal((16 if QUICK else 64, 4))
target = np.sin(xb[:, :1])
ratios = np.logspace(-6, 0, 7 if QUICK else 13)
rep = stress_vs_backprop(net, xb, target, ratios=ratios)
print(f"slope = {rep['slope']:.4f}  (1 means error proportional to r)")
print(f"C = {rep['constant']:.2f}, error at r = 1: {rep['rel_error'][-1]:.0%}")
print(f"Eq. 10 recursion residual at the minimum: {rep['recursion_residual']:.1e}")

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.loglog(rep["ratios"], rep["rel_error"], "o-", label="measured")
ax.loglog(ratios, rep["constant"] * ratios, "k--", lw=1, label=f"C r, C = {rep['constant']:.2g}")
ax.set_xlabel(r"$r = \kappa_{out}/\kappa_{hidden}$")
ax.set_ylabel("relative error vs backprop")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The slope is 1 to three digits: "stress = backprop" holds in the limit of a soft output spring, and a
# cross-check must show the error vanishing linearly, not a single equality. See
# :doc:`../theory/stress-backprop`.
