"""Shared pieces of the subcommands: JSON output, progress, number parsing, help text, output paths."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

from .._io import _json_default
from .main import EXIT_OK


def emit_json(obj) -> None:
    """Print one JSON object on stdout (the machine-readable summary of a command)."""
    sys.stdout.write(json.dumps(obj, default=_json_default) + "\n")
    sys.stdout.flush()


def emit_result(args, obj, text: str) -> int:
    """Print ``obj`` as JSON when ``args.json`` is set, else ``text``; returns ``EXIT_OK``."""
    if args.json:
        emit_json(obj)
    else:
        print(text)
    return EXIT_OK


def int_list(text: str) -> list[int]:
    """Parse '4,16,16,1' into [4, 16, 16, 1] (argparse type; '1e3' is read as 1000)."""
    try:
        out = [_as_int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 4,16,1, got {text!r}") from None
    return out


def float_list(text: str) -> list[float]:
    """Parse '1e-6,-1,0' into floats (argparse type)."""
    try:
        return [float(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1e-6,1e-3, got {text!r}") from None


def _as_int(text: str) -> int:
    t = text.strip().replace("_", "")
    try:
        return int(t)
    except ValueError:
        pass
    v = float(t)  # '1e5', '2.0e3': accepted when the value is a whole number
    if not math.isfinite(v) or not v.is_integer():
        raise ValueError(text)
    return int(v)


def count(text: str) -> int:
    """An integer count written as 100000, 100_000 or 1e5 (argparse type); 1.5e0 is refused.

    Examples
    --------
    >>> count("1e5"), count("100_000"), count("-3")
    (100000, 100000, -3)
    """
    try:
        return _as_int(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected a whole number like 100000 or 1e5, got {text!r}") from None


_NEGATIVE = re.compile(r"^-(\d|\.\d)[\d.eE+\-,_]*$|^-inf$")


def allow_negative_numbers(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Let a parser read ``--kT -1e-6`` and ``--ratios -1,0`` as values (validated later), not as options.

    argparse only recognises '-1' and '-0.5' as numbers; exponents and lists look like unknown options.
    """
    parser._negative_number_matcher = _NEGATIVE
    return parser


_ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|obj|exc|ref|doc|math):`~?([^`<]*?)(?:\s*<[^>]*>)?`")


def plain(doc: str | None) -> str:
    """A docstring without reST markup, for ``--help`` (``x`` -> x, :mod:`a.b` -> a.b).

    Examples
    --------
    >>> plain("see :mod:`analogsim.data.config` and ``--config FILE``")
    'see analogsim.data.config and --config FILE'
    """
    if not doc:
        return ""
    text = _ROLE.sub(lambda m: m.group(1).strip(), doc)
    text = text.replace("``", "")
    return re.sub(r"(?<![\w`])`([^`]+)`(?!`)", r"\1", text)


def progress(iterable=None, total=None, desc: str = "", disable: bool | None = None, **kw):
    """A tqdm progress bar on stderr (hidden when stderr is not a terminal unless forced)."""
    from tqdm.auto import tqdm

    if disable is None:
        disable = not sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, disable=disable, leave=False, **kw)


def add_progress_flags(parser) -> None:
    """``--progress/--no-progress``: a bar on a terminal, timestamped lines otherwise (default on)."""
    parser.add_argument("--progress", dest="progress", action="store_true", default=None,
                        help="report progress on stderr: a bar on a terminal, a timestamped line every 30 s "
                             "otherwise (default; ANALOGSIM_PROGRESS_INTERVAL sets the seconds)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress reports")


def check_output_path(path, option: str) -> Path:
    """Refuse, before any work, an output file that cannot be written (a folder, a missing or read-only folder).

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> check_output_path(os.path.join(d, "out.npz"), "--out").name
    'out.npz'
    """
    p = Path(path)
    if p.exists() and p.is_dir():
        raise ValueError(f"{option} {str(p)!r} is a folder; give a file name, e.g. {str(p / 'out.npz')!r}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise ValueError(f"{option} {str(p)!r}: the folder {str(parent)!r} does not exist; create it first")
    if not parent.is_dir():
        raise ValueError(f"{option} {str(p)!r}: {str(parent)!r} is not a folder")
    import tempfile

    try:  # the real test: create (and remove) a file where the atomic write will create its temporary one
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{option} {str(p)!r}: cannot write in the folder {str(parent)!r} "
                         f"({exc.strerror or exc}); choose a writable location") from None
    return p


