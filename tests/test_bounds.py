"""Thermodynamic bounds (Eq. 5, 7, 16, 17, 19, 20), Table I and the bounds command."""

import json
import math

import numpy as np
import pytest

from analogsim import Network
from analogsim import bounds as B
from analogsim.bounds.table_i import format_table1, table1

KB = 1.380649e-23  # J/K, exact (SI 2019)
LN2 = math.log(2)


# ------------------------------------------------------------------------------------ units
def test_units_natural_joules_bits():
    assert B.kT_joules(300) == pytest.approx(KB * 300, rel=1e-15)
    e = B.Energy(3.0, T=250.0)
    assert e.joules == pytest.approx(3.0 * KB * 250.0, rel=1e-15)
    assert e.bits == pytest.approx(3.0 / LN2, rel=1e-15)
    assert e.at(500.0).joules == pytest.approx(2 * e.joules, rel=1e-15)
    assert B.Energy.from_joules(e.joules, 250.0).nat == pytest.approx(3.0, rel=1e-14)
    assert B.Energy.from_bits(5, 300).nat == pytest.approx(5 * LN2)
    assert B.landauer(1).nat == pytest.approx(LN2)
    assert B.landauer(16).joules == pytest.approx(16 * LN2 * KB * 300)  # the text's ~5e-20 J/FLOP
    assert B.negentropy_bits(2 * LN2 * 0.3, kT=0.3) == pytest.approx(2.0)  # Eq. 20
    assert set(e.as_dict()) == {"kT", "joules", "bits", "T_K"}


# ------------------------------------------------------------------------------------ Eq. 5
def test_eq5_hand_values():
    nu, nu_a = 1000.0, 10.0
    p = 0.01
    exact = -nu * (p * math.log(p) + (1 - p) * math.log(1 - p))
    small = nu_a * (1 + math.log(nu / nu_a))
    assert B.inference_dynamic(nu, nu_a).nat == pytest.approx(exact, rel=1e-13)
    assert B.inference_dynamic(nu, nu_a, form="small_p").nat == pytest.approx(small, rel=1e-13)
    assert B.inference_dynamic(nu, p=p).nat == pytest.approx(exact, rel=1e-13)


def test_eq5_landauer_limit_at_half():
    for nu in (1.0, 74.0, 1e6):
        assert B.inference_dynamic(nu, nu / 2).nat == pytest.approx(nu * LN2, rel=1e-14)
        assert B.inference_dynamic(nu, p=0.5).bits == pytest.approx(nu, rel=1e-14)
    assert B.binary_entropy(0.5) == pytest.approx(LN2, rel=1e-15)
    # p = 1/2 is the maximum of Eq. 5 over p
    assert all(B.binary_entropy(p) < LN2 for p in (0.1, 0.3, 0.49, 0.51, 0.9))


def test_eq5_small_p_matches_expansion():
    # exact = nu (p - p ln p - p^2/2 + O(p^3)); small-p = nu (p - p ln p): difference nu p^2/2 (1 + O(p))
    nu = 1e6
    for p in (1e-2, 1e-3, 1e-4):
        diff = B.inference_dynamic(nu, p=p, form="small_p").nat - B.inference_dynamic(nu, p=p).nat
        assert diff == pytest.approx(nu * p * p / 2, rel=p)  # next term is nu p^3/6: relative p/3
        rel = diff / B.inference_dynamic(nu, p=p).nat
        assert 0 < rel < p  # the relative error vanishes with p
    r = B.inference_dynamic_record(nu, 1e3)
    assert r["small_p_rel_error"] == pytest.approx(
        r["small_p"]["kT"] / r["exact"]["kT"] - 1.0)


def test_eq5_scaling_linear_in_nu_and_T():
    e1 = B.inference_dynamic(1e3, p=0.05, T=300)
    e2 = B.inference_dynamic(2e3, p=0.05, T=600)
    assert e2.nat == pytest.approx(2 * e1.nat)
    assert e2.joules == pytest.approx(4 * e1.joules)


# --------------------------------------------------------------------------- measured nu_a
def _digits():
    from sklearn.datasets import load_digits

    X = load_digits().data.astype(np.float64)
    return X / X.max()  # pixel values 0..16 -> [0, 1]


