"""
2. Relax and move the input slowly: work, heat and Jarzynski
=============================================================

Inference in a quasi-static machine moves the clamped input from one value to another over a time
:math:`\\tau` while the neurons follow by Langevin dynamics. analogsim books the energy as stochastic
energetics does: **work** when the input (a control parameter) moves, **heat** when the neurons move, and
the first law :math:`\\Delta H = W + Q` closes step by step. The paper's Eq. 7 says the dissipated work can be
made arbitrarily small; the measurement shows how: :math:`\\langle W\\rangle \\to L^2/\\tau`, with a
thermodynamic length :math:`L^2` that does not depend on the temperature. Theory:
:doc:`../theory/quasistatic`.

**Run time on 2 cores:** 7 s in the quick build (CI), 110 s in the full one, measured on a 2-core machine
shared with other jobs (numba's cache warm); the time this build took is at the bottom of the page.
"""

# %%
# Relax at a temperature
# ----------------------
# ``relax`` runs overdamped Langevin dynamics of the neurons with the input clamped. MALA has the exact
# stationary law, so equipartition holds at any stable step.
import os

import matplotlib.pyplot as plt
import numpy as np

from analogsim import Network
from analogsim.inference.protocols import Ramp, thermodynamic_length
from analogsim.inference.simulate import estimate_lambda_max, relax

QUICK = os.environ.get("ANALOGSIM_DOCS_MODE", "quick") != "full"

net = Network.create([1, 4, 4, 1], activations=["tanh", "tanh", "identity"], kappa=20.0, seed=1)

# The step must respect the stiffest mode: lambda_max of the x-Hessian. Euler-Maruyama is biased by
# about 0.06-0.2 x Gamma dt lambda_max; keep Gamma dt lambda_max <= 0.04 where EM is used.
lam = estimate_lambda_max(net, net.forward(np.array([[0.0]])))
dt = 0.04 / lam
print(f"lambda_max = {lam:.1f}, dt = {dt:.2e}")

r = relax(net, np.array([0.3]), kT=0.05, dt=10 * dt, n_steps=2000, n_replicas=256, integrator="mala", seed=1)
print("equipartition per layer:", np.round(r.equipartition, 3), "+-", np.round(r.equipartition_se, 3))
print(f"MALA acceptance {r.acceptance:.2f}, Gamma dt lambda_max = {r.dt_lambda:.2f}")

# %%
# Move the input: work and heat
# -----------------------------
# A :class:`~analogsim.inference.protocols.Ramp` moves the clamped input from -1 to 1 in a time tau. At T = 0 the
# work is deterministic; the first-law residual shows the books close.
L2 = float(thermodynamic_length(net, [-1.0], [1.0])[0])
print(f"thermodynamic length L^2 = {L2:.4f}")

taus = [0.25, 1, 4, 16] if QUICK else [0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32]
W0 = []
for tau in taus:
    q = relax(net, None, input_protocol=Ramp([-1.0], [1.0], tau=tau), kT=0.0, dt=dt,
              n_steps=int(round(tau / dt)), n_replicas=1, seed=0)
    W0.append(float(q.work.mean()))
    print(f"tau = {tau:6}: W = {W0[-1]:.5f}, tau W / L^2 = {tau * W0[-1] / L2:.3f}, "
          f"first-law residual {abs(q.first_law_residual).max():.1e}")

# %%
# The same at a temperature: the work becomes a random variable per replica; its mean follows the same
# 1/tau law, with the same L^2.
kT = 0.5
Wt, Wt_se = [], []
for tau in taus:
    q = relax(net, None, input_protocol=Ramp([-1.0], [1.0], tau=tau), kT=kT, dt=dt,
              n_steps=int(round(tau / dt)), n_replicas=128 if QUICK else 1024, integrator="mala", seed=4)
    Wt.append(float(q.work.mean()))
    Wt_se.append(float(q.work.std(ddof=1) / np.sqrt(q.work.size)))

fig, ax = plt.subplots(figsize=(5, 3.4))
tt = np.array(taus, dtype=float)
ax.loglog(tt, W0, "o-", label="T = 0")
ax.errorbar(tt, Wt, yerr=Wt_se, fmt="s", ms=4, label=f"kT = {kT} (MALA, mean ± SE)")
ax.loglog(tt, L2 / tt, "k--", lw=1, label=r"$L^2/\tau$")
ax.set_xlabel(r"protocol duration $\tau$")
ax.set_ylabel(r"dissipated work $\langle W\rangle$")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Jarzynski
# ---------
# With :math:`\Delta F = 0` (the free energy does not depend on the input), Jarzynski's equality reads
# :math:`\langle e^{-W/kT}\rangle = 1`. It holds for fast protocols too, but the estimator needs enough
# effective samples: a fast protocol has a small ESS, and the estimate is then biased, not violated.
kT = 5.0
tau = 4.0
q = relax(net, None, input_protocol=Ramp([-1.0], [1.0], tau=tau), kT=kT, dt=dt, n_steps=int(round(tau / dt)),
          n_replicas=1000 if QUICK else 8000, integrator="mala", seed=5)
jz = q.jarzynski
print(f"<exp(-W/kT)> = {jz.value:.3f} +- {jz.se:.3f} (ESS {jz.ess:.0f} of {jz.n}); <W>/kT = "
      f"{q.work.mean() / kT:.3f}; var W / (2 kT <W>) = {q.work.var() / (2 * kT * q.work.mean()):.2f}")

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.hist(q.work / kT, bins=60, density=True, alpha=0.7)
ax.axvline(0, color="k", lw=1)
ax.set_xlabel("W / kT per replica")
ax.set_ylabel("density")
ax.set_title("work distribution: negative works are allowed", fontsize=9)
fig.tight_layout()
