"""Figures from sweep results: synthetic datasets with known slopes in, PNG/SVG files out."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import xarray as xr

from analogsim import cli
from analogsim._figstyle import legend_overlaps_axes, legend_texts, overlapping_tick_labels
from analogsim.plotting import (FIGURES, energy_vs_N, energy_vs_S, fit_slope, loss_vs_kT, standard_figures,
                                stress_error, threshold_from_curve, work_vs_tau)


def train_like(seed=0):
    """W = 3 N S kT exactly (slope 1 in S and in N), loss rising with kT; 3 seeds with small noise."""
    rng = np.random.default_rng(seed)
    kT = np.array([1e-4, 1e-3, 1e-2])
    width = np.array([2, 4, 8])
    S = np.array([100, 1000, 10000])
    seeds = np.arange(3)
    N = (width * 4 + width + width + 1).astype(float)  # [4, w, 1] net
    shape = (3, 3, 3, 3)
    Nb = np.broadcast_to(N[None, :, None, None], shape)
    W = 3.0 * Nb * S[None, None, :, None] * kT[:, None, None, None]
    W = W * (1 + 0.01 * rng.standard_normal(shape))
    loss = 0.1 + 20 * kT[:, None, None, None] + 0 * W + 0.001 * rng.random(shape)
    dims = ["kT", "width", "presentations", "seed"]
    return xr.Dataset({"work": (dims, W), "n_params": (dims, Nb.copy()), "test_loss": (dims, loss),
                       "status": (dims, np.full(shape, "ok"))},
                      coords={"kT": kT, "width": width, "presentations": S, "seed": seeds},
                      attrs={"config_json": json.dumps({"dynamics": {"kT": None}})})


def test_fit_slope_and_threshold():
    assert fit_slope([1, 10, 100], [5, 50, 500])[0] == pytest.approx(1.0)
    assert fit_slope([1, 10, 100], [1, 0.1, 0.01])[0] == pytest.approx(-1.0)
    assert np.isnan(fit_slope([1, 1], [1, 2])[0]) and np.isnan(fit_slope([1], [1])[0])
    assert fit_slope([1, 10, np.nan, 0], [1, 10, 3, 4])[0] == pytest.approx(1.0)  # unusable pairs skipped
    # 2 x 1.0 is reached a third of the way from 1e-3 (1.5) to 1e-2 (3.0), interpolating in log kT
    assert threshold_from_curve([1e-4, 1e-3, 1e-2], [1.0, 1.5, 3.0]) == pytest.approx(10 ** (-3 + 1 / 3))
    assert np.isnan(threshold_from_curve([1e-4, 1e-3], [1.0, 1.2]))  # never doubles: no T*


def _legend(fig):
    return legend_texts(fig)


def _slopes(fig):
    import re

    return [float(m.group(1)) for t in _legend(fig) for m in [re.search(r"slope (-?[0-9.]+)", t)] if m]


def test_energy_figures_show_the_fitted_slopes_and_the_bound():
    ds = train_like()
    figs = energy_vs_S(ds)
    assert len(figs) == 3  # one per kT (hue = width)
    labels = _legend(figs[0][1])
    assert any(t.startswith("2 N S kT (Eq. 16; a bound only at kT = kT*)") for t in labels)
    assert _slopes(figs[0][1]) == pytest.approx([1, 1, 1], abs=0.02)
    line = figs[0][1].axes[0].get_lines()
    assert figs[0][1].axes[0].get_xscale() == "log" and figs[0][1].axes[0].get_yscale() == "log"
    assert line  # something drawn
    figs = energy_vs_N(ds)
    assert len(figs) == 3 and _slopes(figs[0][1]) == pytest.approx([1, 1, 1], abs=0.02)


def test_loss_vs_kT_marks_threshold():
    ds = train_like()
    figs = loss_vs_kT(ds)
    assert len(figs) == 3  # hue width, panels over presentations
    labels = _legend(figs[0][1])
    # loss 0.102 -> 0.12 -> 0.3: it doubles between kT = 1e-3 and 1e-2
    marks = [t for t in labels if t.startswith("kT*")]
    assert marks and all("E = 2 E(lowest kT)" in t for t in marks)
    ds2 = ds.assign(kT_star=xr.full_like(ds["work"], 5e-3))
    assert any("from the runs" in t for t in _legend(loss_vs_kT(ds2)[0][1]))


def test_stress_and_tau_figures():
    r = np.logspace(-6, 0, 7)
    err = np.stack([2 * r, 9 * r])
    ds = xr.Dataset({"rel_error": (["depth", "kappa_ratio"], err)}, coords={"depth": [1, 2], "kappa_ratio": r})
    (_, fig), = stress_error(ds)
    assert [t for t in _legend(fig) if "slope" in t] == ["depth = 1: slope 1.000", "depth = 2: slope 1.000"]
    tau = np.array([4.0, 16.0, 64.0])
    ds = xr.Dataset({"work": (["tau", "seed"], np.stack([2 / tau, 2.1 / tau], 1))},
                    coords={"tau": tau, "seed": [0, 1]})
    (_, fig), = work_vs_tau(ds)
    assert any("slope -1.00" in t for t in _legend(fig)) and any(t.startswith("L^2 / tau") for t in _legend(fig))


def test_every_train_figure_applies():
    made = {name: make(train_like()) for name, make in FIGURES.items()}
    assert {k for k, v in made.items() if v} == {"loss_vs_kT", "energy_vs_S", "energy_vs_N", "bounds"}
    (_, fig), = made["bounds"]
    assert any("this sweep" in t for t in _legend(fig))


def test_standard_figures_writes_png_and_svg(tmp_path):
    ds = train_like().isel(kT=[1])  # one panel per figure
    files = standard_figures(ds, tmp_path / "figs", only=["energy_vs_S"])
    assert sorted(f.name for f in files) == ["energy_vs_S__kT-0.001.png", "energy_vs_S__kT-0.001.svg"]
    for f in files:
        data = f.read_bytes()
        if f.suffix == ".png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            ET.fromstring(data)  # well-formed SVG
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(f.name for f in files)  # no temp files
    with pytest.raises(ValueError, match="unknown figure"):
        standard_figures(ds, tmp_path, only=["nope"])


def test_no_applicable_figure_and_bad_format(tmp_path):
    ds = xr.Dataset({"something": (["kT"], [1.0, 2.0])}, coords={"kT": [0.1, 0.2]})
    assert all(make(ds) == [] for make in FIGURES.values())
    assert standard_figures(ds, tmp_path) == []
    with pytest.raises(ValueError, match="formats"):
        standard_figures(train_like(), tmp_path, formats=["gif"])


def test_plot_command(tmp_path, capsys):
    train_like().isel(kT=[1], presentations=[1]).to_netcdf(tmp_path / "results.nc", engine="scipy")
    assert cli.main(["plot", str(tmp_path), "--json", "--format", "svg", "--only", "loss_vs_kT,energy_vs_N"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out["files"]) == sorted(str(tmp_path / "figures" / f) for f in
                                          ["loss_vs_kT__presentations-1000.svg", "energy_vs_N__presentations-1000.svg"])
    assert (tmp_path / "figures").is_dir()
    xr.Dataset({"x": (["a"], [1.0])}, coords={"a": [1]}).to_netcdf(tmp_path / "other.nc", engine="scipy")
    assert cli.main(["plot", str(tmp_path / "other.nc")]) == 1
    assert "no standard figure" in capsys.readouterr().err
    assert cli.main(["plot", str(tmp_path / "missing")]) == 2
