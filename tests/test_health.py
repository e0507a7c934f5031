"""Health flags: a run whose physics went wrong says so on its result, in its sweep's status, summary and
plots (issue case 1: a shipped example reported a training whose loss exploded as success)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analogsim import Network
from analogsim.data import teacher_student
from analogsim.report.health import (THRESHOLDS, Flag, dataset_flags, decode, encode, format_flags, is_flagged, judge,
                              judge_train)
from analogsim.training import train

# The failing case of examples/energy_vs_N.toml before it was fixed: a [4, 64, 1] tanh net at the learning
# rate mu*tau_inf*kappa_out = 0.1, too large for width 64 (the output layer's loss curvature ~ |x_1|^2 ~ width).
BAD = dict(mu=100.0, tau_inf=1.0, kappa_out=1e-3, kT=1e-6, weight_decay=1e-4)
GOOD = dict(BAD, mu=20.0)


@pytest.fixture(scope="module")
def data():
    return teacher_student(n_in=4, n_out=1, n_train=128, n_test=64, teacher_hidden=(8,), seed=0)


def _net(width):
    return Network.create([4, width, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)


def test_exploded_training_is_flagged_on_its_result(data):
    res = train(_net(64), data, presentations=300, seed=2, **BAD)
    codes = [f.code for f in res.health]
    assert "loss_exploded" in codes and "fallbacks_high" in codes
    assert is_flagged(res.health)
    assert res.final_train_loss > 100 * res.records["train_loss"][0]  # what the flag is about
    assert json.loads(res.to_json())["health"][0]["code"] == "loss_exploded"
    text = format_flags(res.health)
    assert text.startswith("FLAGGED: loss_exploded") and "learning rate" in text and "fix:" in text


def test_same_net_at_a_stable_learning_rate_is_healthy(data):
    """Negative control: the same width at mu = 20 (learning rate 0.02) trains and raises no flag."""
    res = train(_net(64), data, presentations=300, seed=2, **GOOD)
    assert res.health == [] and res.fallbacks == 0
    assert res.final_train_loss < res.records["train_loss"][0]


def test_loss_checks():
    ok = {"train_loss": 0.02, "initial_train_loss": 0.9}
    assert judge(ok) == []
    assert [f.code for f in judge({"train_loss": None, "initial_train_loss": 0.9})] == ["loss_nonfinite"]
    assert [f.code for f in judge({"train_loss": math.inf})] == ["loss_nonfinite"]
    grown = {"train_loss": 9.5, "initial_train_loss": 1.0}
    assert judge(grown) == []  # below the threshold of 10x
    assert [f.code for f in judge({"train_loss": 10.5, "initial_train_loss": 1.0})] == ["loss_exploded"]
    # a hot run whose loss is high because of the thermal noise is not "exploded": its level is
    # N kT / (2 kappa_out) = 100 * 1e-3 / 2e-3 = 50, so a loss of 30 from an initial 1 is fine
    hot = {"train_loss": 30.0, "initial_train_loss": 1.0, "n_params": 100, "kT_mean": 1e-3, "kappa_out": 1e-3}
    assert judge(hot) == []
    assert [f.code for f in judge(dict(hot, train_loss=600.0))] == ["loss_exploded"]
    # no held-out entries: the held-out loss is NaN by design and is not judged
    assert judge({"train_loss": 0.1, "initial_train_loss": 1.0, "test_loss": None}) == []
    # a point without any loss (another kind) is not judged on losses
    assert judge({"rel_error": 1e-3}) == []


def test_fallback_checks():
    soft = {"fallbacks": 9980, "presentations": 10000, "kappa_out": 1e-3}
    (f,) = judge(soft)
    assert (f.code, f.severity) == ("fallbacks_high", "bad") and f.value == pytest.approx(0.998)
    hard = {"fallbacks": 10000, "presentations": 10000, "kappa_out": None}
    (f,) = judge(hard)
    assert (f.code, f.severity) == ("fallbacks_high", "warn") and "kappa_out" in f.fix
    assert not is_flagged([f])
    assert judge({"fallbacks": 10, "presentations": 10000, "kappa_out": 1e-3}) == []
    # substeps: the fraction is of parameter steps
    assert judge({"fallbacks": 600, "presentations": 1000, "n_substeps": 2, "kappa_out": 1e-3}) == []
    # settings may come from the point's parameters
    assert [f.code for f in judge({"fallbacks": 900}, {"presentations": 1000, "kappa_out": 1e-3})] == \
        ["fallbacks_high"]


def test_langevin_checks():
    assert [f.code for f in judge({"run_status": "diverged"})] == ["run_status"]
    assert [f.code for f in judge({"run_status": "oscillating"})] == ["run_status"]  # unstable replicas
    assert judge({"run_status": "ok", "dt_lambda": 0.05}) == []
    assert [f.code for f in judge({"dt_lambda": 2.5})] == ["unstable_step"]
    (f,) = judge({"dt_lambda": 0.5, "integrator": "em"})
    assert f.code == "em_bias" and f.severity == "warn"
    assert judge({"dt_lambda": 0.5, "integrator": "mala", "acceptance": 0.9}) == []
    assert [f.code for f in judge({"acceptance": 0.2})] == ["low_acceptance"]
    (f,) = judge({"jarzynski_ess": 1.45}, {"n_replicas": 256})
    assert f.code == "jarzynski_low_ess" and "1.45 of 256" in f.message and not is_flagged([f])
    assert judge({"jarzynski_ess": 200.0}) == []


def test_thresholds_can_be_changed_and_encoding_round_trips():
    r = {"train_loss": 5.0, "initial_train_loss": 1.0}
    assert judge(r) == [] and judge(r, thresholds={"loss_growth": 2.0})[0].code == "loss_exploded"
    assert THRESHOLDS["loss_growth"] == 10.0  # the override did not leak
    flags = judge({"train_loss": 50.0, "initial_train_loss": 1.0, "jarzynski_ess": 2.0})
    assert encode(flags) == "loss_exploded;jarzynski_low_ess"
    assert decode(encode(flags)) == [f.code for f in flags] and decode("") == []
    assert format_flags([]) == ""
    assert str(Flag("a", "bad", "m", "c", "f")) == "a: m (cause: c; fix: f)"


def test_judge_train_reads_the_result_fields():
    from types import SimpleNamespace as NS

    res = NS(records={"train_loss": np.array([1.0, 0.5]), "test_loss": np.array([np.nan, np.nan])},
             fallbacks=95, n_substeps=1, config=NS(kappa_out=1e-3, learning_rate=0.1, presentations=100),
             books=NS(presentations=100, n_params=10, kT_mean=1e-6))
    assert [f.code for f in judge_train(res)] == ["fallbacks_high"]  # a NaN held-out loss (no entries) is fine


def test_dataset_flags_judges_old_results_without_a_status_value():
    import xarray as xr

    ds = xr.Dataset({"status": ("width", np.array(["ok", "ok", "failed"])),
                     "train_loss": ("width", [0.02, 500.0, np.nan]),
                     "initial_train_loss": ("width", [1.0, 1.0, np.nan])}, coords={"width": [2, 64, 128]})
    assert dataset_flags(ds).values.tolist() == [False, True, False]  # failed points are not "flagged"


OLD_ENERGY_VS_N = """
[experiment]
kind = "train"
seed = 0
[network]
n_in = 4
depth = 2
[data]
teacher_width = 8
n_train = 128
[dynamics]
kT = 1e-6
[training]
mu = 100.0
kappa_out = 1e-3
presentations = 150
weight_decay = 1e-4
[sweep]
width = [2, 64]
"""


def test_sweep_and_plot_commands_report_flagged_points(tmp_path, capsys):
    """Case 1 end to end: the sweep's final line no longer says "2/2 points ok" with exit 0; the flagged point
    is named with cause and fix; the plot marks it, leaves it out of the fit and says so."""
    from analogsim import cli
    from analogsim.sweeps import open_results

    cfg = tmp_path / "old.toml"
    cfg.write_text(OLD_ENERGY_VS_N)
    out = tmp_path / "out"
    code = cli.main(["sweep", str(cfg), "--out", str(out), "--workers", "1", "--json"])
    cap = capsys.readouterr()
    assert code == 1, cap.err
    assert "1/2 points ok, 1 flagged, 0 failed" in cap.err
    assert "FLAGGED {'width': 64}" in cap.err and "loss_exploded" in cap.err and "fix:" in cap.err
    assert "energy units =" in cap.err and " J = " in cap.err and " bit" in cap.err  # energies four ways
    summary = json.loads(cap.out)
    assert summary["n_flagged"] == 1 and summary["flagged"][0]["coords"] == {"width": 64}
    ds = open_results(out)
    assert ds["status"].values.tolist() == ["ok", "flagged"]
    assert ds["work_J"].attrs["units"] == "J" and ds["work_bits"].attrs["units"] == "bit"
    assert ds["temperature_K"].values.tolist() == [300.0, 300.0]

    code = cli.main(["plot", str(out), "--format", "png", "--only", "energy_vs_N", "--json"])
    cap = capsys.readouterr()
    assert code == 0 and "1 flagged point(s) marked and left out of means and fits" in cap.err
    assert json.loads(cap.out)["flagged"][0]["flags"].startswith("loss_exploded")


def test_plot_judges_results_made_before_health_checks(tmp_path, capsys):
    """The issue's situation: a results.nc written before flags existed ("24/24 points ok") whose width-64
    points exploded. `analogsim plot` judges it from its variables and stored config, and says so."""
    import xarray as xr

    from analogsim import cli
    from analogsim.report.health import judge_dataset

    width = np.array([2, 64])
    dims = ["width", "seed"]
    ds = xr.Dataset({"status": (dims, np.full((2, 2), "ok")), "error": (dims, np.full((2, 2), "")),
                     "work": (dims, [[0.03, 0.04], [2e3, 3e3]]), "n_params": (dims, [[13.0, 13.0], [385.0, 385.0]]),
                     "train_loss": (dims, [[0.02, 0.03], [365.0, 1181.0]]),
                     "initial_test_loss": (dims, [[0.26, 0.3], [1.6, 1.5]]),
                     "fallbacks": (dims, [[0.0, 0.0], [9980.0, 9975.0]])},
                    coords={"width": width, "seed": [0, 1]},
                    attrs={"kind": "train", "config_json": json.dumps({"training": {"presentations": 10000,
                                                                                    "kappa_out": 1e-3}})})
    judged = judge_dataset(ds)
    assert judged["status"].values.tolist() == [["ok", "ok"], ["flagged", "flagged"]]
    assert judged["health_flags"].values[1, 0] == "loss_exploded;fallbacks_high"  # presentations from the config
    assert judged.attrs["n_flagged"] == 2 and judge_dataset(judged) is judged
    ds.to_netcdf(tmp_path / "results.nc", engine="scipy")
    assert cli.main(["plot", str(tmp_path), "--format", "png", "--only", "energy_vs_N"]) == 0
    err = capsys.readouterr().err
    assert "2 flagged point(s) marked and left out of means and fits" in err and "{'width': 64" in err



@settings(deadline=None, max_examples=80)
@given(init=st.floats(1e-6, 1e3), factor=st.floats(0.0, 1e4), n=st.integers(1, 10_000),
       kT=st.floats(0.0, 1e-2), kout=st.floats(1e-6, 1.0))
def test_loss_flag_is_exactly_the_documented_rule(init, factor, n, kT, kout):
    final = init * factor
    r = {"train_loss": final, "initial_train_loss": init, "n_params": n, "kT_mean": kT, "kappa_out": kout}
    level = max(init, n * kT / (2 * kout)) if kT > 0 else init
    assert is_flagged(judge(r)) == (final > THRESHOLDS["loss_growth"] * level)
    if is_flagged(judge(r)):  # monotone: a larger final loss stays flagged
        assert is_flagged(judge(dict(r, train_loss=2 * final)))
