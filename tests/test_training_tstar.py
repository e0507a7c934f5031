"""Threshold temperature T* (E(T*) = 2 E(0)) and Gamma = W / (2 N S rho kT*) (Eq. 16, docs/theory/training-bound.md).

Linear student (harmonic limit): Gamma = 1 and W/kT* grows like N^1 and S^1. Small tanh MLPs (teacher-
student and digits): T* and Gamma are measured and reported, not assumed (slow tests print them).
"""

from __future__ import annotations

import numpy as np
import pytest

from analogsim import Network
from analogsim.data import digits, teacher_student
from analogsim.training import threshold_temperature, train
from analogsim.training.tstar import _solve_tstar


def _linear(n_in, seed=None):
    ds = teacher_student(n_in=n_in, n_out=1, n_train=512, n_test=0, teacher_hidden=(), label_noise=0.5,
                         seed=n_in if seed is None else seed)
    net = Network([np.zeros((1, n_in))], activations="identity", kappa=1.0)
    return ds, net


def _linear_settings(n_in):
    # learning rate mu tau_inf kappa_out = 0.02 / N keeps mu tau_inf tr(Hess L) = 0.02 for every N (the small
    # parameter of the finite-step corrections, docs/theory/training-bound.md)
    r = 1e-3
    return dict(mu=0.02 / (n_in + 1) / r, kappa_out=r)


# ----------------------------------------------------------------------------- the solver
def test_solve_tstar_on_exact_harmonic_curves():
    kT = 1e-3 * 2.0 ** np.arange(-3, 4)
    E0 = 0.7
    E = E0 + 2.5 * kT / 1e-3 * 0.3  # thermal part linear in kT: d = 0.75 kT/1e-3, crossing at kT = 0.933e-3
    k, used, br = _solve_tstar(kT, E, E0)
    assert br and k == pytest.approx(1e-3 * E0 / 0.75, rel=1e-12) and len(used) == 4
    # not bracketed: everything above (extrapolate down) or below (extrapolate up)
    k2, _, br2 = _solve_tstar(kT[4:], E[4:], E0)
    assert not br2 and k2 == pytest.approx(k, rel=1e-12)
    k3, _, br3 = _solve_tstar(kT[:2], E[:2], E0)
    assert not br3 and k3 == pytest.approx(k, rel=1e-12)
    assert np.isnan(_solve_tstar(kT, np.full(7, E0 - 1), E0)[0])


def _curved(kT, k0=1e-3):
    """Thermal excess d = x + x^2 (x = kT/k0): slope 1 -> 2 in log-log, an anharmonic E(kT) with a known crossing."""
    x = np.asarray(kT) / k0
    return x + x * x


@pytest.mark.parametrize("E0, i", [(0.5, 1), (3.0, 3), (15.0, 4)])
def test_solve_tstar_grid_selection_on_a_curved_excess(E0, i):
    """The line is fitted through the bracketing pair (i, i+1) and one neighbour on each side, nothing else.

    On a curved E(kT) every other choice of grid points gives another kT*: using all points, only the pair,
    or a window shifted by one moves the answer by 1-14 % here, so the test pins the selection and the value.
    """
    kT = 1e-3 * 2.0 ** np.arange(-3, 4)
    d = _curved(kT)
    exact = 1e-3 * (-1 + np.sqrt(1 + 4 * E0)) / 2     # x + x^2 = E0
    k, used, br = _solve_tstar(kT, E0 + d, E0)
    assert br and kT[i] < exact <= kT[i + 1]
    assert used == [j for j in (i - 1, i, i + 1, i + 2) if 0 <= j < kT.size]
    # the same weighted log-log line computed independently (unit weights without standard errors)
    x, y = np.log(kT[used]), np.log(d[used])
    slope, icpt = np.polyfit(x, y, 1)
    assert k == pytest.approx(np.exp((np.log(E0) - icpt) / slope), rel=1e-10)
    # a straight line on a curve has a bias; at this curvature it stays under 5 % of the known crossing
    assert abs(k / exact - 1) < 0.05, k / exact - 1


