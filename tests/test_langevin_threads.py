"""Chunks of replicas, threads and determinism: results never depend on the thread count."""

from __future__ import annotations

import numpy as np
import pytest

from analogsim import Network
from analogsim.inference.integrators import EulerMaruyama
from analogsim.inference.langevin_run import default_chunk_rows
from analogsim.inference.observers import Books
from analogsim.inference.protocols import Constant
from analogsim.inference.simulate import LangevinRun, relax


def test_mid_size_batches_are_split_so_two_threads_have_work():
    assert default_chunk_rows(256, uses_blas=True) * 2 <= 256
    assert -(-512 // default_chunk_rows(512, uses_blas=True)) >= 2
    assert default_chunk_rows(64, uses_blas=True) == 64


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blas_net_is_bit_identical_on_1_and_2_threads(dtype):
    net = Network.create([8, 32, 32, 4], activations="tanh", kappa=1.0, seed=3, dtype=dtype)
    assert net.sizes[1] * net.sizes[2] >= 512           # BLAS layers in both dtypes
    x0 = np.random.default_rng(0).normal(size=(256, 8))
    out = []
    for th in (1, 2, 3):
        r = relax(net, x0, kT=0.05, dt=0.002, n_steps=40, seed=11, threads=th)
        out.append((r.state, r.work, r.heat, r.energy_end))
    for other in out[1:]:
        for a, b in zip(out[0], other):
            assert np.array_equal(a, b)


def test_prepared_run_continues_identically_whatever_the_threads():
    net = Network.create([8, 32, 32, 4], activations="relu", kappa=1.0, seed=4)
    x0 = np.random.default_rng(1).normal(size=(200, 8))
    states = []
    for th in (1, 2):
        run = LangevinRun(net, net.concat(net.forward(x0)), kT=0.1, dt=0.001, integrator=EulerMaruyama(),
                          input_protocol=Constant(x0), observers={"books": Books()}, seed=5, threads=th)
        assert run.n_chunks >= 2
        for _ in range(3):
            run.run(7)
        states.append((run.state(), run.books.copy()))
    assert np.array_equal(states[0][0], states[1][0]) and np.array_equal(states[0][1], states[1][1])
