"""Small matplotlib helpers for the claims (Agg backend, PNG)."""

from __future__ import annotations


def figure(*args, **kw):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kw)


def save(fig, ctx, name: str) -> str:
    """Write the figure atomically (a killed run leaves the old file or the new one, never half a PNG)."""
    import io

    import matplotlib.pyplot as plt

    from .._io import atomic_write_bytes

    path = ctx.figure_path(name)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return str(path.relative_to(ctx.out))