def test_measured_activity_matches_direct_count():
    X = _digits()
    net = Network.create([64, 32, 32, 10], activations="relu", seed=0)
    rec = B.measure_activity(net, X)
    # direct count, independent of the library's forward pass
    x, per_layer = X, []
    for W, b in zip(net.weights, net.biases):
        y = x @ W.T + b
        per_layer.append((y > 0).sum(axis=1))
        x = np.maximum(y, 0.0)
    counts = np.sum(per_layer, axis=0)
    assert rec.nu == 32 + 32 + 10
    assert rec.n_samples == X.shape[0] == 1797
    np.testing.assert_array_equal(rec.counts, counts)
    assert rec.nu_a == pytest.approx(counts.mean(), rel=1e-15)
    assert rec.p == pytest.approx(counts.mean() / 74, rel=1e-15)
    assert rec.nu_a_se == pytest.approx(counts.std(ddof=1) / math.sqrt(1797))
    for d, c, n in zip(rec.per_layer, per_layer, (32, 32, 10)):
        assert d["n"] == n and d["nu_a"] == pytest.approx(c.mean()) and d["p"] == pytest.approx(c.mean() / n)
    # batching does not change the count
    np.testing.assert_array_equal(B.measure_activity(net, X, batch_size=100).counts, counts)
    # the Eq. 5 bound at the measured activity
    assert rec.bound().nat == pytest.approx(B.inference_dynamic(74, counts.mean()).nat)
    assert rec.as_dict()["bound"]["p"] == pytest.approx(rec.p)


def test_measured_activity_counts_only_relu_layers():
    net = Network.create([5, 7, 3], activations=["tanh", "relu"], seed=1)
    X = np.random.default_rng(0).normal(size=(40, 5))
    rec = B.measure_activity(net, X)
    assert rec.nu == 3 and [d["layer"] for d in rec.per_layer] == [2]
    with pytest.raises(ValueError, match="no relu layer"):
        B.measure_activity(Network.create([5, 3], activations="tanh", seed=0), X)


# ------------------------------------------------------------------------------- Eq. 7
def test_quasistatic_bound_and_comparison_record():
    assert B.inference_quasistatic().nat == 0.0 and B.inference_quasistatic(4.0).joules == 0.0
    r = B.quasistatic_work_record(0.03, 0.005, kT=0.1, tau=64.0)
    assert r["bound"] == 0.0 and r["W_kT"] == pytest.approx(0.3) and r["z"] == pytest.approx(6.0)
    assert r["above_bound"] and not r["violates_bound"] and r["tau_W"] == pytest.approx(64 * 0.03)
    assert r["W_bits"] == pytest.approx(0.3 / LN2) and r["W_joules"] == pytest.approx(0.3 * KB * 300)
    r0 = B.quasistatic_work_record(0.004, 0.005, kT=0.1)
    assert not r0["above_bound"] and not r0["violates_bound"]
    # negative control: a significantly negative mean work contradicts the second law and is flagged
    assert B.quasistatic_work_record(-0.03, 0.005, kT=0.1)["violates_bound"]


