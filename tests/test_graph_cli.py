"""`analogsim relax` and `analogsim train` on graph networks: configs, --graph files, summaries, bad graphs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analogsim import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

CONV = """
[graph]
input = {name = "x0", shape = [1, 8, 8]}
kappa = 1.0
seed = 0

[[graph.layers]]
name = "conv"
activation = "tanh"
inputs = [{from = "x0", op = "conv", out_channels = 2, kernel_size = 3, stride = 2, padding = 1}]

[[graph.layers]]
name = "out"
inputs = [{from = "conv", op = "dense", n_out = 10}]
"""


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_a_conv_config_reports_books_accuracy_and_health(capsys, tmp_path):
    code, out, err = run(capsys, "train", "--config", str(EXAMPLES / "graph_conv_digits.toml"),
                         "--presentations", "150", "--n-train", "200", "--json", "--no-progress",
                         "--out", str(tmp_path / "net.npz"))
    assert code == 0, err
    s = json.loads(out)
    assert s["status"] == "ok" and s["network"] == "graph" and s["layers"] == ["x0", "conv", "out"]
    assert s["n_params"] == 690 and s["n_train"] == 200 and s["presentations"] == 150
    # the same energy report as a dense run: the measured books four ways and Eq. 15 beside them
    for key in ("W_sw", "Q_x", "Q_theta", "W_eq15"):
        assert set(s["energy"][key]) >= {"natural", "kT", "J", "bits", "se"}
    assert s["energy"]["first_law_relative"] < 1e-9 and s["health"] == []
    assert s["test_accuracy"] > 0.5 and s["test_loss"] < s["initial_test_loss"]
    # the trained network is a graph file that --graph and --model read back
    from analogsim.data.graph_io import load_graph

    assert load_graph(tmp_path / "net.npz").n_params == 690
    code, out, err = run(capsys, "relax", "--graph", str(tmp_path / "net.npz"), "--kT", "0.01", "--n-steps", "50",
                         "--replicas", "16", "--json", "--no-progress")
    assert code == 0, err
    r = json.loads(out)
    assert r["status"] == "ok" and r["n_replicas"] == 16 and r["first_law_residual_max"] < 1e-10
    code, out, err = run(capsys, "train", "--model", str(tmp_path / "net.npz"), "--data", "digits", "--kT", "1e-8",
                         "--mu", "50", "--kappa-out", "1e-3", "--presentations", "20", "--json", "--no-progress")
    assert code == 0, err
    assert json.loads(out)["network"] == "graph"


def test_text_summary_and_relax_ramp_with_jarzynski(capsys, tmp_path):
    g = tmp_path / "g.toml"
    g.write_text(CONV)
    code, out, err = run(capsys, "train", "--graph", str(g), "--data", "digits", "--n-train", "64", "--kT", "1e-8",
                         "--mu", "50", "--kappa-out", "1e-3", "--presentations", "30", "--no-progress")
    assert code == 0, err
    assert "W_sw" in out and "energy units" in out and "first_law_relative" in out and "test_accuracy" in out
    code, out, err = run(capsys, "relax", "--graph", str(g), "--kT", "0.05", "--tau", "2", "--dt", "0.01",
                         "--replicas", "32", "--integrator", "mala", "--json", "--no-progress")
    assert code == 0, err
    r = json.loads(out)
    assert r["n_steps"] == 200 and r["work_mean"] != 0 and 0.5 < r["acceptance"] <= 1
    assert set(r["jarzynski"]) == {"value", "se", "ess"} and len(r["equipartition"]) == 2


def test_relax_config_with_a_graph_section(capsys, tmp_path):
    cfg = tmp_path / "exp.toml"
    cfg.write_text('[experiment]\nkind = "relax"\n[dynamics]\nkT = 0.1\nn_steps = 100\nn_replicas = 64\n'
                   'dt = 0.01\n' + CONV)
    code, out, err = run(capsys, "relax", "--config", str(cfg), "--json", "--no-progress", "--save",
                         str(tmp_path / "s.npz"))
    assert code == 0, err
    assert "analogsim relax: warning: Euler-Maruyama at Gamma dt lambda_max" in err   # a note, not a traceback
    r = json.loads(out)
    eq, se = np.array(r["equipartition"]), np.array(r["equipartition_se"])
    assert np.all(np.abs(eq - 1) < 5 * se), (eq, se)   # started from the exact sampler: equilibrium throughout
    with np.load(tmp_path / "s.npz") as f:
        assert f["state"].shape == (64, 64 + 32 + 10)


BAD = {
    "cycle": ('[[graph.layers]]\nname = "a"\ninputs = [{from = "x0", op = "dense", n_out = 3}, '
              '{from = "b", op = "identity"}]\n[[graph.layers]]\nname = "b"\n'
              'inputs = [{from = "a", op = "identity"}]\n', "the graph has a cycle"),
    "shape": ('[[graph.layers]]\nname = "a"\ninputs = [{from = "x0", op = "dense", n_out = 3}, '
              '{from = "x0", op = "dense", n_out = 4}]\n', "has 3 neurons"),
    "unknown op": ('[[graph.layers]]\nname = "a"\ninputs = [{from = "x0", op = "maxpool", kernel_size = 2}]\n',
                   "graph.layers[0].inputs[0].op"),
    "unknown layer": ('[[graph.layers]]\nname = "a"\ninputs = [{from = "z", op = "identity"}]\n',
                      "unknown layer 'z'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("command", ["train", "relax"])
def test_a_bad_graph_is_one_clear_line_before_any_work(capsys, tmp_path, case, command):
    body, expect = BAD[case]
    g = tmp_path / "bad.toml"
    g.write_text('[graph]\ninput = {shape = [4]}\n' + body)
    code, out, err = run(capsys, command, "--graph", str(g), "--kT", "0.1", "--no-progress")
    assert code == cli.EXIT_USAGE
    assert expect in err and "Traceback" not in err and out == ""
    assert len(err.strip().splitlines()) == 1, err
    # the same graph inside an experiment config is refused by the config's validation
    c = tmp_path / "exp.toml"
    c.write_text(f'[experiment]\nkind = "{command}"\n[dynamics]\nkT = 0.1\n' + g.read_text())
    code, out, err = run(capsys, command, "--config", str(c), "--no-progress")
    assert code == 2 and expect in err and len(err.strip().splitlines()) == 1, err


def test_graph_and_data_that_do_not_fit_and_settings_a_graph_lacks(capsys, tmp_path):
    g = tmp_path / "g.toml"
    g.write_text(CONV.replace("n_out = 10", "n_out = 3"))
    code, out, err = run(capsys, "train", "--graph", str(g), "--data", "digits", "--no-progress")
    assert code == 2 and "output layer 'out' 3" in err and "10 target column(s)" in err
    g.write_text(CONV)
    code, out, err = run(capsys, "train", "--graph", str(g), "--data", "digits", "--order", "cyclic",
                         "--no-progress")
    assert code == 2 and "training.order = 'cyclic' is not available for a graph network" in err
    code, out, err = run(capsys, "train", "--graph", str(tmp_path / "none.toml"), "--no-progress")
    assert code == 2 and "does not exist" in err
    damaged = tmp_path / "d.npz"
    damaged.write_bytes(b"not a zip")
    code, out, err = run(capsys, "relax", "--graph", str(damaged), "--kT", "0.1", "--no-progress")
    assert code == 2 and "not a readable .npz" in err


def test_train_tstar_on_a_graph(capsys, tmp_path):
    g = tmp_path / "g.toml"
    g.write_text('[graph]\ninput = {shape = [1, 4, 4]}\n[[graph.layers]]\nname = "out"\n'
                 'inputs = [{from = "x0", op = "conv", out_channels = 1, kernel_size = 4}]\n')
    code, out, err = run(capsys, "train", "--graph", str(g), "--data", "teacher", "--n-train", "32", "--mu", "1",
                         "--kappa-out", "0.1", "--tstar", "--chain-presentations", "800", "--json", "--no-progress")
    assert code == 0, err
    r = json.loads(out)
    assert r["network"] == "graph" and r["n_params"] == 17 and r["kT_star"] > 0 and r["kT_star_se"] > 0
    assert "kT* =" in err
