"""Training energy measured as the machine spends it (stochastic energetics of training).

Switching work W_sw, neuron heat Q_x and parameter heat Q_theta are booked on the simulated process and
compared with the paper's formulas as predictions: the first law per presentation (and its order in dt,
with a negative control that drops the Stratonovich midpoint), the 1/tau_switch law of the neuron heat and
tau_switch Q_x -> L^2 of the clamp path, Eq. 15 at T -> 0 and the Ito-Stratonovich term at finite T on a
linear student, the joint fidelity converging to the separated one, resume and thread determinism.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analogsim import Network
from analogsim.data import from_arrays, teacher_student
from analogsim.training import effective_output_stiffness, presentation_order, train


def _mlp():
    ds = teacher_student(n_in=3, n_out=1, n_train=32, n_test=8, seed=0)
    net = Network.create([3, 6, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)
    return ds, net


def _linear_student():
    ds = teacher_student(n_in=3, n_out=1, n_train=64, n_test=0, teacher_hidden=(), label_noise=0.3, seed=0)
    net = Network.create([3, 1], activations="identity", kappa=1.0, seed=1)
    return ds, net


def _se_of_total(records, a, b=None):
    """SE of a cumulative total (or of the difference of two) from the record windows (batch means)."""
    c = np.asarray(records[a], dtype=float) - (np.asarray(records[b], dtype=float) if b else 0.0)
    d = np.diff(c)
    return float(np.sqrt(d.size) * d.std(ddof=1))


# ----------------------------------------------------------------------------- first law
@pytest.mark.parametrize("kw", [
    dict(),
    dict(substeps=3),
    dict(batch_size=4),
    dict(kT=0.0, weight_decay=0.0),
    dict(kappa_out=None),
])
def test_first_law_closes_per_presentation_separated(kw):
    """Separated time scales: W_sw and Q_x are exact energy differences, Q_theta = E(theta) - E(theta'):
    dH = W_sw - Q_x - Q_theta holds per presentation to rounding (abrupt switching: Q_x > 0)."""
    ds, net = _mlp()
    if kw.get("kappa_out", 1) is None:
        net = net.with_kappa([1.0, 1e-3])
    args = dict(presentations=600, mu=50.0, kappa_out=1e-3, kT=1e-7, weight_decay=1e-4, seed=2, eval_every=60)
    args.update(kw)
    b = train(net, ds, **args).books
    scale = abs(b.W_sw) + abs(b.Q_x) + abs(b.Q_theta) + 1e-300
    assert b.energetics and b.presentations == 600
    assert b.first_law_residual_max < 1e-12 * scale / 600 * 50
    assert abs(b.delta_H - (b.W_sw - b.Q_x - b.Q_theta) - b.first_law_residual) < 1e-12 * scale
    assert b.Q_x > 0 and b.W_sw > 0  # abrupt switching dissipates in the neurons


def test_first_law_with_the_newton_fallback():
    """Presentations solved by the Newton reference are booked like the fixed-point ones."""
    ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=0, seed=0)
    net = Network.create([2, 3, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)
    r = train(net, ds, presentations=60, mu=0.05, kappa_out=50.0, kT=1e-6, seed=1, max_sweeps=4)
    b = r.books
    assert r.fallbacks > 0
    assert b.first_law_residual_max < 1e-10 * (abs(b.W_sw) + abs(b.Q_x) + abs(b.Q_theta))


def test_first_law_residual_falls_with_dt_and_not_without_the_stratonovich_midpoint():
    """Joint fidelity, kT > 0: the Stratonovich (trapezoid) heat closes the first law per presentation with
    a residual that falls at least like dt (measured slope ~1.2-1.4). Negative control: the Ito sum
    -g_k . dtheta_k (no midpoint) leaves a residual ~ mu tau kT tr(Hess) that does not fall with dt."""
    ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=0, teacher_hidden=(3,), seed=0)
    net = Network.create([2, 4, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)
    ks = np.array([100, 200, 400, 800])
    strat, ito = [], []
    for k in ks:
        b = train(net, ds, presentations=50, mu=3.0, kappa_out=0.1, kT=1e-3, fidelity="joint", neuron_mobility=10.0,
                  substeps=int(k), seed=3, eval_every=10).books
        strat.append(b.first_law_residual_abs)
        ito.append(abs(b.delta_H - (b.W_sw - b.Q_x - b.Q_theta_ito)))
    strat, ito = np.array(strat), np.array(ito)
    slope = np.polyfit(np.log(1.0 / ks), np.log(strat), 1)[0]
    slope_ito = np.polyfit(np.log(1.0 / ks), np.log(ito), 1)[0]
    assert slope > 0.9, (slope, strat)
    assert abs(slope_ito) < 0.2, (slope_ito, ito)
    assert np.all(ito > 100 * strat[-1]) and ito[-1] > 1000 * strat[-1]


# ----------------------------------------------------------------------------- Eq. 7 inside training
def test_neuron_heat_falls_as_one_over_tau_switch_to_the_thermodynamic_length():
    """Joint fidelity at T = 0, parameters effectively held (mu = 1e-9): ramping the clamps over tau_switch,
    the neuron heat per switch falls as 1/tau_switch (log-log slope -1 +- 0.05 at large tau_switch) and
    tau_switch Q_x approaches the thermodynamic length L^2 of the clamp path computed independently at
    T = 0 (analogsim.inference.protocols.thermodynamic_length; soft clamp kappa_out = 1e-3) within 3 %."""
    from analogsim.inference.protocols import thermodynamic_length

    x = np.linspace(-1, 1, 8)[:, None]
    ds = from_arrays(x, np.tanh(2 * x))
    net0 = Network.create([1, 4, 4, 1], activations=["tanh", "tanh", "identity"], kappa=1.0, seed=3)
    net = net0.with_theta(0.5 * net0.theta)
    S = 12
    idx = presentation_order(8, S, "cyclic")[:, 0]
    L2 = float(thermodynamic_length(net, x[idx[:-1]], x[idx[1:]]).sum())  # S - 1 switches
    taus = np.array([128.0, 256.0, 512.0])
    q = []
    for tau in taus:
        b = train(net, ds, presentations=S, mu=1e-9, tau_inf=2.0, kappa_out=1e-3, kT=0.0, fidelity="joint",
                  tau_switch=float(tau), order="cyclic", seed=0, eval_every=S).books
        q.append(b.Q_x)
        assert b.Q_x_switch <= b.Q_x and b.Q_x_switch > 0.99 * b.Q_x
        assert b.first_law_residual_max < 1e-6 * b.Q_x
    q = np.array(q)
    slope = np.polyfit(np.log(taus[-2:]), np.log(q[-2:]), 1)[0]
    assert abs(slope + 1) < 0.05, (slope, q)
    assert abs(taus[-1] * q[-1] / L2 - 1) < 0.03, (taus * q / L2)
    # abrupt switching: the neuron heat is orders of magnitude larger
    ab = train(net, ds, presentations=S, mu=1e-9, tau_inf=2.0, kappa_out=1e-3, kT=0.0, fidelity="joint",
               order="cyclic", seed=0, eval_every=S).books
    assert ab.Q_x > 50 * q[-1]


# ----------------------------------------------------------------------------- Eq. 15 put to test
def test_parameter_heat_agrees_with_eq15_at_zero_temperature_and_small_step():
    """Linear student, kT = 0: Q_theta = W_eq15 - (mu tau)^2/2 g.Hess g per step, so the relative
    difference falls like the step and is inside Q_theta's standard error at lr = 0.003."""
    ds, net = _linear_student()
    rel = []
    for lr in (0.03, 0.01, 0.003):
        r = train(net, ds, presentations=4000, mu=lr / 1e-3, kappa_out=1e-3, kT=0.0, seed=5, eval_every=100)
        b = r.books
        assert b.Q_theta < b.W_eq15  # the finite step's correction is negative at T = 0
        rel.append((b.W_eq15 - b.Q_theta) / b.W_eq15)
    assert abs(b.Q_theta - b.W_eq15) < 2 * b.Q_theta_se
    slope = np.polyfit(np.log([0.03, 0.01, 0.003]), np.log(rel), 1)[0]
    assert 0.9 < slope < 1.1, rel


def test_ito_stratonovich_difference_is_mu_tau_kT_trace_of_the_hessian():
    """Linear student at finite T: Q_theta_ito - Q_theta = 1/2 dtheta.Hess.dtheta per step, whose mean is
    mu tau kT tr(Hess F_alpha) (analytic: kout (|x_alpha|^2 + 1) for one output) up to O(step); the
    measured difference matches the prediction summed over the presented entries within 2 SE
    (batch means), and a prediction off by 10 % is rejected (negative control)."""
    ds, net = _linear_student()
    S, lr, kT = 20000, 0.001, 1e-3
    mu = lr / 1e-3
    r = train(net, ds, presentations=S, mu=mu, kappa_out=1e-3, kT=kT, seed=5, eval_every=S // 40)
    b = r.books
    kout = float(effective_output_stiffness(net, 1e-3)[0])
    idx = presentation_order(ds.n_train, S, "iid", 5)[:, 0]
    pred = mu * 1.0 * kT * float(np.sum(kout * (np.sum(ds.x_train[idx] ** 2, axis=1) + 1.0)))
    diff = b.Q_theta_ito - b.Q_theta
    se = _se_of_total(r.records, "Q_theta_ito", "Q_theta")
    assert se < 0.03 * pred
    assert abs(diff - pred) < 2 * se, (diff, pred, se)
    assert abs(diff - 1.1 * pred) > 3 * se
    # Eq. 15's W is the mean of the Ito sum
    assert abs(b.Q_theta_ito - b.W_eq15) < 3 * _se_of_total(r.records, "Q_theta_ito", "W")


# ----------------------------------------------------------------------------- two time scales
def test_joint_books_converge_to_separated_as_the_mobility_ratio_grows():
    """kT = 0, same entries: |book_joint - book_sep| / |book_sep| falls like (Gamma/mu)^-1 for the parameter
    heat, the switching work and the neuron heat (the separated reference re-solves the minimum 512 times
    per presentation). The parameter heat is where they part: still 1.9x off at Gamma/mu = 1000."""
    ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=0, teacher_hidden=(3,), seed=0)
    net = Network.create([2, 4, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)
    kw = dict(presentations=40, mu=0.3, kappa_out=0.1, seed=1, order="cyclic")
    sep = train(net, ds, substeps=512, **kw).books
    gammas = np.array([30.0, 100.0, 300.0])
    rel = {k: [] for k in ("Q_theta", "W_sw", "Q_x")}
    for g in gammas:
        b = train(net, ds, fidelity="joint", neuron_mobility=float(g), **kw).books
        for k in rel:
            rel[k].append(abs(getattr(b, k) - getattr(sep, k)) / abs(getattr(sep, k)))
    for k, v in rel.items():
        slope = np.polyfit(np.log(gammas / kw["mu"]), np.log(v), 1)[0]
        assert -1.15 < slope < -0.85, (k, slope, v)
    assert rel["W_sw"][-1] < 0.01 and rel["Q_x"][-1] < 0.01


# ----------------------------------------------------------------------------- interface
def test_books_do_not_change_the_dynamics_and_can_be_switched_off():
    ds, net = _mlp()
    kw = dict(presentations=300, mu=50.0, kappa_out=1e-3, kT=1e-7, seed=2)
    on = train(net, ds, **kw)
    off = train(net, ds, energetics=False, **kw)
    assert np.array_equal(on.theta, off.theta)  # the same rounding of the update with or without the books
    assert on.books.W == pytest.approx(off.books.W, rel=1e-12)  # (sums may be vectorised differently)
    assert not off.books.energetics and math.isnan(off.books.Q_theta) and np.all(np.isnan(off.records["Q_x"]))
    j_on = train(net, ds, fidelity="joint", neuron_mobility=30.0, **{**kw, "mu": 0.3, "kappa_out": 0.1})
    j_off = train(net, ds, fidelity="joint", neuron_mobility=30.0, energetics=False,
                  **{**kw, "mu": 0.3, "kappa_out": 0.1})
    assert np.array_equal(j_on.theta, j_off.theta)


def test_summary_records_and_derived_ratios():
    ds, net = _mlp()
    r = train(net, ds, presentations=400, mu=50.0, kappa_out=1e-3, kT=1e-7, seed=2, eval_every=40)
    s = json.loads(r.to_json())["books"]
    for k in ("W_sw", "Q_x", "Q_theta", "Q_theta_ito", "delta_H", "first_law_residual", "first_law_residual_max",
              "W_eq15", "Q_theta_se", "Q_x_over_Q_theta", "Q_theta_over_W_eq15"):
        assert k in s and np.isfinite(s[k]), k
    b = r.books
    for k in ("W_sw", "Q_x", "Q_theta", "Q_theta_ito", "delta_H"):
        assert r.records[k][-1] == pytest.approx(getattr(b, k), rel=1e-12, abs=1e-300)
        assert r.records[k][0] == 0.0
    assert b.Q_x_over_Q_theta == pytest.approx(b.Q_x / b.Q_theta)


def test_tau_switch_is_validated_before_any_work():
    ds, net = _mlp()
    with pytest.raises(ValueError, match="tau_switch"):
        train(net, ds, presentations=5, mu=1.0, kappa_out=1e-3, tau_switch=1.0)
    with pytest.raises(ValueError, match="tau_switch"):
        train(net, ds, presentations=5, mu=1.0, kappa_out=1e-3, fidelity="joint", tau_switch=-1.0)
    with pytest.raises(TypeError, match="energetics"):
        train(net, ds, presentations=5, mu=1.0, kappa_out=1e-3, energetics=1)


@pytest.mark.parametrize("fid", ["separated", "joint"])
def test_resumed_run_books_exactly_the_same_numbers(tmp_path, fid):
    """Stopped after a checkpoint (an exception from the hook) and resumed: identical books and records."""
    ds, net = _mlp()
    kw = dict(presentations=400, mu=50.0, kappa_out=1e-3, kT=1e-7, weight_decay=1e-4, seed=4, eval_every=50)
    if fid == "joint":
        kw.update(fidelity="joint", mu=0.3, kappa_out=0.1, neuron_mobility=10.0, tau_switch=0.25)
    ref = train(net, ds, **kw)
    ck = tmp_path / "ck.npz"

    class Stop(Exception):
        pass

    def stopper(s, th, n):
        if s == 350:
            raise Stop

    with pytest.raises(Stop):
        train(net, ds, checkpoint=ck, checkpoint_every=100, hook=stopper, hook_every=50, **kw)
    res = train(net, ds, checkpoint=ck, checkpoint_every=100, **kw)
    assert res.resumed_from == 300
    assert np.array_equal(res.theta, ref.theta)
    for k in ("W_sw", "Q_x", "Q_theta", "Q_theta_ito", "delta_H", "first_law_residual", "first_law_residual_max"):
        assert getattr(res.books, k) == getattr(ref.books, k), k
    for k in ("W_sw", "Q_x", "Q_theta", "first_law_residual_abs"):
        np.testing.assert_array_equal(res.records[k], ref.records[k])


def test_books_identical_on_1_and_2_blas_threads():
    """The batched path calls BLAS; the books do not depend on its thread count."""
    import scipy.linalg.cython_blas  # noqa: F401 - load the BLAS the kernels call before limiting it
    from threadpoolctl import threadpool_limits

    ds = teacher_student(n_in=16, n_out=2, n_train=64, n_test=0, seed=0)
    net = Network.create([16, 32, 2], activations=["tanh", "identity"], kappa=1.0, seed=1)
    out = []
    for n in (1, 2):
        with threadpool_limits(limits=n):
            b = train(net, ds, presentations=100, mu=20.0, kappa_out=1e-3, kT=1e-7, batch_size=8, seed=2).books
        out.append((b.W_sw, b.Q_x, b.Q_theta, b.Q_theta_ito, b.delta_H, b.first_law_residual))
    assert out[0] == out[1]


def test_gamma_from_the_measured_heat_beside_eq15():
    """threshold_temperature reports Gamma from the measured parameter heat and from W_sw - Q_x beside Eq. 15's
    prediction; on a linear student (harmonic limit) they agree within their standard errors."""
    from analogsim.training import threshold_temperature

    ds = teacher_student(n_in=2, n_out=1, n_train=64, n_test=0, teacher_hidden=(), label_noise=0.3, seed=0)
    net = Network.create([2, 1], activations="identity", seed=1)
    r = threshold_temperature(net, ds, presentations=4000, mu=50.0, kappa_out=1e-3, chain_presentations=20000,
                              seed=2)
    assert r.Gamma_eq15 == r.Gamma and np.isfinite(r.Gamma_measured_se) and np.isfinite(r.Gamma_switch_se)
    assert abs(r.Gamma_measured - r.Gamma) < 2 * math.hypot(r.Gamma_se, r.Gamma_measured_se)
    assert r.Gamma_switch == pytest.approx(r.Gamma_measured, rel=0.02)  # separated: the first law is exact
    s = r.summary()
    for k in ("Gamma_measured", "Gamma_measured_se", "Gamma_switch", "Q_theta", "Q_theta_se"):
        assert np.isfinite(s[k]), k


@settings(max_examples=12, deadline=None)
@given(depth=st.integers(1, 3), width=st.integers(1, 5), act=st.sampled_from(["tanh", "relu", "sigmoid", "identity"]),
       batch=st.sampled_from([1, 3, 8]), substeps=st.integers(1, 3), hard=st.booleans(),
       lam=st.sampled_from([0.0, 1e-3]), kT=st.sampled_from([0.0, 1e-6]), seed=st.integers(0, 2 ** 16))
def test_property_first_law_exact_and_books_never_change_the_parameters(depth, width, act, batch, substeps, hard,
                                                                          lam, kT, seed):
    """Separated fidelity, any net/clamp/batch/substeps: dH = W_sw - Q_x - Q_theta to rounding, the heats are
    finite, and the parameters are bit-identical with and without the books."""
    ds = teacher_student(n_in=2, n_out=2, n_train=12, n_test=0, seed=seed % 7)
    sizes = [2] + [width] * (depth - 1) + [2]
    net = Network.create(sizes, activations=[act] * (depth - 1) + ["identity"], kappa=1.0, seed=seed)
    if hard:
        net = net.with_kappa([1.0] * (depth - 1) + [1e-3])
    kw = dict(presentations=40, mu=20.0, kappa_out=None if hard else 1e-3, kT=kT, weight_decay=lam,
              batch_size=batch, substeps=substeps, seed=seed)
    on = train(net, ds, **kw)
    off = train(net, ds, energetics=False, **kw)
    b = on.books
    assert np.array_equal(on.theta, off.theta)
    assert all(np.isfinite([b.W_sw, b.Q_x, b.Q_theta, b.Q_theta_ito, b.delta_H]))
    assert b.first_law_residual_max <= 1e-12 * (abs(b.W_sw) + abs(b.Q_x) + abs(b.Q_theta) + 1e-12)
    assert b.Q_x >= -1e-12  # the neurons drop to the minimum: heat is released, never absorbed


def test_a_coarse_joint_step_is_not_silent():
    """Near the stability limit the trapezoid heats are poor: train() warns with the residual and the step."""
    ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=0, teacher_hidden=(3,), seed=0)
    net = Network.create([2, 4, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)
    with pytest.warns(RuntimeWarning, match="first law closes only to"):
        r = train(net, ds, presentations=50, mu=3.0, kappa_out=0.1, kT=1e-2, fidelity="joint", neuron_mobility=10.0,
                  substeps=20, seed=3)
    assert r.books.first_law_relative > 1e-3


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_books_tanh_move_is_exact_tanh_on_both_paths(dtype):
    """The heat pass's f(y + d) for a hidden tanh block: the division-free series path (every |d| < 0.02) and the
    element-by-element path (a block with a larger move, or a non-finite one) both give tanh(y + d) to rounding;
    negative control (float64): the second-order Taylor step alone misses by ~d^3."""
    from analogsim.kernels.train_step import _hidden_moved

    rng = np.random.default_rng(5)
    m = 257
    y = rng.normal(0, 1.5, m).astype(dtype)
    f, fp = np.tanh(y), (1 - np.tanh(y) ** 2).astype(dtype)
    dl = rng.normal(0, 1e-8, m).astype(dtype)
    tol = 4e-16 if dtype == "float64" else 3e-7
    for dmove in (0.019, 1e-4, 0.3):                       # 0.3: one element sends the block to the exact path
        d = rng.uniform(-1e-3, 1e-3, m)
        d[m // 2] = dmove
        yn = (y + d).astype(dtype)
        xn = np.empty(m, dtype)
        _hidden_moved(2, yn, y, f, fp, dl, xn, 1e-6)
        exact = np.tanh(yn.astype(np.float64)) + dl
        assert np.max(np.abs(xn - exact)) <= tol, dmove
        taylor2 = f + fp * (yn - y) * (1 - f * (yn - y)) + dl
        if dmove == 0.019 and dtype == "float64":  # the control: a truncation that is too short misses
            assert np.max(np.abs(taylor2 - exact)) > 1e6 * tol
    yn = y.copy()
    yn[3] = np.nan
    xn = np.empty(m, dtype)
    _hidden_moved(2, yn, y, f, fp, dl, xn, 1e-6)
    assert np.isnan(xn[3]) and np.all(np.isfinite(np.delete(xn, 3)))