# ------------------------------------------------------------------------------ Eq. 16
def test_training_bound_hand_value_and_linear_scaling():
    assert B.training_bound(1e6, 1e4).nat == pytest.approx(2e10)
    base = B.training_bound(1e3, 10, rho=1.0, T=300)
    assert B.training_bound(3e3, 10).nat == pytest.approx(3 * base.nat)  # linear in N
    assert B.training_bound(1e3, 70).nat == pytest.approx(7 * base.nat)  # linear in S
    assert B.training_bound(1e3, 10, rho=2.5).nat == pytest.approx(2.5 * base.nat)
    assert B.training_bound(1e3, 10, T=150).joules == pytest.approx(base.joules / 2)  # linear in T
    g = B.training_gamma(W=4.0, N=10, S=100, kT=1e-3, rho=1.0)
    assert g["bound"] == pytest.approx(2.0) and g["Gamma"] == pytest.approx(2.0)
    assert B.training_gamma(W=3.0, N=10, S=100, kT=1e-3, rho=1.5)["Gamma"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------ Eq. 17
def test_digital_training_flops_bits_energy():
    c = B.digital_training(1e9, 1e3)
    assert c.flops == pytest.approx(6e12) and c.bits == pytest.approx(16 * 6e12)
    assert c.energy.nat == pytest.approx(6 * 16 * LN2 * 1e12)  # 66.5 N_a D kT ("~10^2" in the paper)
    assert 50 < c.energy.nat / 1e12 < 100
    c2 = B.digital_training(1e9, 1e3, flops_per_param=2, bits_per_flop=8, T=600)
    assert c2.energy.nat == pytest.approx(2 * 8 * LN2 * 1e12)
    assert c2.energy.joules == pytest.approx(c2.energy.nat * KB * 600)
    assert B.digital_training(2e9, 1e3).energy.nat == pytest.approx(2 * c.energy.nat)
    assert B.digital_inference(65e9).flops == pytest.approx(130e9)


# ------------------------------------------------------------------------------ Eq. 19
def test_cooling_ratio_and_pump_work():
    r = B.cooling(2.0, 30.0, 300.0)
    assert r["ratio"] == pytest.approx(10.0)
    assert r["pump_work_J"] == pytest.approx(18.0) and r["total_J"] == pytest.approx(20.0)
    # the entropy balance of Eq. 18 holds with equality at the minimum pump work
    assert (r["pump_work_J"] + 2.0) / 300.0 - 2.0 / 30.0 == pytest.approx(0.0, abs=1e-15)
    # a bound proportional to kT* costs the same as running at T: cooling does not help
    for Tc in (4.0, 77.0, 300.0):
        e_cold = B.training_bound(1e3, 1, T=Tc).joules
        assert B.cooling(e_cold, Tc, 300.0)["total_J"] == pytest.approx(B.training_bound(1e3, 1, T=300).joules)
    assert B.cooling(1.0, 300.0, 300.0)["pump_work_J"] == 0.0


# ------------------------------------------------------------------------------ brain
def test_brain_estimates_match_text():
    r = B.brain_estimates()
    assert r["lower_bits_per_s"] == pytest.approx(1e12)
    assert r["upper_bits_per_s"] == pytest.approx(10 / (KB * 300 * LN2))
    assert 3e21 / 1.25 < r["upper_bits_per_s"] < 3e21 * 1.25  # the text's "~3e21"


# ------------------------------------------------------------------------------ Table I
def _rows(**kw):
    return {(r["function"], r["column"]): r for r in table1(**kw)["rows"]}


def test_table1_analog_training_cell_reproduced():
    r = _rows()[("Training (DeepSeek V3)", "Analog bound")]
    expected = 2 * 671e9 * KB * 300  # 2 N kT per token
    assert r["computed"] == pytest.approx(expected, rel=1e-12)
    assert r["computed"] == pytest.approx(5.56e-9, rel=1e-3)
    assert r["paper"] == 5e-9 and r["reproduced"] is True
    assert r["ratio"] == pytest.approx(expected / 5e-9)
    assert r["assumptions"]["N"] == 671e9 and r["assumptions"]["T_K"] == 300.0


def test_table1_states_what_reproduces_and_the_factors():
    t = table1()
    rows = _rows()
    for r in t["rows"]:
        assert {"function", "column", "paper", "computed", "ratio", "reproduced", "assumptions"} <= set(r)
    # Landauer cells: the text's formulas give ~6e-9 and ~1e-8, not 5e-8
    inf = rows[("Inference (Llama 65B)", "Landauer limit")]
    assert inf["computed"] == pytest.approx(2 * 65e9 * 16 * LN2 * KB * 300, rel=1e-12)
    assert inf["reproduced"] is False and inf["ratio"] == pytest.approx(0.1194, rel=1e-3)
    tr = rows[("Training (DeepSeek V3)", "Landauer limit")]
    assert tr["computed"] == pytest.approx(6 * 37e9 * 16 * LN2 * KB * 300, rel=1e-12)
    assert tr["reproduced"] is False and tr["ratio"] == pytest.approx(0.204, rel=1e-2)
    # current cells are quoted external measurements
    for f in ("Inference (Llama 65B)", "Training (DeepSeek V3)"):
        c = rows[(f, "Current")]
        assert c["computed"] is None and c["ratio"] is None and c["reproduced"] == "quoted"
        assert "ref. 3" in c["source"]
    # quasi-static: exactly 0
    q = rows[("Inference (Llama 65B)", "Analog bound (quasi-static)")]
    assert q["computed"] == 0.0 and q["reproduced"] is True
    # dynamic: Eq. 5 at p = 1/2 on n_layers x d_ff neurons, a factor ~2 below the printed 1e-14
    d = rows[("Inference (Llama 65B)", "Analog bound (dynamic)")]
    assert d["computed"] == pytest.approx(80 * 22016 * LN2 * KB * 300, rel=1e-12)
    assert d["reproduced"] is False and d["ratio"] == pytest.approx(0.506, rel=1e-2)
    assert [r["reproduced"] for r in t["rows"]] == ["quoted", False, False, True, "quoted", False, True]


def test_table1_inputs_are_not_tuned():
    # computed cells follow the assumptions; the printed values do not move
    hot = _rows(T=600.0)
    cold = _rows()
    key = ("Training (DeepSeek V3)", "Analog bound")
    assert hot[key]["computed"] == pytest.approx(2 * cold[key]["computed"])
    assert hot[key]["paper"] == cold[key]["paper"] and hot[key]["reproduced"] is False
    key = ("Inference (Llama 65B)", "Landauer limit")
    assert _rows(bits_per_flop=32)[key]["computed"] == pytest.approx(2 * cold[key]["computed"])


def test_table1_formatting():
    t = table1()
    md = format_table1(t, "markdown")
    assert md.splitlines()[1].startswith("|---") and md.count("\n| ") >= 7
    txt = format_table1(t, "text")
    assert "5.56e-09" in txt and "quoted" in txt and "ratio = computed / paper" in txt


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, arg, value", [
    (lambda: B.training_bound(-1, 10), "N", "-1"),
    (lambda: B.training_bound(10, -5), "S", "-5"),
    (lambda: B.digital_training(-3, 1), "N_a", "-3"),
    (lambda: B.landauer(-2), "bits", "-2"),
    (lambda: B.inference_dynamic(-10, 1), "nu", "-10"),
    (lambda: B.inference_dynamic(10, -1), "nu_a", "-1"),
    (lambda: B.inference_dynamic(10, 12), "nu_a", "12"),
    (lambda: B.inference_dynamic(10, p=0.0), "p", "0.0"),
    (lambda: B.inference_dynamic(10, p=1.0), "p", "1.0"),
    (lambda: B.inference_dynamic(10, p=1.5), "p", "1.5"),
    (lambda: B.binary_entropy(-0.1), "p", "-0.1"),
    (lambda: B.kT_joules(0), "T", "0"),
    (lambda: B.training_bound(1, 1, T=-5), "T", "-5"),
    (lambda: B.Energy(1.0, T=0.0), "T", "0.0"),
    (lambda: B.cooling(1.0, 0.0), "T_cold", "0.0"),
    (lambda: B.cooling(1.0, 400.0, 300.0), "T_cold", "400"),
    (lambda: B.cooling(-1.0, 10.0), "E_cold", "-1"),
    (lambda: B.quasistatic_work_record(0.1, -0.1), "se", "-0.1"),
    (lambda: B.training_gamma(1.0, 10, 10, kT=0.0), "kT", "0.0"),
    (lambda: table1(p_dynamic=1.0), "p_dynamic", "1.0"),
])
def test_bad_input_names_argument_and_value(call, arg, value):
    with pytest.raises(ValueError) as exc:
        call()
    msg = str(exc.value)
    assert msg.startswith(arg + " ") and value in msg


