"""Small matplotlib helpers for the claims (Agg backend, PNG)."""

from __future__ import annotations


def figure(*args, **kw):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kw)


def save(fig, ctx, name: str) -> str:
    import matplotlib.pyplot as plt

    path = ctx.figure_path(name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path.relative_to(ctx.out))
