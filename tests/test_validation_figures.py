"""The validation claims' figures follow the figure rules (built from small fake measurement records, the claims
are not run): units in brackets on every axis, legends off the data, error bars explained, no overlapping tick
labels on short log axes, coinciding lines drawn distinguishably with a note, and Eq. 16 a bound at kT* only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analogsim.report._figstyle import legend_overlaps_axes, overlapping_tick_labels
from analogsim.report._figstyle import legend_texts as _legend_texts
from analogsim.validation import digital_vs_analog, equilibrium, iem, langevin_bias, quasistatic, stress, training
from analogsim.validation._plot import save
from analogsim.validation.framework import Context


def legend_texts(fig):
    """Legend entries with the wrapping undone."""
    return [" ".join(t.split()) for t in _legend_texts(fig)]


def _equilibrium():
    return equilibrium.equipartition_figure([1.002, 0.998, 1.004, 0.997, 1.0, 1.001, 0.999, 1.003, 0.996],
                                            [0.004] * 9, 8000)


def _em_bias():
    res = [{"integrator": "em", "dtl": d, "ratio": 1 + 0.12 * d, "se": 0.003} for d in (0.05, 0.1, 0.2, 0.4, 0.7)]
    res += [{"integrator": "mala", "dtl": d, "ratio": 1.0 + 0.001 * k, "se": 0.003} for k, d in enumerate((0.1, 0.4, 0.7))]
    return langevin_bias.em_bias_plot(res, 256)


def _stress(identical=False):
    r = np.array(stress.RATIOS)
    groups = {}
    for d in (1, 2, 3):
        for k, a in enumerate(stress.ACTS):
            C = 0.3 if identical else 0.1 * (3 * d + 0.5 * k)
            groups[(d, a)] = [{"ratios": list(r), "rel_error": list(C * r * (1 + 0.01 * s)), "constant": C}
                              for s in range(3)]
    return stress.stress_figure(groups)


def _quasistatic():
    taus = np.array([4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0])
    W0 = 1.3 / taus * (1 + 2 / taus)
    res = [{"tau": t, "kT": kT, "W": 1.3 / t * (1 + kT), "se": 0.02 / t} for kT in (0.05, 0.2) for t in (8.0, 32.0, 128.0)]
    return quasistatic.work_figure(taus, W0, 1e-4 * W0, res, 1.3, 1000)


def _training():
    lin = [{"N": n + 1, "W_over_kT": 2.1 * (n + 1) * 2e4, "W_over_kT_se": 300.0, "rho": 1.0} for n in (2, 4, 8, 16)]
    sp = [{"S": s, "W_over_kT": 10.5 * s, "bound_over_kT": 10.0 * s} for s in (10_000, 30_000, 100_000)]
    mlp = {"kT_grid": list(np.geomspace(1e-4, 1e-1, 7)), "loss_excess": list(np.geomspace(1e-5, 1e-2, 7)),
           "loss_excess_se": [1e-6] * 7, "kT_star": 3e-3, "loss_star": 0.05}
    curve = [{"f": f, "train": 0.05 + 0.01 * f + 0.001 * k} for f in (0.5, 2.0) for k in (0,)]
    curve += [{"f": f, "train": 0.05 + 0.01 * f + 0.001 * k} for f in (0.125, 8.0) for k in range(3)]
    return training.bound_figure(lin, sp, mlp, curve, 20_000, 1.01, 0.99)


def _table1():
    rows = digital_vs_analog.table1()["rows"]
    return digital_vs_analog.table1_figure(rows)


def _eitp():
    summ = []
    for lr in (0.1, 0.3):
        base = dict(lr=lr, n=3, accuracy_se=0.01, W_to_acc_se=0.5)
        summ.append(dict(base, eitp=False, lambda1=0.0, lambda2=0.0, W=100.0, accuracy=0.9, W_to_acc=40.0))
        for k, (l1, l2) in enumerate([(1e-3, 1e-3), (1e-2, 1e-3), (1e-3, 1e-2), (1e-2, 1e-2)]):
            summ.append(dict(base, eitp=True, lambda1=l1, lambda2=l2, W=80.0 + 5 * k, accuracy=0.88 + 0.005 * k,
                             W_to_acc=35.0 + k))
    return iem.eitp_figure(summ, (0.1, 0.3), 0.8)


def _along():
    steps = list(range(0, 1501, 150))
    return iem.along_training_figure(steps, [5 + 0.1 * k for k in range(len(steps))], steps,
                                     [1e-4 * s for s in steps], 61, 1e-6)


FIGURES = {"equipartition_exact": _equilibrium, "em_bias_vs_dt": _em_bias, "stress_vs_backprop": _stress,
           "quasistatic_work": _quasistatic, "training_bound": _training, "table1_and_cooling": _table1,
           "iem_eitp_energy": _eitp, "iem_along_training": _along}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_validation_figure_follows_the_rules(name):
    fig = FIGURES[name]()
    assert overlapping_tick_labels(fig) == [], name
    assert not legend_overlaps_axes(fig), name
    for ax in fig.axes:
        for lab in (ax.get_xlabel(), ax.get_ylabel()):
            if lab:
                assert "[" in lab and lab.rstrip().endswith("]"), (name, lab)
    texts = legend_texts(fig)
    assert texts, name
    has_bars = any(c.has_yerr for ax in fig.axes for c in ax.containers if hasattr(c, "has_yerr"))
    if has_bars:
        assert any("error bars: ± " in t and "SE" in t for t in texts), (name, texts)
    else:
        assert any("error bars" in t for t in texts), (name, texts)  # says there are none and why


def test_every_axis_is_labelled():
    for name, make in FIGURES.items():
        fig = make()
        main = [ax for ax in fig.axes if ax.get_xlabel()]
        assert main, name
        for ax in fig.axes:
            assert ax.get_ylabel(), (name, "an axis without a y label")


def test_eq16_is_a_bound_at_kT_star_only():
    for name in ("training_bound", "table1_and_cooling", "iem_along_training"):
        texts = " ".join(legend_texts(FIGURES[name]()))
        assert "Eq. 16" in texts and "bound only at" in texts and "kT*" in texts.replace("T*", "kT*"), name
    texts = legend_texts(_training())
    eq16 = [t for t in texts if "Eq. 16" in t]
    assert eq16 and all("a bound only at kT = kT*" in t for t in eq16)


def test_coinciding_lines_are_noted():
    texts = " ".join(legend_texts(_stress(identical=True)))
    assert "within 3 %" in texts and "told apart by marker and dash" in texts
    assert "within 3 %" not in " ".join(legend_texts(_stress()))
    # two error-bar series on top of each other: the later one gets open markers and a note
    fig = _em_bias()
    ax = fig.axes[0]
    assert all(c.lines[0].get_marker() for c in ax.containers)
    assert len({c.lines[0].get_marker() for c in ax.containers}) == 2


def test_bar_panels_keep_their_case_labels():
    labels = [t.get_text() for t in _stress().axes[1].get_xticklabels()]
    assert labels[0] == "2/relu" and all("/" in t for t in labels)
    labels = [t.get_text() for t in _table1().axes[0].get_xticklabels()]
    assert labels and all("\n" in t for t in labels)


def test_short_log_axes_are_labelled_plainly():
    fig = _quasistatic()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert labels and not any("times" in t for t in labels)
    fig = _em_bias()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert len(labels) >= 2, labels


def test_figures_are_written_atomically_as_png(tmp_path: Path):
    ctx = Context(mode="quick", out=tmp_path)
    for name, make in FIGURES.items():
        rel = save(make(), ctx, f"{name}.png")
        data = (tmp_path / rel).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