def test_eq5_needs_exactly_one_of_nu_a_and_p():
    with pytest.raises(TypeError, match="exactly one"):
        B.inference_dynamic(10)
    with pytest.raises(TypeError, match="exactly one"):
        B.inference_dynamic(10, 2, p=0.2)
    with pytest.raises(ValueError, match="form"):
        B.inference_dynamic(10, 2, form="approx")


# ------------------------------------------------------------------------------ CLI
def _cli(args, capsys):
    from analogsim.cli import main

    rc = main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_table1_json(capsys):
    rc, out, _ = _cli(["bounds", "table1", "--json"], capsys)
    assert rc == 0
    d = json.loads(out)
    assert len(d["rows"]) == 7
    for r in d["rows"]:
        assert {"function", "column", "paper", "computed", "ratio", "reproduced", "assumptions"} <= set(r)
    analog = [r for r in d["rows"] if r["column"] == "Analog bound"][0]
    assert analog["reproduced"] is True and analog["computed"] == pytest.approx(5.558e-9, rel=1e-3)


def test_cli_table1_markdown_and_text(capsys):
    rc, out, _ = _cli(["bounds", "table1", "--markdown"], capsys)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("| # | Function") and lines[1].startswith("|---")
    assert sum(1 for l in lines if l.startswith("| ")) == 8  # header + 7 rows
    rc, out, _ = _cli(["bounds", "table1"], capsys)
    assert rc == 0 and "Reproduced" in out and "|" not in out.splitlines()[0]


