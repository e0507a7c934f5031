"""Stress at the clamped minimum vs backprop (docs/theory/stress-backprop.md), the check-stress command, the README example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analogsim import Network
from analogsim.model import crosscheck as cc

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_report():
    """The default check: depths 1-4 x tanh, relu, sigmoid, softplus, 13 ratios 1e-6..1 (torch reference)."""
    pytest.importorskip("torch")
    return cc.stress_backprop_check()


@pytest.mark.torch
def test_default_check_shows_a_limit_with_slope_one(default_report):
    rep = default_report
    assert rep["reference"] == cc.REF_TORCH
    assert len(rep["cases"]) == 16 and rep["passed"]
    for c in rep["cases"]:
        err = np.asarray(c["rel_error"])
        if c["depth"] == 1:  # no hidden layer: the stress is the backprop gradient, identically
            assert c["exact"] and err.max() < 1e-12
            continue
        assert abs(c["slope"] - 1) <= 0.02, c  # error = C r over r in [1e-6, 1e-3]
        assert err[-1] > 0.3, c  # ... and large at r = 1: a limit, not an identity
        assert c["recursion_residual"] < 1e-12, c  # Eq. 10 at the Newton minimum
        assert c["converged"] and c["grad_norm"] < 1e-12
        assert 0.1 < c["constant"] < 100


@pytest.mark.torch
def test_relu_kinks_are_reported(default_report):
    relu = [c for c in default_report["cases"] if c["activation"] == "relu" and c["depth"] >= 3]
    assert any(c["n_kinks"] > 0 for c in relu)
    assert all(c["recursion_residual"] < 1e-12 for c in relu)


def _case():
    return cc.make_case_data(3, "tanh", batch=8)


@pytest.mark.torch
def test_negative_control_wrong_sign_stress_fails():
    pytest.importorskip("torch")
    net, x0, t = _case()

    def wrong_sign(n, x, tt):
        g, m = cc.stress_gradient(n, x, tt)
        return -g, m

    case = cc.stress_backprop_case(net, x0, t, ratios=[1e-6, 1e-5, 1e-4, 1e-3, 1.0], stress_fn=wrong_sign)
    v = cc.assess_case(case)
    assert not v["slope_ok"] and not v["passed"]
    assert np.all(np.asarray(case["rel_error"][:4]) > 1.9)  # |-g - g| / |g| -> 2


def test_negative_control_an_identity_fails_the_limit_criterion():
    # a "stress" equal to backprop at every r would have no slope and no error at r = 1
    net, x0, t = _case()

    def backprop_itself(n, x, tt):
        from analogsim.model.equilibrium import backprop_gradient

        g = backprop_gradient(n, x, tt, kappa_out=float(n.kappa[-1][0])).sum(axis=0)
        return g * (1 + 1e-9), None

    case = cc.stress_backprop_case(net, x0, t, ratios=[1e-6, 1e-5, 1e-4, 1e-3, 1.0], stress_fn=backprop_itself,
                                   reference="numpy")
    v = cc.assess_case(case)
    assert v["limit_ok"] is False and not v["passed"]


def test_numpy_reference_without_torch(monkeypatch):
    net, x0, t = _case()
    ratios = [1e-6, 1e-4, 1e-3, 1.0]
    with_torch = cc.stress_backprop_case(net, x0, t, ratios=ratios) if cc.torch_available() else None
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    assert not cc.torch_available()
    case = cc.stress_backprop_case(net, x0, t, ratios=ratios)
    assert case["reference"] == cc.REF_NUMPY_NO_TORCH == "numpy backprop (torch not installed)"
    assert abs(case["slope"] - 1) < 0.02
    if with_torch is not None:  # two independent references, same errors
        np.testing.assert_allclose(case["rel_error"], with_torch["rel_error"], rtol=1e-8)
    with pytest.raises(ImportError, match=r"analogsim-pnn\[torch\]"):
        cc.stress_backprop_case(net, x0, t, ratios=ratios, reference="torch")


@pytest.mark.torch
def test_torch_backprop_matches_numpy_backprop():
    pytest.importorskip("torch")
    from analogsim.model.equilibrium import backprop_gradient

    for act in ("tanh", "relu", "sigmoid", "softplus"):
        net, x0, t = cc.make_case_data(3, act, output_activation=None)
        g_t = cc.torch_backprop_gradient(net, x0, t, kappa_out=0.7)
        g_n = backprop_gradient(net, x0, t, kappa_out=0.7).sum(axis=0)
        assert np.linalg.norm(g_t - g_n) <= 1e-13 * np.linalg.norm(g_n)


def test_fit_slope_on_exact_power_law():
    r = np.logspace(-6, 0, 13)
    slope, c = cc.fit_slope(r, 3.0 * r, (1e-6, 1e-3))
    assert abs(slope - 1) < 1e-12 and abs(c - 3) < 1e-12
    assert all(np.isnan(cc.fit_slope([1.0], [0.5])))


def test_rejects_nonpositive_ratios():
    net, x0, t = _case()
    with pytest.raises(ValueError, match=r"ratios must be positive stiffness ratios"):
        cc.stress_backprop_case(net, x0, t, ratios=[0.0, 1e-3])


def test_rejects_bad_fit_range():
    net, x0, t = _case()
    with pytest.raises(ValueError, match=r"fit_range must be \(low, high\) with 0 < low < high"):
        cc.stress_backprop_case(net, x0, t, ratios=[1e-3], fit_range=(1e-3, 1e-6))


def test_rejects_unknown_reference():
    net, x0, t = _case()
    with pytest.raises(ValueError, match=r"reference must be 'auto', 'torch' or 'numpy', got 'jax'"):
        cc.stress_backprop_case(net, x0, t, ratios=[1e-3], reference="jax")


def test_rejects_unknown_activation_in_check():
    with pytest.raises(ValueError, match=r"activations\[1\]: unknown activation 'gelu'"):
        cc.stress_backprop_check(depths=[2], activations=["tanh", "gelu"])


# --------------------------------------------------------------------------- command line
def _cli(args, capsys):
    from analogsim.cli import main

    code = main(["check-stress"] + args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_json(capsys):
    code, out, _ = _cli(["--depths", "1,2", "--activations", "tanh,relu", "--ratios", "1e-6,1e-5,1e-4,1e-3,1",
                         "--json"], capsys)
    assert code == 0
    rep = json.loads(out)
    assert set(rep) >= {"cases", "reference", "passed"}
    assert len(rep["cases"]) == 4
    for c in rep["cases"]:
        assert set(c) >= {"depth", "activation", "ratios", "rel_error", "slope", "constant", "recursion_residual"}
    d1 = [c for c in rep["cases"] if c["depth"] == 1][0]
    assert d1["slope"] is None  # JSON null, not NaN
    assert all(abs(c["slope"] - 1) < 0.02 for c in rep["cases"] if c["depth"] == 2)


def test_cli_table_and_plot(tmp_path, capsys):
    png = tmp_path / "stress.png"
    code, out, _ = _cli(["--depths", "1,2", "--activations", "sigmoid", "--ratios", "1e-6,1e-4,1e-3,1",
                         "--plot", str(png)], capsys)
    assert code == 0
    assert "reference:" in out and "exact: no hidden layer" in out and "ok (limit r -> 0)" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_without_torch_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    code, out, _ = _cli(["--depths", "2", "--activations", "tanh", "--ratios", "1e-6,1e-4,1e-3,1"], capsys)
    assert code == 0 and "reference: numpy backprop (torch not installed)" in out


def test_cli_bad_activation_is_a_usage_error(capsys):
    code, _, err = _cli(["--activations", "swish"], capsys)
    assert code == 2 and "unknown activation 'swish'" in err


def test_cli_bad_fit_range_is_a_usage_error(capsys):
    code, _, err = _cli(["--fit-range", "1e-6"], capsys)
    assert code == 2 and "--fit-range must be two numbers" in err


# --------------------------------------------------------------------------- the README example
def test_quickstart_example_runs(tmp_path):
    out = tmp_path / "quickstart.png"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"), str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    slope, c = (float(v) for v in lines[2].split())
    assert abs(slope - 1) < 0.02 and c > 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_network_example_in_docstring():
    net = Network.create([3, 8, 2], activations=["tanh", "identity"], seed=0)
    rep = cc.stress_backprop_case(net, [[0.1, 0.2, 0.3]], [[0.3, -0.1]], ratios=[1e-6, 1e-5, 1e-4, 1e-3],
                                  reference="numpy")
    assert abs(rep["slope"] - 1) < 0.02
