"""Loose ends between the engines and the command line: new config keys reach TrainConfig through a
sweep, ``train`` shows the measured books four ways and the accuracy, the sweep's ``train`` task refuses
sizes that do not match its data, ``plot --dpi`` is checked before allocating, health codes for a
dynamic machine's reset error and for training books whose first law does not close, and ``sweep
--dry-run`` into a closed pipe."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import test_faults_helpers as fh

from analogsim.cli import main
from analogsim.data.config import parse_config

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--sizes", "3,4,1", "--kappa-out", "1e-3", "--mu", "100", "--kT", "1e-6", "--n-train", "16",
        "--n-test", "8", "--seed", "1", "--no-progress"]

#: hash of this config computed by the code before the [training]/[data] keys of this file existed
_OLD = ('[experiment]\nkind = "train"\n[dynamics]\nkT = 1e-6\n[training]\nkappa_out = 1e-3\nmu = 100.0\n'
        'presentations = 200\n[sweep]\nwidth = [4, 8]\n')
_OLD_HASH = "c939c296430e75ffba5a2391a3af985b9efb03fed7b75f45eaffa54ab4f33b96"


# ----------------------------------------------------------------------------- item 1: config keys
def test_new_training_and_data_keys_leave_old_hashes_alone():
    cfg = parse_config(_OLD)
    assert cfg.hash == _OLD_HASH  # results folders made before the keys existed still resume
    assert cfg.settings["tau_switch"] == 0.0 and cfg.settings["neuron_mobility"] is None
    assert cfg.settings["inputs"] is None and cfg.settings["targets"] is None
    explicit0 = parse_config(_OLD.replace("presentations", "tau_switch = 0.0\npresentations"))
    assert explicit0.hash == _OLD_HASH  # the default, written out, is the same experiment
    for extra in ("tau_switch = 0.5\n", "neuron_mobility = 20.0\n"):
        assert parse_config(_OLD.replace("presentations", extra + "presentations")).hash != _OLD_HASH
    data = parse_config(_OLD.replace("[dynamics]", '[data]\ntargets = "y1,y2"\n[dynamics]'))
    assert data.hash != _OLD_HASH and data.settings["targets"] == "y1,y2"


@pytest.mark.parametrize("line, needle", [("tau_switch = -1.0", "training.tau_switch: must be >= 0"),
                                          ("neuron_mobility = 0.0", "training.neuron_mobility: must be > 0")])
def test_new_training_keys_are_validated(line, needle):
    from analogsim.errors import ConfigError

    with pytest.raises(ConfigError, match=needle):
        parse_config(_OLD.replace("presentations", line + "\npresentations"))


def test_a_sweep_varies_tau_switch_and_the_mobility_ratio(tmp_path, monkeypatch):
    """End to end: the sweep's axes reach TrainConfig (recorded at train()) and change the measured books."""
    import analogsim.training as T
    from analogsim.sweeps import run_sweep
    from analogsim.sweeps.store import open_results

    seen = []
    real = T.train

    def spy(net, data, *a, **kw):
        seen.append({k: kw.get(k) for k in ("tau_switch", "neuron_mobility", "fidelity")})
        return real(net, data, *a, **kw)

    monkeypatch.setattr(T, "train", spy)
    text = ('[experiment]\nkind = "train"\n[network]\nsizes = [2, 3, 1]\n[data]\nn_train = 8\nn_test = 0\n'
            '[dynamics]\nkT = 1e-4\n[training]\nmu = 3.0\nkappa_out = 0.1\nfidelity = "joint"\npresentations = 12\n'
            '[sweep]\ntau_switch = [0.0, 2.0]\nneuron_mobility = [10.0, 40.0]\n')
    s = run_sweep(parse_config(text, name="wiring"), tmp_path / "out", backend=fh.SerialBackend())
    assert s.n_failed == 0, s.failed
    got = {(d["tau_switch"], d["neuron_mobility"]) for d in seen}
    assert got == {(0.0, 10.0), (0.0, 40.0), (2.0, 10.0), (2.0, 40.0)} and {d["fidelity"] for d in seen} == {"joint"}
    ds = open_results(tmp_path / "out")
    q = ds["Q_x"].values
    assert ds["Q_x"].dims == ("tau_switch", "neuron_mobility") and np.all(np.isfinite(q))
    assert not np.allclose(q[0], q[1]) and not np.allclose(q[:, 0], q[:, 1])  # both axes act on the books
    assert "first_law_relative" in ds