def test_cli_single_bounds(capsys, tmp_path):
    rc, out, _ = _cli(["bounds", "train", "--N", "1e6", "--S", "1e4", "--T", "300", "--json"], capsys)
    assert rc == 0 and json.loads(out)["energy"]["kT"] == pytest.approx(2e10)
    rc, out, _ = _cli(["bounds", "train", "--N", "10", "--S", "100", "--W", "4", "--kT", "0.001", "--json"], capsys)
    assert json.loads(out)["gamma"]["Gamma"] == pytest.approx(2.0)
    rc, out, _ = _cli(["bounds", "inference", "--nu", "100", "--nu-a", "50", "--json"], capsys)
    assert rc == 0 and json.loads(out)["exact"]["bits"] == pytest.approx(100.0)
    rc, out, _ = _cli(["bounds", "cooling", "--E", "1", "--T-cold", "30", "--json"], capsys)
    assert json.loads(out)["total_J"] == pytest.approx(10.0)
    rc, out, _ = _cli(["bounds", "brain", "--json"], capsys)
    assert json.loads(out)["lower_bits_per_s"] == pytest.approx(1e12)
    rc, out, _ = _cli(["bounds", "digital", "--N-a", "1e9", "--D", "1", "--json"], capsys)
    assert json.loads(out)["flops"] == pytest.approx(6e9)
    rc, out, _ = _cli(["bounds", "quasistatic", "--work", "0.02", "--se", "0.004", "--kT", "0.1", "--json"], capsys)
    assert json.loads(out)["above_bound"] is True
    rc, out, _ = _cli(["bounds", "activity", "--json"], capsys)
    assert rc == 0 and json.loads(out)["nu"] == 74
    rc, out, _ = _cli(["bounds", "plot", "--out", str(tmp_path / "fig"), "--json"], capsys)
    assert rc == 0 and sorted(json.loads(out)["paths"]) == [str(tmp_path / "fig.png"), str(tmp_path / "fig.svg")]
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_bad_input_exit_2(capsys):
    rc, out, err = _cli(["bounds", "inference", "--nu", "10", "--p", "1.5"], capsys)
    assert rc == 2 and "p must be in the open interval (0, 1), got 1.5" in err and out == ""
    rc, _, err = _cli(["bounds", "train", "--N", "-1", "--S", "3"], capsys)
    assert rc == 2 and "N must be > 0" in err
    rc, _, err = _cli(["bounds", "table1", "--T", "0"], capsys)
    assert rc == 2 and "T must be > 0" in err
    rc, _, _ = _cli(["bounds"], capsys)
    assert rc == 2


# ------------------------------------------------------------------------------ figure
def test_training_energy_figure(tmp_path):
    from analogsim.bounds.figures import plot_training_energy, training_energy_curves

    c = training_energy_curves([1e2, 1e4])
    np.testing.assert_allclose(c["analog"], [2e2, 2e4])
    np.testing.assert_allclose(c["digital"], 6 * 16 * LN2 * np.array([1e2, 1e4]))
    rng = np.random.default_rng(0)
    fig, paths = plot_training_energy(
        iem={"gauss": rng.normal(size=500), "hist": {"counts": [5, 5, 5, 5], "N": 20}},
        measured={"N": [97, 400], "W": [300.0, 1200.0], "se": [20.0, 50.0]}, out=tmp_path / "b.svg")
    assert [p.name for p in paths] == ["b.png", "b.svg"]
    assert b"<svg" in (tmp_path / "b.svg").read_bytes()[:400]
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    # the IEM point of a uniform 4-bin histogram sits at kT ln2 * 2 bit
    ys = [l.get_ydata()[0] for l in ax.lines if l.get_marker() == "D"]
    assert pytest.approx(2 * LN2) in ys
    with pytest.raises(ValueError, match="formats"):
        plot_training_energy(out=tmp_path / "x", formats=("pdf",))
    with pytest.raises(ValueError, match="measured"):
        plot_training_energy(measured={"N": [1]})


def test_docstring_examples_run():
    import doctest

    import analogsim.bounds
    import analogsim.bounds.figures
    import analogsim.bounds.table_i

    for mod in (analogsim.bounds, analogsim.bounds.table_i, analogsim.bounds.figures):
        res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert res.failed == 0, mod.__name__


def test_docs_examples_run():
    """The >>> examples of docs/bounds.md (code fences removed) run and give the printed values."""
    import doctest
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "bounds.md"
    text = "\n".join("" if line.startswith("```") else line for line in path.read_text().splitlines())
    test = doctest.DocTestParser().get_doctest(text, {}, "docs/bounds.md", str(path), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