def test_solve_tstar_weights_follow_the_standard_errors():
    """With standard errors, a point with a huge error drops out of the fit (weights 1/var(log d))."""
    kT = 1e-3 * 2.0 ** np.arange(-3, 4)
    E0 = 0.5
    d = _curved(kT)
    se = np.full(7, 1e-3)
    k_eq, used, _ = _solve_tstar(kT, E0 + d, E0, se, 0.0)
    se_bad = se.copy()
    se_bad[used[0]] = 1e3  # the outer neighbour below the crossing is worthless
    k_w, used_w, _ = _solve_tstar(kT, E0 + d, E0, se_bad, 0.0)
    rest = used[1:]
    x, y = np.log(kT[rest]), np.log(d[rest])
    slope, icpt = np.polyfit(x, y, 1, w=d[rest] / se[rest])  # weights 1/var(log d) = d^2/se^2
    assert used_w == used and k_w == pytest.approx(np.exp((np.log(E0) - icpt) / slope), rel=1e-6)
    assert abs(k_w / k_eq - 1) > 0.01


def test_solve_tstar_extrapolation_is_flagged_on_a_curved_excess():
    kT = 1e-3 * 2.0 ** np.arange(-3, 4)
    E0 = 0.5
    d = _curved(kT)
    k, used, br = _solve_tstar(kT[3:], E0 + d[3:], E0)     # every point above the crossing
    assert not br and used == [0, 1]
    exact = 1e-3 * (-1 + np.sqrt(1 + 4 * E0)) / 2
    assert abs(k / exact - 1) > 0.05                      # extrapolating a curve is off: hence the flag


def test_linear_student_gamma_near_one_quick():
    """A short version of the slow test (chains of 1e5): Gamma within 3 of its standard errors of 1."""
    ds, net = _linear(4)
    r = threshold_temperature(net, ds, presentations=20000, chain_presentations=100000, seed=2,
                              **_linear_settings(4))
    assert r.bracketed and r.rho == pytest.approx(1.0, abs=0.01)
    assert abs(r.Gamma - 1) < 3 * r.Gamma_se + 0.03, (r.Gamma, r.Gamma_se)
    assert r.Gamma_se < 0.1
    s = r.summary()
    assert s["W_over_kT_star"] == pytest.approx(r.W / r.kT_star) and "log-log" in s["how"]
    # the harmonic prediction of the default grid is close (the measured T* lies inside the grid)
    assert 0.5 < r.kT_star / r.kT_guess < 2


# ----------------------------------------------------------------------------- slow physics
@pytest.mark.slow
def test_linear_student_gamma_is_one_and_W_over_kTstar_scales_as_N_and_S():
    """Harmonic limit: Gamma = 1 within 0.1 for N = 5..33; log-log slopes of W/kT* vs N and vs S in [0.9, 1.1]."""
    n_ins = [4, 8, 16, 32]
    res = {}
    for n in n_ins:
        ds, net = _linear(n)
        res[n] = r = threshold_temperature(net, ds, presentations=100_000, chain_presentations=1_000_000, seed=2,
                                           **_linear_settings(n))
        print(f"linear N={n + 1}: kT*={r.kT_star:.4g}±{r.kT_star_se:.2g} (guess {r.kT_guess:.4g}) "
              f"Gamma={r.Gamma:.3f}±{r.Gamma_se:.3f} W/kT*={r.W_over_kT_star:.4g}±{r.W_over_kT_star_se:.2g} "
              f"rho={r.rho:.4f} E0={r.E0:.4g}±{r.E0_se:.2g}", flush=True)
    N = np.array([n + 1 for n in n_ins], dtype=float)
    wk = np.array([res[n].W_over_kT_star for n in n_ins])
    slope_N = np.polyfit(np.log(N), np.log(wk), 1)[0]
    # vs S at N = 5, with the same kT*
    ds, net = _linear(4)
    r4 = res[4]
    Ss = np.array([20_000, 60_000, 200_000])
    W = np.array([train(net, ds, presentations=int(S), kT=r4.kT_star, seed=7, **_linear_settings(4)).books.W
                  for S in Ss])
    slope_S = np.polyfit(np.log(Ss), np.log(W / r4.kT_star), 1)[0]
    print(f"slopes: W/kT* ~ N^{slope_N:.3f}, S^{slope_S:.3f}")
    for n in n_ins:
        assert abs(res[n].Gamma - 1) < 0.1, (n, res[n].Gamma, res[n].Gamma_se)
    assert 0.9 <= slope_N <= 1.1 and 0.9 <= slope_S <= 1.1


