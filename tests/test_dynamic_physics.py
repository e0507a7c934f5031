"""Physics of the bistable element: quasi-static reset costs (kT ln 2, kT H(p), 0) from fits a + b/tau with
negative controls, excess work ~ 1/tau, the reset error against the Boltzmann occupation, Kramers lifetimes.

Default tests are small versions (a few seconds each); ``slow`` ones are the issue's full criteria.
Tolerances: 2 % of the prediction + 3 SE (the fit's SE), as stated in the criteria.
"""

from __future__ import annotations

import math

import pytest

from analogsim.dynamic import DoubleWell
from analogsim.dynamic.digits import binary_entropy
from analogsim.dynamic.experiments import (error_vs_depth, excess_slope, lifetimes, quasistatic_series,
                                           reset_work)

LN2 = math.log(2.0)
EL = DoubleWell(E_b=16.0)


def _check_limit(r, bound, scale):
    a, se = r["fit"]["a"], r["fit"]["a_se"]
    assert abs(a - bound) <= 0.02 * scale + 3 * se, (a, se, bound)
    assert r["max_error"] < 1e-3


# ----------------------------------------------------------------------------- default (small) versions
def test_standard_erasure_costs_kT_ln2_quasistatically():
    r = quasistatic_series(EL, "standard", [6400.0, 12800.0, 25600.0], p=0.5, n_elements=2000, seed=1)
    _check_limit(r, LN2, LN2)


@pytest.mark.parametrize("p", [0.1, 0.8])
def test_prior_adapted_erasure_costs_kT_H_p(p):
    r = quasistatic_series(EL, "prior-adapted", [12800.0, 25600.0], p=p, n_elements=2000, seed=2)
    _check_limit(r, float(binary_entropy(p)), float(binary_entropy(p)))


def test_uncompute_costs_nothing_quasistatically():
    r = quasistatic_series(EL, "uncompute", [12800.0, 25600.0], p=0.5, n_elements=2000, seed=3)
    assert abs(r["fit"]["a"]) <= 0.02 * LN2 + 3 * r["fit"]["a_se"], r["fit"]


@pytest.mark.parametrize("protocol,bound", [("standard", LN2), ("prior-adapted", float(binary_entropy(0.2))),
                                            ("uncompute", 0.0)])
def test_negative_control_too_fast_protocol_shows_excess_work(protocol, bound):
    r = reset_work(EL, protocol, 400.0, p=0.2, n_elements=1000, seed=4)
    assert r["work"] - bound > 10 * r["se"] and r["work"] - bound > 0.3  # far from quasi-static


def test_standard_erasure_cost_does_not_depend_on_p_but_prior_adapted_does():
    # at the same slow tau the standard protocol pays the same for p = 0.1 and p = 0.5; prior-adapted less at 0.1
    s1 = reset_work(EL, "standard", 12800.0, p=0.1, n_elements=2000, seed=5)
    s5 = reset_work(EL, "standard", 12800.0, p=0.5, n_elements=2000, seed=6)
    pa = reset_work(EL, "prior-adapted", 12800.0, p=0.1, n_elements=2000, seed=7)
    assert abs(s1["work"] - s5["work"]) < 4 * math.hypot(s1["se"], s5["se"])
    assert s1["work"] - pa["work"] > 10 * math.hypot(s1["se"], pa["se"])


def test_reset_error_is_the_boltzmann_occupation_of_the_wrong_well():
    r = error_vs_depth(EL, [3.0, 5.0], tau=6400.0, n_elements=10000, seed=8)
    for e, se, b in zip(r["errors"], r["errors_se"], r["boltzmann"]):
        assert abs(e - b) < 4 * se + 0.15 * b, (e, se, b)
    # negative control: a fast raise freezes the occupation early, far above Boltzmann
    fast = error_vs_depth(EL, [5.0], tau=200.0, n_elements=4000, seed=9)
    assert fast["errors"][0] > 3 * fast["boltzmann"][0]


def test_stored_bit_lifetime_follows_kramers():
    r = lifetimes(1.0, [1 / 3, 1 / 4, 1 / 5], n_elements=300, dt=0.1, seed=10)
    assert abs(r["slope"] - 1.0) < 0.1 + 3 * r["slope_se"], r
    for life, se, ex in zip(r["lifetime"], r["lifetime_se"], r["exact_mfpt"]):
        assert abs(life - ex) < 4 * se + 0.05 * ex  # the exact 1-D mean first-passage time (dt bias < 5 %)
    assert sum(r["censored"]) == 0


# ----------------------------------------------------------------------------- the full criteria
TAUS = [6400.0, 12800.0, 25600.0, 51200.0]


@pytest.mark.slow
def test_full_standard_erasure_limit_and_excess_slope():
    r = quasistatic_series(EL, "standard", TAUS, p=0.5, n_elements=32000, seed=21)
    _check_limit(r, LN2, LN2)
    s = excess_slope(r["points"], LN2)
    assert abs(s["slope"] + 1.0) < 0.05 + 2 * s["slope_se"], s


@pytest.mark.slow
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_full_prior_adapted_limit(p):
    r = quasistatic_series(EL, "prior-adapted", TAUS, p=p, n_elements=8000, seed=22)
    _check_limit(r, float(binary_entropy(p)), float(binary_entropy(p)))


@pytest.mark.slow
def test_full_uncompute_limit():
    r = quasistatic_series(EL, "uncompute", TAUS, p=0.5, n_elements=8000, seed=23)
    assert abs(r["fit"]["a"]) < 0.02 * LN2 + 3 * r["fit"]["a_se"] and r["max_error"] < 1e-3


@pytest.mark.slow
def test_full_error_log_slope():
    r = error_vs_depth(EL, [3.0, 4.0, 5.0, 6.0, 7.0], tau=6400.0, n_elements=40000, seed=24)
    assert abs(r["slope"] + 1.0) < 0.1 + 2 * r["slope_se"], r


@pytest.mark.slow
def test_full_kramers_slope():
    r = lifetimes(1.0, [1 / 4, 1 / 5, 1 / 6, 1 / 7], n_elements=1000, dt=0.1, seed=25)
    assert abs(r["slope"] - 1.0) < 0.1, r


def test_time_step_converged_at_the_default():
    # the default 0.2 tau_r against a 4x finer grid (Leimkuhler-Matthews: stationary law exact to O(dt^2))
    a = reset_work(EL, "standard", 1600.0, n_elements=3000, dt=0.2, seed=30)
    b = reset_work(EL, "standard", 1600.0, n_elements=3000, dt=0.05, seed=31)
    assert abs(a["work"] - b["work"]) < 4 * math.hypot(a["se"], b["se"]) + 0.02 * LN2, (a["work"], b["work"])
