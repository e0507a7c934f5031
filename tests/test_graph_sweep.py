"""Sweeps whose network is a graph: a [graph] section in the config, the local backend, the dense variables."""

from __future__ import annotations

import numpy as np
import pytest

from analogsim.data.config import parse_config
from analogsim.errors import ConfigError
from analogsim.sweeps import open_results, run_sweep
from analogsim.sweeps.tasks import check_requirements, get_task

CONV = """
[graph]
input = {name = "x0", shape = [1, 8, 8]}
kappa = 1.0

[[graph.layers]]
name = "conv"
activation = "tanh"
inputs = [{from = "x0", op = "conv", out_channels = 2, kernel_size = 3, stride = 2, padding = 1}]

[[graph.layers]]
name = "out"
inputs = [{from = "conv", op = "dense", n_out = 10}]
"""

TRAIN = """
[experiment]
kind = "train"
seed = 3
[data]
source = "digits"
n_test = 200
[training]
mu = 50.0
kappa_out = 1e-3
presentations = 150
batch_size = 8
[sweep]
kT = [1e-8, 1e-4]
n_train = [40, 120]
""" + CONV

DENSE = TRAIN.split("[sweep]")[0].replace("[data]", "[network]\nsizes = [64, 16, 10]\n[data]") \
    + "[sweep]\nkT = [1e-8, 1e-4]\nn_train = [40, 120]\n"


def test_a_graph_sweep_over_kT_and_data_size_runs_on_the_local_pool(tmp_path):
    summary = run_sweep(parse_config(TRAIN, name="g"), tmp_path / "g", workers=1)
    assert summary.n_failed == 0
    ds = open_results(tmp_path / "g")
    assert ds["status"].dims == ("kT", "n_train") and (ds["status"].values == "ok").all(), ds["error"].values
    # the points carry the dense train task's result variables (a dense sweep of the same settings as reference)
    dense = run_sweep(parse_config(DENSE, name="d"), tmp_path / "d", workers=1)
    assert dense.n_failed == 0
    dd = open_results(tmp_path / "d")
    missing = set(dd.data_vars) - set(ds.data_vars) - {"Q_theta_se"}
    assert not missing, missing
    assert (ds["n_params"].values == 2 * 9 + 2 + 10 * 32 + 10).all()
    # the books close per point, W_sw and Q_x dominate as in docs/graph.md, and the bound is 2 N S kT rho
    assert (ds["first_law_relative"].values < 1e-9).all()
    np.testing.assert_allclose(ds["bound_2NSkT"].values,
                               2 * ds["n_params"].values * 150 * ds["kT"].values[:, None], rtol=1e-12)
    # the hot points learn worse than the cold ones (kT = 1e-4 is far above this net's T*)
    assert (ds["test_loss"].sel(kT=1e-4).values > ds["test_loss"].sel(kT=1e-8).values).all()
    assert (ds["test_accuracy"].sel(kT=1e-8).values > 0.4).all()
    # the data-set size axis is real: the training losses differ
    assert ds["train_loss"].sel(kT=1e-8, n_train=40).item() != ds["train_loss"].sel(kT=1e-8, n_train=120).item()
    # resuming does not recompute anything
    again = run_sweep(parse_config(TRAIN, name="g"), tmp_path / "g", workers=1)
    assert again.n_computed == 0


def test_a_graph_relax_sweep_books_work_over_tau():
    cfg = parse_config('[experiment]\nkind = "relax"\n[dynamics]\nkT = 0.01\ndt = 0.02\nn_replicas = 32\n'
                       'integrator = "mala"\n'
                       '[sweep]\ntau = [2.0, 8.0]\n' + CONV.replace("shape = [1, 8, 8]", "shape = [1, 5, 5]"))
    spec = get_task(cfg.kind)
    check_requirements(spec, cfg)
    res = [spec.func(cfg.params(p), p.seed) for p in cfg.points()]
    assert [r["n_steps"] for r in res] == [100, 400]
    assert all(r["run_status"] == "ok" and r["work"] > 0 and "jarzynski_ess" in r for r in res)
    assert res[1]["work"] < res[0]["work"]          # slower ramps cost less (Eq. 7: ~ L^2 / tau)


@pytest.mark.parametrize("text, path", [
    (TRAIN.replace("[data]", "[network]\nwidth = 8\n[data]"), "network.width"),
    (TRAIN.replace("n_train = [40, 120]", "width = [4, 8]"), "sweep.width"),
    (TRAIN.replace('shape = [1, 8, 8]', 'shape = [1, 2, 2]').replace("padding = 1", "padding = 0"),
     "graph.layers[0].inputs[0]"),
    (TRAIN.replace('kernel_size = 3,', 'kernel_size = 3, colour = 1,'), "graph.layers[0].inputs[0]"),
    (TRAIN.replace('kappa = 1.0', 'kappa = 1.0\nlayerz = 1'), "graph.layerz"),
])
def test_graph_configs_are_validated_before_anything_runs(text, path):
    with pytest.raises(ConfigError) as e:
        parse_config(text)
    assert e.value.path == path, str(e.value)


def test_kinds_without_graph_support_are_refused_and_the_hash_sees_the_graph():
    cfg = parse_config(TRAIN.replace('kind = "train"', 'kind = "stress"'))
    with pytest.raises(ConfigError, match="does not take a \\[graph\\] network"):
        check_requirements(get_task("stress"), cfg)
    a = parse_config(TRAIN)
    b = parse_config(TRAIN.replace("out_channels = 2", "out_channels = 3"))
    assert a.hash != b.hash and a.settings["graph"]["layers"][0]["name"] == "conv"


def test_dry_run_of_a_graph_sweep_says_it_has_no_estimate(capsys):
    from pathlib import Path

    from analogsim import cli

    ex = Path(__file__).resolve().parent.parent / "examples" / "graph_conv_sweep.toml"
    assert cli.main(["sweep", str(ex), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "32 points over kT[4] x n_train[4] x seed[2]" in out and "estimate: none for a [graph] network" in out


def test_a_config_without_sweep_axes_runs_as_one_point(tmp_path):
    """A [graph] train config without [sweep] (examples/graph_conv_digits.toml) is a sweep of one point: its
    0-d status and error are read back (the flagged/failed listings indexed them as arrays before)."""
    text = TRAIN.split("[sweep]")[0] + "[dynamics]\nkT = 1e-8\n" + CONV
    s = run_sweep(parse_config(text, name="one"), tmp_path / "one", workers=1)
    assert s.n_points == 1 and s.n_ok == 1 and s.n_failed == 0
    ds = open_results(tmp_path / "one")
    assert ds["status"].ndim == 0 and ds["status"].item() == "ok"
