"""Shared pieces of the subcommands: JSON output, progress bars, int lists."""

from __future__ import annotations

import json
import sys

from .._io import _json_default


def emit_json(obj) -> None:
    """Print one JSON object on stdout (the machine-readable summary of a command)."""
    sys.stdout.write(json.dumps(obj, default=_json_default) + "\n")
    sys.stdout.flush()


def int_list(text: str) -> list[int]:
    """Parse '4,16,16,1' into [4, 16, 16, 1] (argparse type)."""
    try:
        out = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 4,16,1, got {text!r}") from None
    return out


def float_list(text: str) -> list[float]:
    try:
        return [float(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1e-6,1e-3, got {text!r}") from None


def progress(iterable=None, total=None, desc: str = "", disable: bool | None = None, **kw):
    """A tqdm progress bar on stderr (hidden when stderr is not a terminal unless forced)."""
    from tqdm.auto import tqdm

    if disable is None:
        disable = not sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, disable=disable, leave=False, **kw)
