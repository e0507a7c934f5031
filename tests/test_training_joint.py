"""Joint neuron + parameter Langevin dynamics approach the separated-time-scales limit."""

from __future__ import annotations

import numpy as np
import pytest

from analogsim import Network
from analogsim.data import teacher_student
from analogsim.training import train


def _setup():
    ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=0, teacher_hidden=(3,), seed=0)
    net = Network.create([2, 4, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)
    return ds, net


def test_joint_converges_to_separated_as_the_mobility_ratio_grows():
    """kT = 0, same entries in the same order: |theta_joint - theta_sep| / |theta_sep - theta_0| falls like
    (Gamma/mu)^-1 (the neurons lag the entry switches for a time ~1/(Gamma kappa)). The separated reference
    re-solves the clamped minimum 512 times per presentation (the continuous flow of Eq. 11 within a
    presentation, which is what the joint dynamics approach)."""
    ds, net = _setup()
    kw = dict(presentations=40, mu=0.3, kappa_out=0.1, seed=1, order="cyclic")
    sep = train(net, ds, substeps=512, **kw)
    d0 = np.linalg.norm(sep.theta - net.theta)
    gammas = np.array([30.0, 100.0, 300.0, 1000.0])
    rel = np.array([np.linalg.norm(train(net, ds, fidelity="joint", neuron_mobility=g, **kw).theta - sep.theta) / d0
                    for g in gammas])
    assert np.all(np.diff(rel) < 0), rel
    slope = np.polyfit(np.log(gammas / kw["mu"]), np.log(rel), 1)[0]
    assert -1.2 < slope < -0.8, (slope, rel)
    assert rel[-1] < 0.05


def test_joint_dynamics_at_temperature_books_and_hard_clamp():
    ds, net = _setup()
    kw = dict(presentations=200, mu=0.3, seed=2, fidelity="joint", neuron_mobility=30.0, kT=1e-4)
    soft = train(net, ds, kappa_out=0.1, **kw)
    hard = train(net.with_kappa([1.0, 0.1]), ds, **kw)
    for r in (soft, hard):
        b = r.books
        assert np.all(np.isfinite(r.theta)) and b.W > 0 and b.var_g > 0 and np.isfinite(b.rho)
        assert b.presentations == 200 and r.dt * r.n_substeps == pytest.approx(1.0)
    again = train(net, ds, kappa_out=0.1, **kw)
    assert np.array_equal(again.theta, soft.theta)  # seeded: identical


def test_joint_step_is_checked_against_the_stability_bound():
    ds, net = _setup()
    with pytest.raises(ValueError, match="step too large"):
        train(net, ds, presentations=2, mu=0.3, kappa_out=0.1, fidelity="joint", neuron_mobility=100.0, dt=0.1)
    with pytest.raises(ValueError, match="batch_size"):
        train(net, ds, presentations=2, mu=0.3, kappa_out=0.1, fidelity="joint", batch_size=2)
