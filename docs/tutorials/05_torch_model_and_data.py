"""
5. Bring your own torch model and data
======================================

A ``torch.nn.Sequential`` of ``Linear`` layers and activations *is* a network of Eq. 6: import it, give it a
stiffness, and every tool of analogsim applies — equilibrium at a temperature, the stress at the clamped minimum,
physical training with its energy books. Data come from arrays (or ``.npz``/``.csv`` files with
:func:`analogsim.data.load_arrays`). The trained net goes back to torch.

**Run time on 2 cores:** 8 s in the quick build (CI), 11 s in the full one, measured on a 2-core machine
shared with other jobs (numba's cache warm); the time this build took is at the bottom of the page.
"""

# %%
# A torch model, partly trained digitally
# ---------------------------------------
import os

import matplotlib.pyplot as plt
import numpy as np
import torch

from analogsim import Network, stress_vs_backprop
from analogsim.data import from_arrays, split
from analogsim.training import train

QUICK = os.environ.get("ANALOGSIM_DOCS_MODE", "quick") != "full"
torch.manual_seed(0)

# your data: a noisy 2-D function
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, size=(400, 2))
t = (np.sin(2 * x[:, :1]) * np.cos(x[:, 1:]) + 0.05 * rng.standard_normal((400, 1)))

model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
X, T = torch.from_numpy(x), torch.from_numpy(t)
for _ in range(5):                         # a few Adam steps: a partly trained model
    opt.zero_grad()
    loss = torch.mean((model(X) - T) ** 2)
    loss.backward()
    opt.step()
print(f"torch training loss: {loss.item():.4f}")

# %%
# Import it as a physical network
# -------------------------------
# The weights become the couplings of Eq. 6; the stiffness kappa is a physical choice torch has no notion of
# (one number, one per layer, or one per neuron).
net = Network.from_torch(model, kappa=1.0)
print(net.sizes, net.activation_names, net.dtype)
with torch.no_grad():
    same = np.allclose(net.forward(x)[-1], model(X).numpy())
print("forward pass identical to torch:", same)

# %%
# Its stress against torch's backprop
# -----------------------------------
# On the model's own data: the stress at the clamped minimum approaches the backprop gradient as the output
# spring softens (error = C r).
rep = stress_vs_backprop(net, x[:32], t[:32], ratios=np.logspace(-6, 0, 7))
print(f"error vs backprop: slope {rep['slope']:.3f}, C = {rep['constant']:.2f}, "
      f"{rep['rel_error'][-1]:.0%} at r = 1")

# %%
# Continue training physically, on your data
# ------------------------------------------
# :func:`analogsim.data.split` makes a :class:`~analogsim.data.Dataset` with a held-out part
# (:func:`analogsim.data.from_arrays` takes explicit train/test arrays).
ds = split(x, t, test_fraction=0.25, seed=1)
print(f"{ds.n_train} training and {ds.n_test} test entries")
res = train(net, ds, presentations=4000 if QUICK else 20000, mu=20.0, tau_inf=1.0, kappa_out=1e-3, kT=1e-7,
            weight_decay=1e-5, seed=2)
print(f"test loss: before {res.records['test_loss'][0]:.4f}, after {res.records['test_loss'][-1]:.4f}; "
      f"work W = {res.books.W:.3e}, bound 2 N S kT rho = {res.books.bound:.3e}")

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.semilogy(res.records["presentation"], res.records["test_loss"], label="test")
ax.semilogy(res.records["presentation"], res.records["train_loss"], label="training")
ax.set_xlabel("presentations")
ax.set_ylabel("loss")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Back to torch
# -------------
trained = res.net.to_torch()
with torch.no_grad():
    print("exported model agrees with the physical net:",
          np.allclose(trained(X).numpy(), res.net.forward(x)[-1]))
print(trained)

# %%
# Arrays on disk work the same way: ``load_arrays("data.npz", x_key="x", t_key="t")`` or a CSV whose last
# ``n_targets`` columns are the targets; nothing is unpickled.
demo = from_arrays(x[:4], t[:4])
print(demo.n_train, demo.n_in, demo.n_out)
