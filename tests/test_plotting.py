"""Figures from sweep results: synthetic datasets with known slopes in, PNG/SVG files out."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import xarray as xr

from analogsim import cli
from analogsim.report._figstyle import legend_overlaps_axes, legend_texts, overlapping_tick_labels
from analogsim.sweeps.figures import (FIGURES, energy_vs_N, energy_vs_S, fit_slope, loss_vs_kT, standard_figures,
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
    return [" ".join(t.split()) for t in legend_texts(fig)]  # legend lines are wrapped: compare without it


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


# ----------------------------------------------------------------------------- figures fit for a paper
def short_N(flag_last=False, rho=1.01):
    """energy_vs_N-like results over a short range of N (1.2 decades), 4 seeds; optionally the widest
    point's seed 0 exploded (W 1e4 x, status flagged)."""
    width = np.array([2, 4, 8, 16, 32])
    N = (6 * width + 1).astype(float)
    seeds = np.arange(4)
    rng = np.random.default_rng(1)
    W = 0.05 * N[:, None] ** 0.8 * (1 + 0.02 * rng.standard_normal((5, 4)))
    status = np.full((5, 4), "ok", dtype=object)
    flags = np.full((5, 4), "", dtype=object)
    if flag_last:
        W[-1, 0] *= 1e4
        status[-1, 0] = "flagged"
        flags[-1, 0] = "loss_exploded;fallbacks_high"
    b = 2 * N[:, None] * 1000 * 1e-6 * np.ones((1, 4))
    dims = ["width", "seed"]
    return xr.Dataset({"work": (dims, W), "n_params": (dims, np.broadcast_to(N[:, None], (5, 4)).copy()),
                       "bound_2NSkT": (dims, b), "bound": (dims, b * rho),
                       "energy_unit_J": (dims, np.full((5, 4), 4.14e-15)),
                       "temperature_K": (dims, np.full((5, 4), 300.0)),
                       "kT_mean": (dims, np.full((5, 4), 1e-6)),
                       "status": (dims, status.astype(str)), "health_flags": (dims, flags.astype(str))},
                      coords={"width": width, "seed": seeds},
                      attrs={"config_json": json.dumps({"training": {"presentations": 1000}})})


def _secondary(fig):
    return [c for a in fig.axes for c in a.child_axes]


def _all_figures(ds):
    return [(name, fig) for name, make in FIGURES.items() if name != "curve" for _, fig in make(ds)]


def test_short_log_axes_have_no_overlapping_tick_labels():
    ds = short_N()
    for name, fig in _all_figures(ds) + [("loss", f) for _, f in loss_vs_kT(train_like())]:
        assert overlapping_tick_labels(fig) == [], name
    # a y range of a factor 2.5 and an x range of 1.2 decades: ticks are labelled, plainly
    (_, fig), = energy_vs_N(ds)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all("10^" not in t or "times" not in t for t in labels)


def test_legends_off_the_data_units_on_every_axis_error_bars_explained():
    for ds in (train_like(), short_N()):
        for name, fig in _all_figures(ds):
            assert not legend_overlaps_axes(fig), name
            for ax in fig.axes:
                for lab in (ax.get_xlabel(), ax.get_ylabel()):
                    if lab:
                        assert "[" in lab and lab.rstrip().endswith("]"), (name, lab)
            texts = _legend(fig)
            assert any("standard error" in t for t in texts), (name, texts)


def test_eq16_line_is_annotated_as_a_bound_at_kT_star_only():
    (_, fig), = energy_vs_N(short_N(rho=1.5))
    texts = [t for t in _legend(fig)]
    assert any(t.startswith("2 N S kT (Eq. 16; a bound only at kT = kT*)") for t in texts)
    assert any("2 N S rho kT" in t and "kT* only" in t for t in texts)
    (_, fig), = FIGURES["bounds"](short_N())
    assert any("a bound only at kT*" in t for t in _legend(fig))


def test_coinciding_lines_are_merged_with_a_note():
    # rho = 1.01: the measured-rho line would lie on 2 N S kT; it is drawn once and the legend says so
    (_, fig), = energy_vs_N(short_N(rho=1.01))
    texts = " ".join(t for t in _legend(fig))
    assert "within 1.0 % of 2 N S kT: drawn as one line" in texts
    styles = [ln.get_linestyle() for ln in fig.axes[0].get_lines()]
    assert ":" not in styles  # the dotted rho line is not drawn on top
    # at fixed S and N the bound is the same for every data-set size: one line, noted
    S = np.array([1000, 4000, 16000])
    D = np.array([32, 128])
    W = 1e-3 * S[:, None, None] * (1 + 0.1 * np.arange(2))[None, :, None] * np.ones((1, 1, 2))
    dims = ["presentations", "n_train", "seed"]
    ds = xr.Dataset({"work": (dims, W), "n_params": (dims, np.full(W.shape, 49.0))},
                    coords={"presentations": S, "n_train": D, "seed": [0, 1]},
                    attrs={"config_json": json.dumps({"dynamics": {"kT": 1e-6}})})
    (_, fig), = energy_vs_S(ds)
    dashed = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and "identical for n_train = 32, n_train = 128" in dashed[0].get_label()
    assert any("one line: identical for n_train = 32, n_train = 128" in t for t in _legend(fig))
    data = [c for c in fig.axes[0].containers]
    assert len({c.lines[0].get_marker() for c in data}) == 2  # the two data lines differ in marker too


