"""T* on graph networks: the optimum, the parameter chains' excess energy (harmonic limit N kT / 2), T*."""

from __future__ import annotations

import numpy as np
import pytest

from analogsim.graph import GraphBuilder
from analogsim.training.graph_tstar import excess_energy_chain, optimum, threshold_temperature


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


# ----------------------------------------------------------------------------- the dense path on a chain graph
def chain_problem(k_soft=0.1):
    """A dense tanh chain and the same chain as a graph: the dense soft clamp (kappa_out = k_soft on an output
    layer of stiffness 1) is a hard clamp of stiffness k_soft / (1 + k_soft) (springs in series)."""
    from analogsim import Network
    from analogsim.data import teacher_student
    from analogsim.graph import GraphNetwork

    ds = teacher_student(n_in=3, n_out=1, n_train=32, n_test=0, teacher_hidden=(), label_noise=0.3, seed=0)
    net = Network.create([3, 4, 1], activations=["tanh", "identity"], seed=1)
    g = GraphNetwork.from_network(net)
    g = g.with_kappa(list(g.kappa[:-1]) + [k_soft / (1 + k_soft)])
    return net, g, ds, k_soft


def test_the_full_batch_energy_and_data_noise_of_a_chain_graph_are_the_dense_ones():
    from analogsim.training.graph_tstar import data_gradient_variance, full_batch_energy
    from analogsim.training.objective import gradient_variance
    from analogsim.training.tstar import _Energy

    net, g, ds, k = chain_problem()
    rng = np.random.default_rng(5)
    for lam in (0.0, 1e-3):
        for _ in range(3):
            th = net.theta + 0.3 * rng.standard_normal(net.n_params)
            dense = net.with_theta(th)
            F_dense = _Energy(dense, ds, k, lam)(dense)[0]
            F_graph = full_batch_energy(g.with_theta(th), ds.x_train, ds.t_train, lam)[0]
            assert abs(F_graph - F_dense) <= 1e-10 * abs(F_dense), (F_graph, F_dense)
    v_dense = gradient_variance(net, ds, k)
    v_graph = data_gradient_variance(g, ds.x_train, ds.t_train)
    assert abs(v_graph - v_dense) <= 1e-9 * v_dense, (v_graph, v_dense)


def test_tstar_of_a_chain_graph_agrees_with_the_dense_path():
    """Same net, data, optimum, grid, chain lengths and rule: the two T* agree within 4 combined SE; a T* off by a
    factor 2 (a wrong noise strength) is rejected by the same test (negative control)."""
    from analogsim.training.tstar import threshold_temperature as dense_tstar

    net, g, ds, k = chain_problem()
    mu, C = 2.0, 2000                                              # learning rate mu tau k/(1 + k) = 0.18
    # weight decay: without it the full-batch energy of a net with a hidden layer has no minimum (module docstring
    # of analogsim.training.graph_tstar), and both optimum searches run off to |theta| ~ 1e4
    d = dense_tstar(net, ds, presentations=10, mu=mu, kappa_out=k, order="shuffle", n_grid=5, weight_decay=1e-3,
                    chain_presentations=C, measure_every=5, seed=4)
    r = threshold_temperature(g, ds.x_train, ds.t_train, kT_grid=d.kT_grid, chain_presentations=C, measure_every=5,
                              mu=mu, seed=7, zero_chain_factor=4, weight_decay=1e-3,
                              optimum_net=g.with_theta(d.theta_star))
    assert abs(r.F_star - d.F_star) <= 1e-10 * d.F_star            # the same optimum, the same energy
    assert r.kT_guess == pytest.approx(d.kT_guess, rel=1e-8)       # the same data noise
    assert r.bracketed and d.bracketed
    se = np.hypot(r.kT_star_se, d.kT_star_se)
    assert abs(r.kT_star - d.kT_star) < 4 * se, (r.kT_star, r.kT_star_se, d.kT_star, d.kT_star_se)
    assert abs(r.E0 - d.E0) < 4 * np.hypot(r.E0_se, d.E0_se), (r.E0, r.E0_se, d.E0, d.E0_se)
    assert abs(r.kT_star - 2 * d.kT_star) > 4 * se                 # negative control


# ----------------------------------------------------------------------------- a convolutional net
def conv_problem():
    b = GraphBuilder((1, 5, 5))
    b.dense(b.conv(b.input, 2, 3, activation="tanh"), 1)
    net = b.build(seed=0, kappa=[1.0, 0.1])
    teacher = b.build(seed=9)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((32, 25))
    T = teacher.predict(X) + 0.3 * rng.standard_normal((32, 1))
    return net, X, T


def test_tstar_of_a_conv_net_is_finite_positive_with_its_se():
    net, X, T = conv_problem()
    # mu tau kappa_out = 0.03: well inside the step's stability (at mu = 3 the chains leave the basin); weight decay
    # gives the full-batch energy a minimum (without it, growing weights lower F: module docstring)
    r = threshold_temperature(net, X, T, chain_presentations=1000, measure_every=5, mu=0.3, weight_decay=1e-3,
                              gtol=1e-10, n_grid=4, seed=2)
    assert r.n_params == 2 * 9 + 2 + 18 + 1 and r.grad_norm_star < 1e-7
    assert r.bracketed and np.isfinite(r.kT_star) and r.kT_star > 0, r.summary()
    assert np.isfinite(r.kT_star_se) and 0 < r.kT_star_se < 0.5 * r.kT_star, r.summary()
    # the default grid is centred on the harmonic prediction mu tau var_data(g) / (2 N B): T* lies near it
    assert 1 / 3 < r.kT_star / r.kT_guess < 3, (r.kT_star, r.kT_guess)
    # the thermal excess grows with kT (roughly N kT / 2 in the harmonic limit)
    d = r.E - r.E0
    assert np.all(np.diff(d) > 0) and 0.3 < d[-1] / (r.n_params * r.kT_grid[-1] / 2) < 3, d


@pytest.mark.slow
def test_tstar_of_a_conv_net_on_the_digits():
    """conv 1->2 3x3 stride 2 (tanh), dense 10 on 100 digits (1x8x8), r = 1e-3, batch 8, mu tau kappa_out = 0.05."""
    from analogsim.data.images import digits_images

    ds, shape = digits_images(seed=0)
    X, T = ds.x_train[:100], ds.t_train[:100]
    b = GraphBuilder(shape)
    b.dense(b.conv(b.input, 2, 3, stride=2, padding=1, activation="tanh"), 10)
    net = b.build(seed=0, kappa=[1.0, 1e-3])
    r = threshold_temperature(net, X, T, chain_presentations=2000, measure_every=10, mu=50.0, batch_size=8,
                              weight_decay=1e-5, gtol=1e-9, max_iter=2000, n_grid=5, seed=2)
    assert r.n_params == 350 and r.bracketed and r.grad_norm_star < 1e-7, r.summary()
    assert 0 < r.kT_star_se < 0.2 * r.kT_star and 1 / 3 < r.kT_star / r.kT_guess < 3, r.summary()
    d = (r.E - r.E0) / (r.n_params * r.kT_grid / 2)                # the harmonic N kT / 2 within 30 %
    assert np.all(np.abs(d - 1) < 0.3), d