# ----------------------------------------------------------------------------- item 2: train's summary
def test_train_digits_summary_shows_books_four_ways_and_the_accuracy(capsys):
    rc = main(["train", "--data", "digits", "--sizes", "64,8,10", "--kappa-out", "1e-3", "--mu", "50",
               "--kT", "1e-6", "--presentations", "100", "--seed", "2", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip()}
    for key in ("W_sw", "Q_x", "Q_theta", "W_eq15"):
        assert " energy units = " in lines[key] and " kT = " in lines[key] and " J = " in lines[key] \
            and lines[key].rstrip().split("(")[0].rstrip().endswith("bit"), lines[key]
    assert "Eq. 15" in lines["W_eq15"] and "measured" in lines["Q_theta"]
    acc = float(lines["train_accuracy"].split()[1])
    assert 0.0 <= acc <= 1.0 and "test_accuracy" in lines and "units" in lines


def test_train_teacher_json_books_units_tau_switch_and_no_energetics(capsys):
    assert main(["train", "--data", "teacher", *TINY, "--presentations", "50", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    e = s["energy"]
    assert "train_accuracy" not in s  # regression data: no accuracy
    assert e["energetics"] and e["W_eq15"]["natural"] == pytest.approx(s["books"]["W"])
    for key in ("W_sw", "Q_x", "Q_theta", "W_eq15"):
        r = e[key]
        assert r["kT"] == pytest.approx(r["natural"] / s["books"]["kT_mean"])
        assert r["J"] == pytest.approx(r["natural"] * e["units"]["energy_unit_J"])
        assert r["bits"] == pytest.approx(r["kT"] / np.log(2))
    assert main(["train", "--data", "teacher", *TINY, "--presentations", "20", "--json", "--no-energetics"]) == 0
    off = json.loads(capsys.readouterr().out)
    assert off["energy"]["energetics"] is False and off["energy"]["Q_theta"]["natural"] is None
    assert off["energy"]["W_eq15"]["natural"] > 0 and off["config"]["energetics"] is False
    joint = ["--fidelity", "joint", "--neuron-mobility", "20", "--presentations", "10", "--json"]
    assert main(["train", "--data", "teacher", *TINY, *joint, "--tau-switch", "1.5"]) == 0
    ramp = json.loads(capsys.readouterr().out)
    assert ramp["config"]["tau_switch"] == 1.5 and ramp["config"]["neuron_mobility"] == 20.0
    assert main(["train", "--data", "teacher", *TINY, "--tau-switch", "1.5", "--presentations", "5"]) == 2
    assert "needs fidelity='joint'" in capsys.readouterr().err


def test_train_config_tau_switch_and_columns_reach_the_run(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(40, 5))
    csv.write_text("a,b,c,y1,y2\n" + "\n".join(",".join(f"{v:.6f}" for v in r) for r in rows))
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[experiment]\nkind = "train"\n[network]\nsizes = [3, 4, 2]\n[data]\nsource = "{csv}"\n'
                   'targets = "y1,y2"\n[dynamics]\nkT = 1e-6\n[training]\nmu = 3.0\nkappa_out = 0.1\n'
                   'fidelity = "joint"\ntau_switch = 1.0\nneuron_mobility = 20.0\npresentations = 5\n')
    assert main(["train", "--config", str(cfg), "--json", "--no-progress"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["net_sizes"] == [3, 4, 2] and s["config"]["tau_switch"] == 1.0 and s["config"]["neuron_mobility"] == 20.0


# ----------------------------------------------------------------------------- item 3: sweep train task sizes
def _csv(tmp_path):
    p = tmp_path / "two.csv"
    rows = np.random.default_rng(1).normal(size=(40, 5))
    p.write_text("a,b,c,y1,y2\n" + "\n".join(",".join(f"{v:.6f}" for v in r) for r in rows))
    return p


def _task_params(tmp_path, network: str, data: str = ""):
    text = (f'[experiment]\nkind = "train"\n[network]\n{network}\n[data]\nsource = "{_csv(tmp_path)}"\n'
            f'n_train = 16\nn_test = 8\n{data}[dynamics]\nkT = 1e-6\n[training]\nkappa_out = 1e-3\nmu = 100.0\n'
            'presentations = 20\n')
    return parse_config(text).settings


@pytest.mark.parametrize("network, data, needle", [
    ("sizes = [3, 8, 1]", 'targets = "y1,y2"\n', "network.sizes [3, 8, 1] does not match the data"),
    ("n_out = 3", 'targets = "y1,y2"\n', "network.n_out 3 does not match the data"),
    ("sizes = [5, 8, 2]", "", "network.sizes [5, 8, 2] does not match the data"),  # was silently [3, 8, 2]
    ("n_in = 7", "", "network.n_in 7 does not match the data"),
])
def test_sweep_train_task_refuses_sizes_that_do_not_match_the_data(tmp_path, network, data, needle):
    from analogsim.sweeps.engine_tasks import train_task

    with pytest.raises(ValueError, match=re.escape(needle)) as info:
        train_task(_task_params(tmp_path, network, data), seed=0)
    assert "data.inputs/data.targets" in str(info.value)


def test_sweep_train_task_reads_the_columns_the_config_names(tmp_path):
    from analogsim.sweeps.engine_tasks import train_task

    r = train_task(_task_params(tmp_path, "sizes = [3, 8, 2]", 'targets = "y1,y2"\n'), seed=0)
    assert r["n_params"] == 3 * 8 + 8 + 8 * 2 + 2 and np.isfinite(r["train_loss"])
    r = train_task(_task_params(tmp_path, "sizes = [3, 8, 2]"), seed=0)  # last n_L columns are the targets
    assert r["n_params"] == 50
    r = train_task(_task_params(tmp_path, "sizes = [2, 8, 1]", 'inputs = "a,c"\ntargets = "y2"\n'), seed=0)
    assert r["n_params"] == 2 * 8 + 8 + 8 + 1
    with pytest.raises(ValueError, match="data.delimiter applies to .csv"):
        p = _task_params(tmp_path, "sizes = [3, 8, 2]")
        npz = tmp_path / "d.npz"
        np.savez(npz, x=np.ones((8, 3)), t=np.ones((8, 2)))
        train_task(dict(p, source=str(npz), delimiter=";"), seed=0)


# ----------------------------------------------------------------------------- item 4: plot --dpi
def test_plot_dpi_is_checked_before_anything_is_allocated(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "missing"), "--dpi", "100000"]) == 2
    err = capsys.readouterr().err
    assert "--dpi" in err and "more than this machine has available" in err and "Traceback" not in err
    assert main(["plot", str(tmp_path / "missing"), "--dpi", "0"]) == 2
    assert "--dpi must be a positive number" in capsys.readouterr().err


# ----------------------------------------------------------------------------- item 5: health codes
def test_a_dynamic_reset_error_gets_its_own_code_cause_and_fix():
    from analogsim.report.health import judge
    from analogsim.sweeps.tasks import get_task

    task = get_task("dynamic").func
    bad = task({"tau": 200.0, "kT": 1.0, "E_b": 16.0, "n_elements": 256}, 0)
    ok = task({"tau": 6400.0, "kT": 1.0, "E_b": 16.0, "n_elements": 256}, 0)
    flags = judge(bad)
    assert [f.code for f in flags] == ["reset_error"] and flags[0].severity == "bad"
    assert "E_b" in flags[0].fix and "tilt" in flags[0].fix and "reduce dt" not in flags[0].fix
    assert flags[0].value == pytest.approx(bad["reset_error"]) and bad["reset_error"] > 1e-3
    assert judge(ok) == []
    old = judge({"run_status": "reset error 2.50e-02 > 1e-3: raise tau, tilt or E_b"})  # results without the number
    assert [f.code for f in old] == ["reset_error"] and old[0].value == pytest.approx(0.025)
    assert [f.code for f in judge({"run_status": "diverged"})] == ["run_status"]  # other statuses as before


def test_training_books_whose_first_law_does_not_close_are_flagged():
    from analogsim.data import teacher_student
    from analogsim.report.health import judge, judge_train
    from analogsim.model.network import Network
    from analogsim.training import train

    assert [f.code for f in judge({"first_law_relative": 2e-3})] == ["first_law_open"]
    assert judge({"first_law_relative": 5e-4}) == [] and judge({"first_law_relative": float("nan")}) == []
    ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=0, teacher_hidden=(3,), seed=0)
    net = Network.create([2, 4, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)
    kw = dict(presentations=50, mu=3.0, kappa_out=0.1, kT=1e-2, fidelity="joint", neuron_mobility=10.0, seed=3)
    with pytest.warns(RuntimeWarning):
        coarse = train(net, ds, substeps=20, **kw)
    codes = [f.code for f in judge_train(coarse)]
    assert coarse.books.first_law_relative > 1e-3 and "first_law_open" in codes
    fine = train(net, ds, substeps=400, **dict(kw, presentations=10))
    assert fine.books.first_law_relative < 1e-3 and "first_law_open" not in [f.code for f in judge_train(fine)]


# ----------------------------------------------------------------------------- item 6: broken pipe
@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_sweep_dry_run_into_a_closed_pipe_ends_quietly(extra):
    """The reader left before the first line (`| head -0`, a pager closed at once). Block-buffered stdout
    (PYTHONUNBUFFERED unset, as in a shell) is what used to end in 'Exception ignored ... Broken pipe', 120."""
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "analogsim.cli", "sweep", str(ROOT / "examples" / "energy_vs_N.toml"), "--dry-run",
           "--out", os.devnull + "_analogsim_never_made", *extra]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0, err
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception ignored" not in err
