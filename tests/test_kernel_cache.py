"""The same numbers from freshly compiled kernels and from numba's cache.

A process that compiles the training and Langevin kernels runs the code it has just built; every later process loads what
the first wrote to numba's cache. The two must compute the same numbers, bit for bit: otherwise a user's first
run after installing (or after any change to a kernel) differs from every later run. With the ``nsz`` fast-math
flag in the training kernels they did not (f64 minibatch training: 5 of 353 parameters off by up to 4.3e-19
after one presentation, growing with training); ``analogsim.kernels.train._FM`` leaves it out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

WORKER = r"""
import hashlib, json, warnings
warnings.simplefilter("ignore")
from analogsim import Network
from analogsim.data import teacher_student
from analogsim.training import train

out = {}
for dtype in ("float64", "float32"):
    net = Network.create([4, 16, 16, 1], activations=["tanh", "tanh", "identity"], seed=1, dtype=dtype)
    ds = teacher_student(n_in=4, n_out=1, n_train=64, n_test=0, teacher_hidden=(8,), label_noise=0.1, seed=0,
                         dtype=dtype)
    runs = {"separated_b16": dict(batch_size=16), "separated_b1": dict(batch_size=1)}
    if dtype == "float64":
        runs["joint"] = dict(fidelity="joint")
    for name, kw in runs.items():
        r = train(net, ds, presentations=20, mu=10.0, kappa_out=1e-3, kT=1e-9, seed=0, **kw)
        out[f"{dtype} {name}"] = [hashlib.sha256(r.theta.tobytes()).hexdigest(), r.books.W_sw, r.books.Q_theta]
import numpy as np
from analogsim import relax
net = Network.create([4, 16, 16, 1], activations=["tanh", "tanh", "identity"], seed=1)
for integ in ("em", "mala"):
    r = relax(net, np.full(4, 0.3), kT=0.01, dt=0.005, n_steps=50, n_replicas=8, seed=0, integrator=integ)
    out[f"relax {integ}"] = [float(np.sum(r.energy_end)), float(np.sum(r.heat))]
print(json.dumps(out))
"""


def _run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    p = subprocess.run([sys.executable, "-c", WORKER], env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_fresh_compile_and_cache_give_the_same_numbers(tmp_path):
    fresh = _run(tmp_path)     # an empty cache: every kernel compiled in this process, then written
    assert any(tmp_path.rglob("*.nbi")), "the kernels were not cached"
    cached = _run(tmp_path)    # the same kernels loaded from the cache
    assert fresh == cached