def write_or_rescue(path, data: bytes, option: str) -> tuple[str, str | None]:
    """Write ``data`` atomically to ``path``; if that fails, keep it in a temporary file and say where.

    Returns ``(where_written, error or None)``: a finished computation is never lost.
    """
    import tempfile

    from .._io import atomic_write_bytes

    try:
        atomic_write_bytes(path, data)
        return str(path), None
    except OSError as exc:
        err = f"{type(exc).__name__}: {exc}"
    name = Path(path).name or "result.npz"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        try:
            fd, tmp = tempfile.mkstemp(prefix=f"analogsim-rescued-", suffix=f"-{name}", dir=folder)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            print(f"analogsim: error: could not write {option} {str(path)!r} ({err}); the result is kept in "
                  f"{tmp}", file=sys.stderr)
            return tmp, err
        except OSError:
            continue
    print(f"analogsim: error: could not write {option} {str(path)!r} ({err}) nor a rescue copy", file=sys.stderr)
    return "", err


#: the measured books beside Eq. 15's prediction, in the order the summary shows them
ENERGY_BOOKS = (("W_sw", "switching work (measured)"), ("Q_x", "neuron heat (measured)"),
                ("Q_theta", "parameter heat (measured)"), ("W_eq15", "Eq. 15 prediction mu tau <|g|^2>"))


def energy_lines(energy: dict) -> list:
    """Text lines of :func:`energy_report`: one per book, four units side by side.

    Examples
    --------
    >>> e = {k: {"natural": 1.0, "kT": 1.0, "J": 4e-21, "bits": 1.44, "se": None} for k, _ in ENERGY_BOOKS}
    >>> e.update(energetics=True, first_law_relative=None, units={"note": "T = 300 K"})
    >>> energy_lines(e)[0].split()[:4]
    ['W_sw', '1', 'energy', 'units']
    """
    def f(v):
        return "n/a" if v is None else f"{v:.4g}"

    lines = []
    for key, what in ENERGY_BOOKS:
        r = energy[key]
        if r["natural"] is None and not energy["energetics"] and key != "W_eq15":
            lines.append(f"{key:28s} not booked (--no-energetics)")
            continue
        se = f" ± {f(r['se'])}" if r.get("se") is not None else ""
        lines.append(f"{key:28s} {f(r['natural'])}{se} energy units = {f(r['kT'])} kT = {f(r['J'])} J = "
                     f"{f(r['bits'])} bit  ({what})")
    if energy.get("first_law_relative") is not None:
        lines.append(f"{'first_law_relative':28s} {energy['first_law_relative']:.3g}")
    lines.append(f"{'units':28s} {energy['units']['note']}")
    return lines


def energy_report(res, temperature_K=None, energy_unit_J=None) -> dict:
    """The measured books W_sw, Q_x, Q_theta and Eq. 15's W_eq15, each in energy units, kT, joules and bits.

    Returns ``{"W_sw": {"natural", "kT", "J", "bits", "se"}, ..., "first_law_relative": r, "energetics": bool,
    "units": RunUnits.as_dict()}``; values that are not defined (books off, kT = 0) are None.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> b = NS(W_sw=3.0, Q_x=1.0, Q_theta=2.0, W_eq15=2.0, W_sw_se=0.1, Q_x_se=0.1, Q_theta_se=0.1, W_eq15_se=0.1,
    ...        kT_mean=1.0, energetics=True, first_law_relative=1e-15)
    >>> r = energy_report(NS(books=b), energy_unit_J=1e-21)
    >>> r["Q_theta"]["J"], round(r["Q_theta"]["bits"], 3)
    (2e-21, 2.885)
    """
    import math

    from ..bounds.units import RunUnits

    b = res.books
    u = RunUnits.of(b.kT_mean, temperature_K=temperature_K, energy_unit_J=energy_unit_J)

    def clean(v):
        v = float(v)
        return v if math.isfinite(v) else None

    out = {}
    for key, _ in ENERGY_BOOKS:
        rep = {k: clean(v) for k, v in u.report(getattr(b, key)).items()}
        rep["se"] = clean(getattr(b, f"{key}_se", float("nan")))
        out[key] = rep
    out["first_law_relative"] = clean(getattr(b, "first_law_relative", float("nan")))
    out["energetics"] = bool(getattr(b, "energetics", False))
    out["units"] = u.as_dict()
    return out
