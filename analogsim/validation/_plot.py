"""Figure helpers for the claims: the figures follow the rules of :mod:`analogsim.report._figstyle` (units on every
axis, legends outside the data, error bars explained, tidy short log axes, coinciding lines noted) and are
written atomically as PNG.

Examples
--------
>>> from analogsim.report._figstyle import finish, overlapping_tick_labels
>>> fig, (ax,) = figure()
>>> _ = ax.plot([1.0, 2.0], [1.0, 4.0], label="demo")
>>> finish(fig, ax, "x [1]", "y [1]", "demo")
>>> overlapping_tick_labels(fig)
[]
"""

from __future__ import annotations

from ..report._figstyle import new_figure


def figure(ncols: int = 1, w: float = 5.0, h: float = 3.6):
    """A constrained-layout Agg figure (no pyplot state) with ``ncols`` axes side by side: ``(fig, axes)``."""
    return new_figure(ncols, w=w, h=h)


def se_note(k: float, what: str) -> str:
    """The legend line that says what the error bars are, e.g. ``error bars: ± 4 SE over 256 replicas``.

    Examples
    --------
    >>> se_note(4, "256 replicas")
    'error bars: ± 4 SE (standard error of the mean) over 256 replicas'
    """
    return f"error bars: ± {k:g} SE (standard error of the mean) over {what}"


def save(fig, ctx, name: str) -> str:
    """Write the figure atomically (a killed run leaves the old file or the new one, never half a PNG); tick
    labels that would still overlap are thinned first. Returns the path relative to ``ctx.out``."""
    import io

    import matplotlib.pyplot as plt

    from ..report._figstyle import thin_overlaps
    from .._io import atomic_write_bytes

    path = ctx.figure_path(name)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    thin_overlaps(fig)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return str(path.relative_to(ctx.out))