def test_flagged_points_are_marked_and_left_out_of_the_fit():
    ds = short_N(flag_last=True)
    (_, fig), = energy_vs_N(ds)
    texts = " ".join(t for t in _legend(fig))
    assert "1 flagged point(s) (fallbacks_high, loss_exploded), left out of means and fits" in texts
    assert _slopes(fig) == pytest.approx([0.8], abs=0.03)  # the exploded seed does not move the fit
    crosses = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "x"]
    assert len(crosses) == 1 and crosses[0].get_ydata()[0] == pytest.approx(ds["work"].values[-1, 0])
    (_, fig), = energy_vs_N(ds.assign_attrs(_include_flagged=1))
    assert _slopes(fig)[0] > 1.2  # asked to include it: the fit moves, and the note says so
    assert any("INCLUDED" in t for t in _legend(fig))


def test_joule_axis_only_with_one_energy_unit():
    (_, fig), = energy_vs_N(short_N())
    sec = _secondary(fig)
    assert len(sec) == 1 and sec[0].get_ylabel() == "[J] at T = 300 K"
    ds = short_N()
    ds["energy_unit_J"] = ds["energy_unit_J"] * (1 + np.arange(4))  # e.g. a kT sweep at fixed T
    (_, fig), = energy_vs_N(ds)
    assert not _secondary(fig)
    assert any("joules differ between points" in t for t in _legend(fig))
    # bounds: measured W/(S kT) in kT; the joule axis is at the run's own temperature, or absent
    ds = short_N().assign(temperature_K=lambda d: d["temperature_K"] * 0 + 77.0)
    (_, fig), = FIGURES["bounds"](ds)
    sec = _secondary(fig)
    assert len(sec) == 1 and sec[0].get_ylabel() == "[J] at T = 77 K"
    ds["temperature_K"] = ds["temperature_K"] * (1 + np.arange(4))
    (_, fig), = FIGURES["bounds"](ds)
    assert not _secondary(fig)


def test_accuracy_beside_the_loss_and_choosing_the_variable(tmp_path):
    ds = train_like().isel(presentations=[1], width=[1])
    ds["test_accuracy"] = 0.9 - 10 * ds["kT"] + 0 * ds["work"]
    ds["train_loss"] = ds["test_loss"] * 0.5
    (_, fig), = loss_vs_kT(ds)
    assert len(fig.axes) == 2
    assert fig.axes[1].get_ylabel() == "held-out accuracy [fraction]"
    (_, fig), = loss_vs_kT(ds, "train_loss")
    assert fig.axes[0].get_ylabel().startswith("training loss [")
    ds["work_J"] = ds["work"] * 4e-15
    ds["work_J"].attrs["units"] = "J"
    files = standard_figures(ds, tmp_path, formats=["png"], y="work_J", only=["energy_vs_N", "curve"])
    assert {f.name.split("__")[0] for f in files} == {"energy_vs_N", "curve"}
    (_, fig), *_ = energy_vs_S(ds, "work_J")
    assert fig.axes[0].get_ylabel() == "training work W [J]" and not _secondary(fig)  # joules: no second axis
    with pytest.raises(ValueError, match="y: no numeric variable 'nope'"):
        standard_figures(ds, tmp_path, y="nope")
    with pytest.raises(ValueError, match="x: 'nope' is not a sweep axis"):
        standard_figures(ds, tmp_path, y="work", x="nope")
    (_, fig), = FIGURES["curve"](ds, "test_accuracy", "kT")
    assert fig.axes[0].get_ylabel() == "held-out accuracy [fraction]"


def test_inference_work_is_not_drawn_as_training_work():
    """A relax sweep has `work` and `n_params` too (inference work): no training-energy or bounds figure."""
    ds = short_N().assign_attrs(kind="relax")
    assert FIGURES["bounds"](ds) == [] and energy_vs_N(ds) == []
    assert FIGURES["bounds"](short_N().assign_attrs(kind="train"))


def test_coinciding_data_lines_are_drawn_distinguishably_with_a_note():
    """work_vs_tau at two temperatures: L^2 does not depend on T, so the two curves lie on each other."""
    tau = np.array([4.0, 16.0, 64.0, 256.0])
    W = np.stack([2 / tau, 2.02 / tau])[:, :, None] * np.array([1.0, 1.01])  # (kT, tau, seed)
    ds = xr.Dataset({"work": (["kT", "tau", "seed"], W)}, coords={"kT": [1e-3, 1e-2], "tau": tau, "seed": [0, 1]},
                    attrs={"kind": "relax"})
    (_, fig), = work_vs_tau(ds)
    texts = _legend(fig)
    assert any(t.startswith("kT = 0.01 coincides with kT = 0.001 (within 1.0 %)") for t in texts), texts
    second = fig.axes[0].containers[1].lines[0]
    assert second.get_markerfacecolor() == "none"  # open markers: the first line stays visible inside
    assert any("one line: within 1.0 % for kT = 0.001, kT = 0.01" in t for t in texts)  # the L^2/tau guides
