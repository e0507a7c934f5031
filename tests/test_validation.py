"""The validation report: criteria pass on the simulator and fail on deliberately broken inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analogsim.equilibrium import sample_equilibrium
from analogsim.validation import equilibrium as v_eq
from analogsim.validation import stress as v_stress
from analogsim.validation import dynamic_inference as v_dyn
from analogsim.validation import digital_vs_analog as v_dig
from analogsim.validation.framework import ClaimResult, Criterion, run_validation


def _wrong_sampler(net, x0, kT, n_replicas=None, seed=None):
    """Negative control: residual noise scaled by kT/kappa instead of sqrt(kT/kappa)."""
    s = sample_equilibrium(net, x0, kT, n_replicas=n_replicas, seed=seed)
    xs = [s.xs[0]]
    deltas = []
    for l in range(1, net.depth + 1):
        d = s.deltas[l - 1] * np.sqrt(kT / net.kappa[l - 1])  # now kT/kappa * z
        y = xs[-1] @ net.weights[l - 1].T + net.biases[l - 1]
        xs.append(net.activations[l - 1].f(y) + d)
        deltas.append(d)
    return type(s)(xs, deltas, kT)


def test_equilibrium_criteria_pass_on_exact_sampler():
    m = v_eq.measure_sampler(4000, seed=3)
    crit = v_eq.judge_sampler(m, 4000)
    assert all(c.passed for c in crit), [c.describe() for c in crit]


def test_equilibrium_criteria_fail_on_wrong_noise_scale():
    m = v_eq.measure_sampler(4000, seed=3, sampler=_wrong_sampler)
    crit = v_eq.judge_sampler(m, 4000)
    assert not crit[0].passed  # equipartition is off by orders of SE


def test_stress_criteria_pass_and_wrong_sign_fails():
    cases = [v_stress.stress_case((d, a, 11 + d, 1)) for d in (1, 2, 3) for a in ("tanh", "softplus", "relu")]
    assert all(c.passed for c in v_stress.judge(cases))
    broken = [v_stress.stress_case((d, a, 11 + d, -1)) for d in (1, 2, 3) for a in ("tanh", "softplus", "relu")]
    crit = v_stress.judge(broken)
    assert not crit[0].passed  # the slope of a wrong-sign stress is ~0, not 1


def test_dynamic_inference_count_criterion_fails_on_wrong_threshold():
    from analogsim import Network, bounds

    net = Network.create([8, 16, 16, 4], activations=["relu", "relu", "identity"], seed=2, bias_scale=0.3)
    X = np.random.default_rng(0).standard_normal((300, 8))
    rec = bounds.measure_activity(net, X)
    assert all(c.passed for c in v_dyn.judge(rec, v_dyn.direct_count(net, X), rec.nu))
    bad = v_dyn.judge(rec, v_dyn.direct_count(net, X, threshold=-0.1), rec.nu)
    assert not bad[0].passed


def test_table1_criteria_report_unreproduced_cells_as_paper_kind():
    from analogsim.table1 import table1

    crit = v_dig.judge(table1()["rows"])
    assert crit[0].passed and crit[0].kind == "paper"          # analog training cell reproduces
    assert not all(c.passed for c in crit[1:])                  # the Landauer cells do not
    res = ClaimResult("x", "x", "x", crit + [Criterion("check", 0.0, 0.0, "x <= 1", True)])
    assert res.verdict == "qualified"
    res_bad = ClaimResult("x", "x", "x", [Criterion("check", 2.0, 0.0, "x <= 1", False)])
    assert res_bad.verdict == "fail"


def test_cooling_criterion_fails_if_heat_pumping_is_forgotten(monkeypatch):
    from analogsim import bounds

    c, _ = v_dig.judge_cooling()
    assert c.passed
    real = bounds.cooling

    def no_pump(E, Tc, T=300.0):
        r = real(E, Tc, T)
        r["total_J"] = E  # broken: the heat is not pumped out
        return r

    monkeypatch.setattr(bounds, "cooling", no_pump)
    c_bad, _ = v_dig.judge_cooling()
    assert not c_bad.passed


def test_report_written_with_error_claim_isolated(tmp_path, monkeypatch):
    def boom(ctx):
        raise RuntimeError("deliberate")

    monkeypatch.setattr(v_stress, "run", boom)
    res = run_validation("quick", tmp_path, claims=["digital_vs_analog", "stress"])
    assert [r.verdict for r in res] == ["qualified", "error"]
    rep = json.loads((tmp_path / "report.json").read_text())
    assert [c["name"] for c in rep["claims"]] == ["digital_vs_analog", "stress"]
    text = (tmp_path / "report.md").read_text()
    assert "deliberate" in text and "figures/table1_and_cooling.png" in text
    assert (tmp_path / "figures" / "table1_and_cooling.png").stat().st_size > 1000


def test_validate_cli_json(tmp_path, capsys):
    from analogsim.cli import main

    rc = main(["validate", "--claims", "digital_vs_analog", "--workers", "1", "--out", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert set(out["claims"][0]) >= {"name", "verdict", "criterion", "figures"}


def test_validate_rejects_unknown_claim(tmp_path):
    with pytest.raises(ValueError, match="unknown claim"):
        run_validation("quick", tmp_path, claims=["nope"])


def test_quasistatic_length_criteria_and_wrong_friction_control():
    from analogsim.protocols import thermodynamic_length
    from analogsim.validation import quasistatic as v_qs

    net = v_qs._net()
    taus = np.array([64.0, 128.0, 256.0])
    W = np.array([v_qs.work_point((t, 0.0, "em", 0.02, 1, 0))["W"] for t in taus])
    L2 = float(thermodynamic_length(net, v_qs.A, v_qs.B)[0])
    assert all(c.passed for c in v_qs.judge_length(taus, W, L2))
    L2_wrong = float(thermodynamic_length(net, v_qs.A, v_qs.B, gamma=2.0)[0])  # wrong friction
    assert not v_qs.judge_length(taus, W, L2_wrong)[1].passed


def test_em_bias_control_is_seen():
    from analogsim.validation.langevin_bias import equipartition_at

    em = equipartition_at(("em", 0.7, 1500, 128, 1))
    mala = equipartition_at(("mala", 0.7, 1500, 128, 1))
    assert abs(em["ratio"] - 1) > 0.03 > abs(mala["ratio"] - 1) - 4 * mala["se"]


def test_iem_energy_ratio_criterion_negative_control():
    from analogsim.validation import iem as v_iem

    plain = [{"W": w, "accuracy": 0.9, "train_loss": 0.2} for w in (10.0, 10.5, 9.5)]
    same = [{"W": w, "accuracy": 0.9, "train_loss": 0.2} for w in (10.2, 10.1, 9.9)]
    cheaper = [{"W": w, "accuracy": 0.9, "train_loss": 0.2} for w in (5.0, 5.5, 5.2)]
    assert not v_iem.judge(plain, same)[0][0].passed       # no 40 % reduction: the paper's claim fails
    assert v_iem.judge(plain, cheaper)[0][0].passed        # a genuine 48 % reduction passes


def test_training_criteria_negative_controls():
    from analogsim.validation import training as v_tr

    pts = [{"N": n, "W_over_kT": 2 * n * 1000.0, "Gamma": 1.0, "Gamma_se": 0.02} for n in (3, 5, 9, 17)]
    sp = [{"S": s, "W_over_kT": 2 * 5 * s} for s in (1e4, 3e4, 1e5)]
    assert all(c.passed for c in v_tr.judge_linear(pts, sp)[0])
    # broken books: W grows like sqrt(N) (a wrong per-parameter normalisation) and Gamma is off by 2
    bad = [{"N": n, "W_over_kT": 2 * np.sqrt(n) * 1000.0, "Gamma": 2.0, "Gamma_se": 0.02} for n in (3, 5, 9, 17)]
    crit = v_tr.judge_linear(bad, sp)[0]
    assert not crit[0].passed and not crit[1].passed and crit[2].passed
