"""T* on graph networks: the optimum, the parameter chains' excess energy (harmonic limit N kT / 2), T*."""

from __future__ import annotations

import numpy as np
import pytest

from analogsim.graph import GraphBuilder
from analogsim.graph.tstar import excess_energy_chain, optimum, threshold_temperature


def linear_student():
    b = GraphBuilder((3,))
    b.dense(b.input, 1)
    net = b.build(seed=0, kappa=[0.1])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 3))
    T = X @ np.array([[1.0], [-1.0], [0.5]]) + 0.3 * rng.standard_normal((32, 1))
    return net, X, T


def test_parameter_equipartition_in_the_harmonic_limit():
    net, X, T = linear_student()
    star, (F, loss, g) = optimum(net, X, T)
    assert g < 1e-9
    # full batch each presentation: no data noise, F is quadratic in theta with Hessian kappa mean(x x^T) (x with a
    # constant 1 for the bias), and the discrete Langevin step's stationary excess is exactly
    # sum_i (kT/2) / (1 - mu tau lambda_i / 2)
    mu, kT = 3.0, 1e-2
    Xb = np.hstack([X, np.ones((X.shape[0], 1))])
    lam = np.linalg.eigvalsh(0.1 * Xb.T @ Xb / X.shape[0])
    predicted = float(np.sum(kT / 2 / (1 - mu * lam / 2)))
    c = excess_energy_chain(star, X, T, kT, chain_presentations=3000, burn_in=100, measure_every=2, F_star=F,
                            mu=mu, batch_size=X.shape[0], seed=2)
    assert abs(c["E"] - predicted) < 4 * c["E_se"], (c["E"], c["E_se"], predicted)
    # negative control: N kT / 2 scaled by 1.25 (a wrong noise strength) is rejected
    assert abs(c["E"] - 1.25 * predicted) > 4 * c["E_se"]


def test_threshold_temperature_brackets_and_rejects_bad_grids():
    net, X, T = linear_student()
    r = threshold_temperature(net, X, T, kT_grid=[1e-5, 1e-4, 1e-3], chain_presentations=800, burn_in=100,
                              measure_every=4, mu=1.0, seed=1)
    assert r.bracketed and 1e-5 < r.kT_star < 1e-3 and "bracketed" in r.summary()
    # E(T*) = 2 E(0) with E - E0 ~ N kT/2: kT* ~ 2 E0 / N within the scatter of the chains
    assert 0.3 < r.kT_star / (2 * r.E0 / r.n_params) < 3
    with pytest.raises(ValueError, match="kT_grid must hold at least two"):
        threshold_temperature(net, X, T, kT_grid=[1e-3], chain_presentations=10, burn_in=1, mu=1.0)