def _mlp_report(name, net, ds, **kw):
    r = threshold_temperature(net, ds, **kw)
    print(f"{name}: N={r.n_params} S={r.presentations} kT*={r.kT_star:.4g}±{r.kT_star_se:.2g} ({r.how}) "
          f"Gamma={r.Gamma:.3f}±{r.Gamma_se:.3f} W/kT*={r.W_over_kT_star:.4g} rho={r.rho:.4f} "
          f"E0={r.E0:.3g} loss*={r.loss_star:.4g}")
    for kT, E, se, le in zip(r.kT_grid, r.E, r.E_se, r.loss_excess):
        print(f"   kT={kT:.4g}  E={E:.4g}±{se:.2g}  loss excess={le:.4g}")
    return r


def _loss_vs_kT(net, ds, kT_star, **kw):
    """Final held-out loss of full training runs (from the initial net) at kT*/8 .. 8 kT*."""
    out = []
    for f in (0.0, 0.125, 0.5, 2.0, 8.0):
        res = train(net, ds, kT=f * kT_star, **kw)
        out.append((f, res.final_train_loss, res.final_test_loss))
        print(f"   kT = {f:g} kT*: train loss {res.final_train_loss:.4g}, test loss {res.final_test_loss:.4g}")
    return out


@pytest.mark.slow
def test_mlp_teacher_student_tstar_reported_and_training_degrades_above_it():
    ds = teacher_student(n_in=4, n_out=1, n_train=256, n_test=256, teacher_hidden=(8,), label_noise=0.3, seed=3)
    net = Network.create([4, 8, 1], activations=["tanh", "identity"], kappa=1.0, seed=4)
    kw = dict(mu=0.01 / 1e-3, kappa_out=1e-3, weight_decay=1e-6)
    r = _mlp_report("tanh MLP teacher-student", net, ds, presentations=100_000, chain_presentations=200_000,
                    seed=5, **kw)
    # measured: T* bracketed, Gamma = W/(2 N S rho kT*) of order 1 but not the harmonic 1 (quick report: 0.74 +- 0.05);
    # a factor-2 error anywhere in W, N, S, rho or kT* leaves this window
    assert r.bracketed and 0.1 < r.kT_star_se / r.kT_star * 10 < 10
    assert 0.5 < r.Gamma < 1.5 and r.Gamma_se < 0.25 * r.Gamma, (r.Gamma, r.Gamma_se)
    curve = _loss_vs_kT(net, ds, r.kT_star, presentations=100_000, seed=6, **kw)
    assert curve[-1][1] > curve[1][1]  # training degrades above T*: 8 kT* worse than kT*/8


@pytest.mark.slow
def test_mlp_digits_tstar_reported_and_training_degrades_above_it():
    ds = digits(seed=0, classes=(0, 1, 2, 3), scale=0.5)
    net = Network.create([64, 8, 4], activations=["tanh", "identity"], kappa=1.0, seed=1)
    kw = dict(mu=0.01 / 1e-3, kappa_out=1e-3, weight_decay=1e-6)
    r = _mlp_report("tanh MLP digits 0-3", net, ds, presentations=50_000, chain_presentations=100_000, seed=2,
                    **kw)
    # measured at these seeds: Gamma (Eq. 15's W) = 2.69 +- 0.17 and Gamma from the measured parameter heat
    # 2.58 +- 0.26 (N = 556, further from the harmonic limit than the 4-8-1 MLP's 0.7): of order 1, here above Eq.
    # 16's 1. The books agree with Eq. 15 within 4 SE; a factor-2 error in kT*, rho, N or S moves both Gammas to
    # 1.35 or 5.4, which the pin to the measured value (4 SE) rejects either way.
    assert np.isfinite(r.kT_star) and r.Gamma_se < 0.3 * r.Gamma
    assert 0.4 < r.Gamma < 4.0, (r.Gamma, r.Gamma_se)
    assert abs(r.Gamma_measured - r.Gamma) < 4 * np.hypot(r.Gamma_se, r.Gamma_measured_se)
    assert abs(r.Gamma - 2.69) < 4 * r.Gamma_se, (r.Gamma, r.Gamma_se)
    curve = _loss_vs_kT(net, ds, r.kT_star, presentations=50_000, seed=3, **kw)
    assert curve[-1][1] > curve[1][1]
