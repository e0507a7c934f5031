"""Physics of the Langevin engine: equipartition, stability, energy books, quasi-static work, Jarzynski.

Statistical tolerances are in standard errors from independent replicas (each replica's time average is one
sample); every statistical claim has a negative control that must fail the same test.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from analogsim import Network
from analogsim.errors import DivergenceError
from analogsim.model.hamiltonian import OutputClamp, stability_bound
from analogsim.inference.integrators import MALA, EulerMaruyama
from analogsim.inference.observers import EnergyMoments
from analogsim.inference.protocols import Ramp, thermodynamic_length
from analogsim.inference.simulate import estimate_lambda_max, relax


def _net(act="tanh", sizes=(3, 8, 8, 2), seed=0, kappa=(1.0, 2.0, 1.5), dtype="float64"):
    return Network.create(list(sizes), activations=act, kappa=list(kappa), seed=seed, bias_scale=0.2, dtype=dtype)


def _lam(net, x0):
    return estimate_lambda_max(net, net.forward(x0))


X0 = np.array([0.3, -0.5, 0.8])


def _equipartition(net, integ, dtl, n_steps, B=256, kT=0.05, seed=0, warn=False):
    lam = _lam(net, X0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if not warn else "error", RuntimeWarning)
        r = relax(net, X0, kT=kT, dt=dtl / lam, n_steps=n_steps, n_replicas=B, integrator=integ, seed=seed,
                  record=[EnergyMoments(burn_in=n_steps // 10)])
    return r


def test_equipartition_em_small_step():
    # EM at dt lambda_max = 0.05 (<= 0.1): within 1.2 % + 4 SE of kT in every layer
    r = _equipartition(_net(), EulerMaruyama(), 0.05, 5000, B=512)
    assert r.dt_lambda <= 0.1  # lambda_max at the (thermal) initial states, as the guard sees it
    dev = np.abs(r.equipartition - 1)
    assert np.all(dev < 0.012 + 4 * r.equipartition_se), (r.equipartition, r.equipartition_se)
    assert np.all(r.equipartition_se < 0.01)  # the test has the power to see a few % bias


def test_equipartition_mala_large_step_and_em_negative_control():
    net = _net()
    r = _equipartition(net, MALA(), 0.7, 3000, seed=1)
    assert 0.6 < r.acceptance < 0.99
    dev = np.abs(r.equipartition - 1)
    assert np.all(dev < 4 * r.equipartition_se), (r.equipartition, r.equipartition_se)
    # negative control: EM at the same dt lambda_max = 0.7 is biased by more than 3 % (in some layer) ...
    e = _equipartition(net, EulerMaruyama(), 0.7, 3000, seed=1)
    assert np.max(np.abs(e.equipartition - 1)) > 0.03, e.equipartition
    # ... which the MALA test above would have caught
    assert np.any(np.abs(e.equipartition - 1) > 4 * e.equipartition_se)


def test_em_bias_warning_and_unstable_step_error():
    net = _net()
    lam = _lam(net, X0)
    with pytest.warns(RuntimeWarning, match="MALA"):
        relax(net, X0, kT=0.05, dt=0.3 / lam, n_steps=2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        relax(net, X0, kT=0.05, dt=0.04 / lam, n_steps=2, seed=0)  # predicted worst-layer bias < 1 %: silent
        # MALA: no bias warning (64 replicas: one replica's 2 steps can all be rejected, a 'stalled' run)
        relax(net, X0, kT=0.05, dt=0.7 / lam, n_steps=2, seed=0, integrator="mala", n_replicas=64)
    with pytest.raises(ValueError, match=r"dt = .* lambda_max = .* dt < 2/\(Gamma lambda_max\)"):
        relax(net, X0, kT=0.05, dt=2.0 / lam, n_steps=2, seed=0)
    with pytest.raises(ValueError, match="lambda_max"):
        relax(net, X0, kT=0.05, dt=1.5 / lam, gamma=2.0, n_steps=2, seed=0)


def test_identity_net_diverges_at_two_over_lambda():
    """Linear stability: dt = 0.98 * 2/lambda_max is stable, 1.02 * 2/lambda_max diverges (identity nets)."""
    net = _net("identity", sizes=(2, 5, 4, 2), kappa=(1.0, 3.0, 2.0))
    x0 = np.array([0.5, -0.2])
    lam = _lam(net, x0)
    ok = relax(net, x0, kT=0.01, dt=0.98 * 2 / lam, n_steps=4000, n_replicas=4, seed=0, stability="off",
               throw=False)
    # stable: no divergence; but the top mode's EM variance is 1/(1 - 0.98) = 50x its equipartition value, a
    # sustained noisy period-2 oscillation that the runtime check may flag (status 'oscillating', not 'ok')
    assert ok.status in ("ok", "oscillating") and ok.diverged_step == -1 and np.all(np.isfinite(ok.energy_end))
    ok = relax(net, x0, kT=0.01, dt=0.9 * 2 / lam, n_steps=4000, n_replicas=4, seed=0, stability="off")
    assert ok.status == "ok"
    bad = relax(net, x0, kT=0.01, dt=1.02 * 2 / lam, n_steps=40000, n_replicas=4, seed=0, stability="off",
                throw=False)
    assert bad.status == "diverged" and 0 < bad.diverged_step < 40000
    with pytest.raises(DivergenceError) as info:
        relax(net, x0, kT=0.01, dt=1.02 * 2 / lam, n_steps=40000, n_replicas=4, seed=0, stability="off")
    assert isinstance(info.value, FloatingPointError)
    assert info.value.step == bad.diverged_step and "step" in str(info.value)


@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid", "softplus"])
def test_no_divergence_below_cheap_bound(act):
    net = _net(act, sizes=(3, 10, 10, 2), kappa=(1.0, 2.0, 4.0), seed=3)
    B = stability_bound(net)
    r = relax(net, X0, kT=0.05, dt=1.9 / B, n_steps=3000, n_replicas=16, seed=0, stability="off",
              integrator="em")
    assert r.status == "ok" and np.all(np.isfinite(r.state))


def test_first_law_and_books():
    # identity net: H is quadratic, so the Stratonovich (trapezoid) heat is exact: residual ~ rounding
    net = _net("identity")
    lam = _lam(net, X0)
    ramp = Ramp(X0, -X0, tau=5.0)
    r = relax(net, None, input_protocol=ramp, kT=0.05, dt=0.05 / lam, n_steps=int(8 / (0.05 / lam)),
              n_replicas=64, seed=0)
    scale = np.abs(r.work) + np.abs(r.heat) + np.abs(r.energy_start)
    assert np.max(np.abs(r.first_law_residual) / scale) < 1e-10
    assert np.all(r.work != 0) and r.jarzynski is not None
    # tanh net: residual is the discretisation error of the heat, small but not rounding
    net = _net("tanh")
    r = relax(net, None, input_protocol=Ramp(X0, -X0, tau=5.0), kT=0.05, dt=0.05 / lam, n_steps=2000,
              n_replicas=64, seed=0)
    rel = np.abs(r.first_law_residual) / (np.abs(r.work) + np.abs(r.heat))
    assert np.median(rel) < 0.02
    # MALA books the energy change of accepted moves: exact to rounding
    r = relax(net, None, input_protocol=Ramp(X0, -X0, tau=5.0), kT=0.05, dt=0.3 / lam, n_steps=500,
              n_replicas=64, seed=0, integrator="mala")
    assert np.max(np.abs(r.first_law_residual)) < 1e-12


def test_quasi_static_work_scales_as_one_over_tau_and_matches_thermodynamic_length():
    """T = 0 ramp of the input on a [1,4,4,1] net: W ~ L^2/tau, slope -1 +- 0.05, tau W -> L^2 within 3 %.

    kappa = 4 makes the relaxation times short against tau (L^2 does not depend on kappa; with kappa = 1 the
    same numbers appear at 4x the tau)."""
    net = Network.create([1, 4, 4, 1], activations="tanh", kappa=4.0, seed=0, bias_scale=0.3)
    a, b = np.array([-1.0]), np.array([1.0])
    L2 = float(thermodynamic_length(net, a, b)[0])
    lam = _lam(net, a)
    dt = 0.02 / lam
    taus = np.array([16.0, 32.0, 64.0, 128.0])
    W = []
    for tau in taus:
        r = relax(net, None, input_protocol=Ramp(a, b, tau), kT=0.0, dt=dt, n_steps=int(round(tau / dt)), seed=0,
                  record=("books",))
        W.append(float(r.work[0]))
    W = np.array(W)
    slope = np.polyfit(np.log(taus[1:]), np.log(W[1:]), 1)[0]
    assert abs(slope + 1) < 0.05, (slope, W)
    assert abs(taus[-1] * W[-1] / L2 - 1) < 0.03, (taus * W, L2)
    assert abs(taus[2] * W[2] / L2 - 1) < 0.05
    # negative control: a length computed with the wrong friction (Gamma = 2) is off by far more than 3 %
    assert abs(taus[-1] * W[-1] / float(thermodynamic_length(net, a, b, gamma=2.0)[0]) - 1) > 0.5


def test_jarzynski_with_mala():
    net = Network.create([1, 4, 4, 1], activations="tanh", kappa=1.0, seed=0, bias_scale=0.3)
    a, b = np.array([-1.0]), np.array([1.0])
    lam = _lam(net, a)
    kT, tau = 0.5, 16.0
    dt = 0.5 / lam
    r = relax(net, None, input_protocol=Ramp(a, b, tau), kT=kT, dt=dt, n_steps=int(round(tau / dt)),
              n_replicas=4000, seed=2, integrator="mala", record=("books",))
    j = r.jarzynski
    assert j.ess > 0.3 * j.n
    assert abs(j.value - 1) < 4 * j.se, (j.value, j.se)
    assert np.mean(r.work) > 4 * np.std(r.work) / np.sqrt(r.work.size)  # dissipation is visible...
    # ... so the naive estimate exp(-<W>/kT) is not 1: the control that Jarzynski's average is needed
    assert abs(np.exp(-np.mean(r.work) / kT) - 1) > 4 * j.se


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_thread_count_does_not_change_numbers():
    net = _net("tanh", sizes=(3, 40, 60, 2))  # 2400 weights: BLAS path for the middle layer
    kw = dict(kT=0.05, dt=0.01, n_steps=50, n_replicas=100, seed=4, chunk_rows=16)
    r1 = relax(net, X0, threads=1, **kw)
    r2 = relax(net, X0, threads=2, **kw)
    r3 = relax(net, X0, threads=3, **kw)
    np.testing.assert_array_equal(r1.state, r2.state)
    np.testing.assert_array_equal(r1.state, r3.state)
    np.testing.assert_array_equal(r1.heat, r2.heat)
    r4 = relax(net, X0, threads=2, **{**kw, "seed": 5})
    assert not np.array_equal(r1.state, r4.state)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_clamped_outputs_run_and_hold_the_target():
    net = _net()
    t = np.array([0.2, -0.1])
    r = relax(net, X0, kT=0.02, dt=0.01, n_steps=300, n_replicas=32, seed=0, output_clamp=OutputClamp(t))
    np.testing.assert_array_equal(r.xs[-1], np.broadcast_to(t, (32, 2)))
    soft = relax(net, X0, kT=0.0, dt=0.01, n_steps=5000, seed=0, output_clamp=OutputClamp(t, 50.0))
    free = relax(net, X0, kT=0.0, dt=0.01, n_steps=10, seed=0)
    # a stiff spring pulls the output most of the way to the target
    assert np.linalg.norm(soft.xs[-1][0] - t) < 0.2 * np.linalg.norm(free.xs[-1][0] - t)
    # a moving target under a hard clamp does work
    from analogsim.inference.protocols import Ramp as R

    mv = relax(net, X0, kT=0.02, dt=0.01, n_steps=300, n_replicas=8, seed=0, output_clamp=OutputClamp(t),
               target_protocol=R(t, -t, 2.0))
    np.testing.assert_allclose(mv.xs[-1], np.broadcast_to(-t, (8, 2)))
    assert np.all(mv.work != 0)


def test_float32_equipartition():
    net = _net(dtype="float32")
    r = _equipartition(net, MALA(), 0.5, 1500, B=128, seed=3)
    assert r.state.dtype == np.float32
    assert np.all(np.abs(r.equipartition - 1) < 4 * r.equipartition_se + 0.005)


@pytest.mark.slow
def test_quasi_static_at_finite_temperature_slow():
    """L^2 does not depend on T: tau <W> at kT = 0.01 matches the T = 0 length (SE from replicas)."""
    net = Network.create([1, 4, 4, 1], activations="tanh", kappa=1.0, seed=0, bias_scale=0.3)
    a, b = np.array([-1.0]), np.array([1.0])
    L2 = float(thermodynamic_length(net, a, b)[0])
    lam = _lam(net, a)
    dt = 0.3 / lam
    tau = 128.0
    r = relax(net, None, input_protocol=Ramp(a, b, tau), kT=0.01, dt=dt, n_steps=int(round(tau / dt)),
              n_replicas=2000, seed=1, integrator="mala", record=("books",))
    se = np.std(r.work) / np.sqrt(r.work.size)
    assert abs(tau * np.mean(r.work) - L2) < 0.03 * L2 + 4 * tau * se
