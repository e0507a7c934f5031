"""What makes the standard figures fit for a paper: axes with units, tick labels that do not overlap on
short log axes, legends outside the data, lines that coincide merged with a note, error bars that say
what they are, flagged points marked. Used by :mod:`analogsim.sweeps.figures` and :mod:`analogsim.bounds.figures`.

Examples
--------
>>> fig, (ax,) = new_figure()
>>> _ = ax.plot([1.0, 1.5, 2.0], [3.0, 4.0, 5.0], label="data")
>>> finish(fig, ax, "x [m]", "y [s]", "demo", xscale="log", yscale="log")
>>> overlapping_tick_labels(fig), legend_overlaps_axes(fig)
([], False)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["new_figure", "finish", "overlapping_tick_labels", "legend_overlaps_axes", "legend_texts",
           "Merger", "note_handle", "thin_overlaps", "MARKERS", "LINESTYLES", "FLAG_STYLE"]

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 1)), (0, (5, 5)))
FLAG_STYLE = dict(marker="x", color="red", ms=8, mew=1.6, ls="none", zorder=5)


def new_figure(ncols: int = 1, w: float = 5.0, h: float = 3.6):
    """A constrained-layout Agg figure (no pyplot, no global state) with ``ncols`` axes side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w + 2.8 + (ncols - 1) * 3.8, h), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def note_handle():
    """An invisible legend handle, so that a note can sit in the legend box (outside the data)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="none", marker="none")


def _plain(v, _pos=None) -> str:
    if v <= 0 or not math.isfinite(v):
        return ""
    e = math.floor(math.log10(v) + 1e-9)
    if -3 <= e <= 4:
        return f"{v:.6g}"
    m = v / 10 ** e
    return f"$10^{{{e}}}$" if abs(m - 1) < 1e-9 else f"${m:g}\\times10^{{{e}}}$"


def _tidy_log(axis, lo: float, hi: float) -> None:
    """On a log axis spanning few decades, label 1-2-5 (or fewer) ticks plainly and no minor ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if not (lo > 0 and hi > lo):
        return
    decades = math.log10(hi / lo)
    if decades >= 3:
        axis.set_minor_formatter(NullFormatter())
        return
    subs = (1.0, 2.0, 5.0) if decades < 2 else (1.0, 3.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_formatter(NullFormatter())


def _boxes(labels, renderer):
    out = []
    for t in labels:
        if t.get_visible() and t.get_text().strip():
            out.append(t.get_window_extent(renderer))
    return out


def _axis_labels(ax, which):
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    labels = []
    for tick in axis.get_major_ticks() + axis.get_minor_ticks():
        if lo - 1e-12 * abs(lo) <= tick.get_loc() <= hi + 1e-12 * abs(hi):
            labels.append(tick.label1)
    return labels


def overlapping_tick_labels(fig) -> list:
    """Pairs of tick labels (text) that overlap on any axis of ``fig`` (draws the figure).

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> _ = ax.plot([1, 2], [1, 2])
    >>> overlapping_tick_labels(fig)
    []
    """
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        for which in ("x", "y"):
            labels = [t for t in _axis_labels(ax, which) if t.get_visible() and t.get_text().strip()]
            boxes = _boxes(labels, r)
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    if boxes[i].overlaps(boxes[j]):
                        bad.append((labels[i].get_text(), labels[j].get_text()))
    return bad


def legend_overlaps_axes(fig) -> bool:
    """Whether a legend's box overlaps the data area of an axes (draws the figure)."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    for leg in legends:
        lb = leg.get_window_extent(r)
        for ax in fig.axes:
            if ax.get_label() == "<secondary>" or not ax.get_visible():
                continue
            if lb.overlaps(ax.get_window_extent(r)) and not _is_secondary(ax):
                return True
    return False


def _is_secondary(ax) -> bool:
    return type(ax).__name__ == "SecondaryAxis"


def legend_texts(fig) -> list:
    """Every legend entry's text in ``fig`` (figure and axes legends)."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for leg in legends for t in leg.get_texts()] + \
        [leg.get_title().get_text() for leg in legends if leg.get_title().get_text()]


def finish(fig, axes, xlabel, ylabel, title, xscale="log", yscale="log", notes=(), legend_title=None) -> None:
    """Scales, labels (each must carry its unit), titles, tidy log ticks, one legend outside the data.

    ``axes`` is one axes or a list; ``xlabel``/``ylabel``/``title`` one value or one per axes. ``notes``
    are extra lines in the legend box (what error bars mean, merged lines, flagged points).
    """
    axes = list(axes) if isinstance(axes, (list, tuple)) else [axes]
    per = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * len(axes)  # noqa: E731
    for ax, xl, yl, ti, xs, ys in zip(axes, per(xlabel), per(ylabel), per(title), per(xscale), per(yscale)):
        ax.set_xscale(xs)
        ax.set_yscale(ys)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        if ti:
            ax.set_title(ti, fontsize=9)
        ax.grid(True, which="major", alpha=0.25)
    for ax in axes:
        ax.autoscale_view()
        for which, scale in (("x", ax.get_xscale()), ("y", ax.get_yscale())):
            if scale == "log":
                lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
                _tidy_log(ax.xaxis if which == "x" else ax.yaxis, lo, hi)
    notes = list(notes)
    for ax in axes:
        notes.extend(_mark_coinciding(ax))
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        for hh, ll in zip(h, lab):
            if ll not in labels:
                handles.append(hh)
                labels.append(ll)
    for n in notes:
        if n:
            handles.append(note_handle())
            labels.append(n)
    if handles:
        import textwrap

        labels = [textwrap.fill(t, 46, subsequent_indent="  ") for t in labels]
        fig.legend(handles, labels, loc="outside right upper", fontsize=7, title=legend_title,
                   title_fontsize=7, frameon=False)


def _mark_coinciding(ax, rtol: float = 0.03) -> list:
    """Data lines (error-bar series) that lie on top of each other: the later one gets larger open markers so
    both show, and a note says which coincide and how closely (returned)."""
    series = []
    for c in ax.containers:
        line = getattr(c, "lines", (None,))[0]
        if line is None or not c.get_label() or c.get_label().startswith("_"):
            continue
        x, y = (np.asarray(a, float) for a in line.get_data())
        series.append((c.get_label().split(":")[0], x, y, line))
    notes, done = [], set()
    for i in range(len(series)):
        for j in range(i + 1, len(series)):
            li, xi, yi, _ = series[i]
            lj, xj, yj, line = series[j]
            if j in done or xi.shape != xj.shape or not np.allclose(xi, xj):
                continue
            ok = np.isfinite(yi) & np.isfinite(yj) & (yi != 0)
            if ok.sum() < 2:
                continue
            dev = float(np.max(np.abs(yj[ok] / yi[ok] - 1.0)))
            if dev < rtol:
                done.add(j)
                line.set_markerfacecolor("none")
                line.set_markersize(line.get_markersize() + 3 + 2 * len(done))
                line.set_markeredgewidth(1.4)
                notes.append(f"{lj} coincides with {li} (within {100 * dev:.1f} %): open markers")
    return notes


def thin_overlaps(fig) -> None:
    """If tick labels still overlap (long labels on a short axis), keep every other one until they do not.

    A safety net run before a figure is saved (it draws the figure); the tick choice of :func:`finish`
    already avoids overlaps on log axes."""
    for _ in range(3):
        bad = overlapping_tick_labels(fig)
        if not bad:
            return
        texts = {a for pair in bad for a in pair}
        for ax in fig.axes:
            for which in ("x", "y"):
                labels = [t for t in _axis_labels(ax, which) if t.get_visible() and t.get_text().strip()]
                if any(t.get_text() in texts for t in labels):
                    for k, t in enumerate(labels):
                        if k % 2 == 1:
                            t.set_visible(False)


class Merger:
    """Draw reference lines once: a line within ``rtol`` (3 %) of one of the same kind already drawn gets no
    new artist; the first one's label then says for which values it stands and how closely they agree.

    Examples
    --------
    >>> fig, (ax,) = new_figure()
    >>> m = Merger(ax)
    >>> m.plot([1, 2], [3, 4], "bound", "width = 2", color="k")
    >>> m.plot([1, 2], [3, 4], "bound", "width = 4", color="r")
    >>> m.finalize(); [l.get_label() for l in ax.get_lines()]
    ['bound (one line: identical for width = 2, width = 4)']
    """

    def __init__(self, ax, rtol: float = 0.03):
        self.ax = ax
        self.rtol = rtol
        self.drawn = []  # [label, x, y, line, [who], largest relative deviation]

    def plot(self, x, y, label, who=None, **kw) -> None:
        x, y = np.asarray(x, float), np.asarray(y, float)
        for entry in self.drawn:
            lab, x0, y0, line, whos, _ = entry
            if lab == label and x0.shape == x.shape and np.allclose(x0, x, rtol=1e-9, equal_nan=True):
                ok = np.isfinite(y0) & np.isfinite(y) & (y0 != 0)
                if ok.any() and (np.isfinite(y0) == np.isfinite(y)).all():
                    dev = float(np.max(np.abs(y[ok] / y0[ok] - 1.0)))
                    if dev <= self.rtol:
                        whos.append(who)
                        entry[5] = max(entry[5], dev)
                        return
        (line,) = self.ax.plot(x, y, label=label, **kw)
        self.drawn.append([label, x, y, line, [who], 0.0])

    def finalize(self) -> None:
        seen = set()
        for lab, _x, _y, line, whos, dev in self.drawn:
            whos = [w for w in whos if w]
            if len(whos) > 1:
                how = "identical" if dev < 1e-9 else f"within {100 * dev:.1f} %"
                line.set_label(f"{lab} (one line: {how} for {', '.join(whos)})")
            elif lab in seen:
                line.set_label(f"_{lab}")  # same kind of line for another hue: one legend entry per kind
            seen.add(lab)
