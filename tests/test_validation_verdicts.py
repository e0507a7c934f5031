"""Verdict rules of the validation framework, the Jarzynski standard error, and the judged quantities moving
when their physics input changes (no criterion of the report holds by algebra)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analogsim.inference.observers import jarzynski
from analogsim.validation.framework import (ClaimResult, Criterion, at_least, at_most, bootstrap_slope, consistent,
                                            identity, verdict_table, within)


# ----------------------------------------------------------------------------- criteria and verdicts
def test_one_sided_bound_is_judged_one_sided_with_margin_in_se():
    # Eq. 16's '≳' with Gamma 26 % below the bound: does not hold (the old two-sided band passed it)
    c = at_least("Gamma", 0.743, 0.053, 1.0, kind="paper", quote="E ≳ 2NDkT")
    assert c.decided and not c.passed and c.margin == pytest.approx((0.743 - 1) / 0.053)
    assert at_least("Gamma", 1.3, 0.05, 1.0, kind="paper", quote="q").passed     # above the bound: holds
    u = at_least("Gamma", 0.98, 0.05, 1.0, kind="paper", quote="q", decides="--full")
    assert not u.decided and u.status == "undecided at this size"                 # |margin| < 1 SE


def test_paper_criterion_needs_its_quote_and_every_criterion_an_uncertainty():
    with pytest.raises(ValueError, match="quote"):
        at_least("x", 1.0, 0.1, 0.0, kind="paper")
    with pytest.raises(ValueError, match="uncertainty"):
        at_most("x", 1.0, 0.0, 2.0)
    c = at_most("x", 1.0, 0.0, 2.0, exact="deterministic arithmetic")
    assert c.passed and c.margin == math.inf


@settings(deadline=None, max_examples=50)
@given(x=st.floats(-5, 5), se=st.floats(0.01, 2), tol=st.floats(0, 3))
def test_within_margin_is_distance_to_the_tolerance_edge(x, se, tol):
    c = within("x", x, se, 0.0, tol)
    assert c.margin == pytest.approx((tol - abs(x)) / se)
    assert c.decided == (abs(c.margin) >= 1) and c.passed == (c.margin >= 1)


def _claim(*crit, **kw):
    return ClaimResult("x", "x", "x", list(crit), **kw)


def test_verdict_words():
    ok = at_most("c", 0.0, 0.1, 1.0)
    bad = at_most("c", 2.0, 0.1, 1.0)
    p_ok = at_least("p", 2.0, 0.1, 1.0, kind="paper", quote="q")
    p_bad = at_least("p", 0.0, 0.1, 1.0, kind="paper", quote="q")
    assert _claim(ok, p_ok).verdict == "pass"
    assert _claim(ok, p_ok, limit="r -> 0").verdict == "holds as a limit"
    assert _claim(ok, p_ok, p_bad).verdict == "qualified"
    assert _claim(ok, p_bad, limit="harmonic").verdict == "qualified"
    assert _claim(ok, p_bad).verdict == "does not hold"
    assert _claim(bad, p_ok).verdict == "fail"
    assert _claim(identity("count = count", 0.0, "= 0")).verdict == "not testable here"
    assert _claim(ok, not_testable="needs a double-well memory").verdict == "not testable here"
    und = at_least("p", 0.95, 0.1, 1.0, kind="paper", quote="q")
    assert _claim(ok, p_ok, und).verdict == "pass" and len(_claim(ok, p_ok, und).undecided) == 1
    table = verdict_table([_claim(ok, p_bad, limit="harmonic")])
    assert table.startswith("| claim | verdict |") and "**qualified**" in table


def test_awaiting_measurement_claim_is_not_testable_until_it_measures(tmp_path):
    from analogsim.validation import framework as fw

    class Mod:  # a claim module that has not declared MEASURED
        pass

    res = _claim(at_most("count", 0.0, 0.0, 1e-12, exact="a count"))
    fw._apply_awaiting("dynamic_inference", Mod, res)
    assert res.verdict == "not testable here" and all(c.kind == "identity" for c in res.criteria)
    Mod.MEASURED = True
    res2 = _claim(at_most("measured erasure work", 0.5, 0.1, 1.0))
    fw._apply_awaiting("dynamic_inference", Mod, res2)
    assert res2.verdict == "pass"


def test_bootstrap_slope_se_matches_the_spread_over_independent_replicates():
    x = np.log([4.0, 8.0, 16.0, 32.0])
    y_se = np.array([0.05, 0.05, 0.08, 0.1])
    rng = np.random.default_rng(1)
    slopes, ses = [], []
    for _ in range(200):
        y = -x + rng.standard_normal(4) * y_se
        s, se = bootstrap_slope(x, y, y_se, n_boot=200, seed=int(rng.integers(1 << 30)))
        slopes.append(s)
        ses.append(se)
    # the bootstrap SE estimates the spread of the fitted slope over independent data sets (within 15 %)
    assert np.mean(ses) == pytest.approx(np.std(slopes, ddof=1), rel=0.15)


# ----------------------------------------------------------------------------- Jarzynski standard error
def test_jarzynski_se_equals_the_gaussian_work_answer_and_the_spread_over_seeds():
    """Gaussian work W ~ N(m, s^2), kT = 1: var e^{-W} = e^{-2m+2s^2} - e^{-2m+s^2} exactly, so the SE of the mean
    of n samples is known; and the spread of the estimate over independent seeds is a second, independent
    estimate. A factor 3 (or 1/3) in the SE is far outside either."""
    m, s, n = 0.5, 1.0, 2000
    exact_se = math.sqrt((math.exp(-2 * m + 2 * s * s) - math.exp(-2 * m + s * s)) / n)
    rng = np.random.default_rng(0)
    est = [jarzynski(rng.normal(m, s, n), 1.0) for _ in range(300)]
    values = np.array([e.value for e in est])
    ses = np.array([e.se for e in est])
    # the mean reported SE: within 5 % of the exact answer (its own scatter over 300 seeds is ~1 %)
    assert np.mean(ses) == pytest.approx(exact_se, rel=0.05)
    # the spread over seeds: its relative SE is 1/sqrt(2 * 299) ~ 4 %, so 15 % is ~4 of those
    assert np.std(values, ddof=1) == pytest.approx(np.mean(ses), rel=0.15)
    # and kT enters as W/kT: the same works at kT = 2 are the Gaussian case with m/2, s/2
    e2 = jarzynski(np.full(3, 1.0), 2.0)
    assert e2.value == pytest.approx(math.exp(-0.5)) and e2.se == pytest.approx(0.0, abs=1e-15)


def test_jarzynski_ess_floor_makes_the_equality_undecided():
    from analogsim.validation.quasistatic import ESS_FLOOR, judge_jarzynski

    good = judge_jarzynski({"tau": 32.0, "kT": 0.5, "jz": 1.01, "jz_se": 0.02, "ess": 0.6 * 4000, "n": 4000})
    low = judge_jarzynski({"tau": 8.0, "kT": 0.5, "jz": 1.01, "jz_se": 0.02, "ess": 0.5 * ESS_FLOOR * 4000,
                           "n": 4000})
    assert good.decided and good.passed
    assert not low.decided and "ESS" in low.decides


def test_criterion_round_trips_through_report_json(tmp_path):
    import json
    from dataclasses import asdict

    c = at_least("Gamma", 0.7, 0.05, 1.0, kind="paper", quote="≳", note="n")
    back = Criterion(**json.loads(json.dumps(asdict(c))))
    assert back == c


def test_resume_keeps_finished_claims_that_come_after_the_one_that_runs(tmp_path):
    """A resumed run that re-runs an early claim still reports the later claims an earlier run finished."""
    import json

    from analogsim.validation.framework import ClaimResult, consistent, run_validation, write_report

    iem = ClaimResult("iem", "The IEM objective", "x is 1", [consistent("x", 1.01, 0.01, 1.0)])
    write_report([iem], tmp_path, "quick", 7)  # claim 7 finished; claim 6 (fast, exact arithmetic) has not
    res = run_validation("quick", tmp_path, claims=["digital_vs_analog", "iem"], resume=True, seed=7)
    assert [(r.name, r.resumed) for r in res] == [("digital_vs_analog", False), ("iem", True)]
    names = [c["name"] for c in json.loads((tmp_path / "report.json").read_text())["claims"]]
    assert names == ["digital_vs_analog", "iem"]
    assert "IEM" in (tmp_path / "verdicts.md").read_text()
