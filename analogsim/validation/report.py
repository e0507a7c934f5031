"""The validation report's files: ``report.md``, ``report.json`` and ``verdicts.md``, written from the numbers.

Every sentence of the report is generated from the criteria of the claims (:mod:`.framework`); nothing is
written by hand. Formatting helpers (:func:`_fmt`, :func:`_cell`) are shared with the criterion builders.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

from .._io import atomic_write_json, atomic_write_text

VERDICT_HELP = (
    "**pass**: every decided criterion holds as printed. "
    "**holds as a limit**: every decided criterion holds, and the statement is true only in the limit the claim "
    "names; the report gives the measured deviation outside it. "
    "**qualified**: the simulator's checks hold; a statement of the paper holds in a regime the report names and "
    "not outside it (the criterion of kind *paper* that fails says by how much). "
    "**does not hold**: the simulator's checks hold and the paper's statement is contradicted by more than its "
    "uncertainty everywhere it was tried. "
    "**fail**: a check of the simulator failed. "
    "**not testable here**: nothing in the simulator can falsify the statement; the report says what would. "
    "**error**: the claim could not run. "
    "A criterion's *margin* is its signed distance from the threshold in standard errors (positive: holds); "
    "under 1 SE it is *undecided at this size*, names the `--full` setting that decides it, and does not enter the "
    "verdict. Kinds: *check* (the simulator must pass it), *paper* (a statement of the paper, quoted verbatim, "
    "with a rule of the statement's form: ≳ one-sided, ≈ a stated tolerance, = 0 a limit), *identity* (holds by "
    "algebra; printed, not judged).")


def _fmt(x) -> str:
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.4g}"
    return f"{x:.3e}"


def _cell(text) -> str:
    """Text safe inside a Markdown table cell (a literal | would split the cell)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _margin_text(c) -> str:
    if c.kind == "identity":
        return "-"
    if c.exact:
        return "exact"
    return f"{c.margin:+.1f}"


def verdict_table(results) -> str:
    """The Markdown verdict table (claim, verdict, the deciding numbers) for a README.

    Examples
    --------
    >>> from analogsim.validation.framework import ClaimResult, consistent
    >>> r = ClaimResult("demo", "A demo claim", "x is 1", [consistent("x", 1.01, 0.01, 1.0)])
    >>> row = verdict_table([r]).splitlines()[2]
    >>> row.startswith("| A demo claim | **pass** |")
    True
    """
    lines = ["| claim | verdict | what decides it |", "|---|---|---|"]
    for r in results:
        if r.not_testable or not r.criteria:
            why = r.not_testable.split(". What")[0] if r.not_testable else (r.error or "")
        else:
            key = [c for c in r.criteria if c.kind == "paper"] or [c for c in r.criteria if c.kind == "check"]
            bad = [c for c in key if c.decided and not c.passed]
            why = "; ".join(c.describe() for c in (bad or key)[:2])
        und = f" ({len(r.undecided)} undecided)" if r.undecided else ""
        lines.append(f"| {_cell(r.title)} | **{r.verdict}**{und} | {_cell(why)} |")
    return "\n".join(lines) + "\n"


def write_report(results, out: Path, mode: str, seed: int = 20251125) -> None:
    """Write ``report.md``, ``report.json`` and ``verdicts.md`` for ``results`` into ``out`` (atomically).

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from analogsim.validation.framework import ClaimResult, consistent
    >>> out = Path(tempfile.mkdtemp())
    >>> write_report([ClaimResult("demo", "A demo claim", "x is 1", [consistent("x", 1.01, 0.01, 1.0)])], out, "quick")
    >>> json.loads((out / "report.json").read_text())["claims"][0]["verdict"]
    'pass'
    """
    from .. import __version__

    lines = [f"# analogsim validation report ({mode})", "",
             f"analogsim {__version__}, master seed {seed}. Each claim of Tkachenko's paper (and of the IEM papers) "
             "is measured on the simulator; a criterion is a measured number with its uncertainty against a written "
             f"rule. Regenerate with `analogsim validate --{mode} --seed {seed} --out DIR`.", "",
             "Verdicts: " + VERDICT_HELP, "",
             "| claim | verdict | undecided criteria | time |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| [{r.title}](#{r.name}) | **{r.verdict}** | {len(r.undecided)} | {r.seconds:.0f} s |")
    for r in results:
        lines += ["", f'<a id="{r.name}"></a>', f"## {r.title}", "", f"> Paper: {r.statement}", "",
                  f"**Verdict: {r.verdict}.**", ""]
        if r.limit:
            lines += [f"Holds in the limit/regime: {r.limit}", ""]
        if r.not_testable:
            lines += [f"Not testable here: {r.not_testable}", ""]
        if r.error:
            lines += [f"**Error while running this claim:** `{r.error}`", ""]
        if r.criteria:
            lines += ["| criterion | measured | uncertainty | rule | kind | margin (SE) | result |",
                      "|---|---|---|---|---|---|---|"]
            for c in r.criteria:
                unc = _fmt(c.uncertainty) if c.uncertainty else f"exact: {c.exact}"
                res = {"holds": "holds", "does not hold": ("**FAIL**" if c.kind == "check" else
                                                           "**does not hold as printed**"),
                       "identity": "identity (not judged)"}.get(c.status, f"undecided at this size; {c.decides}")
                lines.append(f"| {_cell(c.name)} | {_fmt(c.measured)} | {_cell(unc)} | {_cell(c.rule)} | {c.kind} | "
                             f"{_margin_text(c)} | {_cell(res)} |")
            lines.append("")
            quotes = [(c.name, c.quote) for c in r.criteria if c.quote]
            for name, q in quotes:
                lines.append(f"- *{name}* tests: \u201c{q}\u201d")
            notes = [(c.name, c.note) for c in r.criteria if c.note]
            for name, n in notes:
                lines.append(f"- *{name}*: {n}")
            if quotes or notes:
                lines.append("")
        if r.table:
            lines += ["| quantity | paper | measured | comment |", "|---|---|---|---|"]
            for row in r.table:
                lines.append("| " + " | ".join(_cell(row.get(k, "")) for k in ("quantity", "paper", "measured", "comment"))
                             + " |")
            lines.append("")
        for fig in r.figures:
            lines.append(f"![{Path(fig).stem}]({fig})")
        if r.comment:
            lines += ["", r.comment]
        lines.append("")
    atomic_write_text(out / "report.md", "\n".join(lines))
    atomic_write_text(out / "verdicts.md", verdict_table(results))
    atomic_write_json(out / "report.json", {
        "mode": mode, "version": __version__, "seed": seed,
        "claims": [{**r.summary(), "title": r.title, "statement": r.statement, "comment": r.comment,
                    "seconds": r.seconds, "error": r.error, "table": r.table, "limit": r.limit,
                    "not_testable": r.not_testable,
                    "criteria": [{**asdict(c), "status": c.status} for c in r.criteria]} for r in results]})
