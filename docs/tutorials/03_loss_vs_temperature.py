"""
3. Train physically at several temperatures
===========================================

Physical training presents the data entries one after another with input and output clamped, and lets the
parameters anneal by Langevin dynamics in the clamped free energy (Eq. 11–12):
:math:`d\\theta = -\\mu\\,\\partial_\\theta F_\\alpha\\,dt + \\sqrt{2kT\\mu}\\,dW`. At low temperature the
statistical noise of presenting one entry at a time dominates and the net learns as well as SGD would; above a
threshold temperature :math:`T^*` the thermal noise takes over and the loss rises. The work the parameters do is
booked per presentation and compared with Eq. 16's :math:`2NSkT\\rho` (the paper's D is the number of
presentations S). Theory: :doc:`../theory/training-bound`.

**Run time on 2 cores:** 2 s in the quick build (CI), 7 s in the full one, measured on a 2-core machine
shared with other jobs (numba's cache warm); the time this build took is at the bottom of the page.
"""

# %%
# A teacher-student problem
# -------------------------
# A random teacher net makes the targets; a student of the same shape learns them.
import os

import matplotlib.pyplot as plt
import numpy as np

from analogsim import Network
from analogsim.data import teacher_student
from analogsim.training import train

QUICK = os.environ.get("ANALOGSIM_DOCS_MODE", "quick") != "full"

ds = teacher_student(n_in=3, n_out=1, n_train=64, n_test=128, seed=0)
net = Network.create([3, 8, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)
S = 3000 if QUICK else 20000                       # presentations (epochs x data set size)
print(f"N = {net.n_params} parameters, S = {S} presentations, {ds.n_train} training entries")

# %%
# Train at several temperatures
# -----------------------------
# Same data order and the same initial net for every temperature (same seed); only kT changes.
# ``kappa_out`` is the output stiffness (small: the stress is then the backprop gradient, see tutorial 1),
# ``mu`` the parameter mobility, ``tau_inf`` the time each entry is presented.
kTs = np.logspace(-8, -3, 6 if QUICK else 11)
results = []
for kT in kTs:
    res = train(net, ds, presentations=S, mu=100.0, tau_inf=1.0, kappa_out=1e-3, kT=float(kT),
                weight_decay=1e-4, seed=2)
    results.append(res)
    b = res.books
    print(f"kT = {kT:.1e}: test loss {res.records['test_loss'][-1]:.3e}, W = {b.W:.3e}, "
          f"2 N S kT rho = {b.bound:.3e}, rho = {b.rho:.2f}")

# %%
# Loss against temperature
# ------------------------
# Below the threshold the loss does not depend on T (presentation noise dominates); above it, it grows
# roughly in proportion to kT.
test = np.array([r.records["test_loss"][-1] for r in results])
trainl = np.array([r.records["train_loss"][-1] for r in results])
fig, ax = plt.subplots(figsize=(5, 3.4))
ax.loglog(kTs, test, "o-", label="test loss")
ax.loglog(kTs, trainl, "s--", ms=4, label="training loss")
ax.axhline(2 * test[0], color="grey", lw=0.8, ls=":", label="2 x loss at the lowest T")
ax.set_xlabel("kT (energy units)")
ax.set_ylabel("final loss (T = 0 forward pass)")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The work against the bound
# --------------------------
# The work is dominated by the drift term :math:`\mu\tau\lvert g\rvert^2` at low T (it does not vanish as
# T -> 0: it is the work of learning by presentation); Eq. 16's bound grows with kT. The threshold temperature
# T* is defined by E(T*) = 2 E(0) for the excess loss; :func:`analogsim.training.threshold_temperature`
# measures it and Gamma = W / (2 N S rho kT*) (about 1 for a linear student, 0.7–1.5 for small MLPs).
W = np.array([r.books.W for r in results])
bound = np.array([r.books.bound for r in results])
fig, ax = plt.subplots(figsize=(5, 3.4))
ax.loglog(kTs, W, "o-", label="measured work W (Eq. 15)")
ax.loglog(kTs, bound, "k--", label=r"$2NSkT\rho$ (Eq. 16, D = S)")
ax.set_xlabel("kT")
ax.set_ylabel("energy (units of kT's scale)")
ax.legend(fontsize=8)
fig.tight_layout()
