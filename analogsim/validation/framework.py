"""Claim results, the run context (quick/full, output folder, executor) and the report writer."""

from __future__ import annotations

import importlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

# report order; module names in analogsim.validation
CLAIMS = ["equilibrium", "stress", "quasistatic", "dynamic_inference", "training", "digital_vs_analog", "iem"]


@dataclass
class Criterion:
    """One pass/fail test: ``measured ± uncertainty`` against ``threshold`` (``rule`` says how)."""

    name: str
    measured: float
    uncertainty: float
    rule: str
    passed: bool
    kind: str = "check"   # "check": the simulator must pass it; "paper": a statement of the paper put to test


    def describe(self) -> str:
        unc = "" if not math.isfinite(self.uncertainty) or self.uncertainty == 0 else f" ± {_fmt(self.uncertainty)}"
        return f"{self.name}: {_fmt(self.measured)}{unc} ({self.rule})"


@dataclass
class ClaimResult:
    name: str
    title: str
    statement: str
    criteria: list
    table: list = field(default_factory=list)      # rows: {"quantity", "paper", "measured", "comment"}
    figures: list = field(default_factory=list)    # paths relative to the report folder
    comment: str = ""
    seconds: float = 0.0
    error: str | None = None
    resumed: bool = False                           # taken from an earlier run's report.json (resume)

    @property
    def verdict(self) -> str:
        """pass; qualified (the simulator's checks pass but a statement of the paper does not hold as
        printed); fail (a check of the simulator failed); error (the claim could not run)."""
        if self.error is not None:
            return "error"
        if not self.criteria or not all(c.passed for c in self.criteria if c.kind == "check"):
            return "fail"
        return "pass" if all(c.passed for c in self.criteria) else "qualified"

    def summary(self) -> dict:
        return {"name": self.name, "verdict": self.verdict,
                "criterion": "; ".join(c.describe() for c in self.criteria) or (self.error or ""),
                "figures": list(self.figures)}


@dataclass
class Context:
    """What a claim needs to run: the mode, where to write, and how to map work over workers."""

    mode: str = "quick"                 # "quick" or "full"
    out: Path = Path("validation-report")
    executor: object = None             # analogsim.validation.executors.Executor
    seed: int = 20251125

    @property
    def full(self) -> bool:
        return self.mode == "full"

    def figure_path(self, name: str) -> Path:
        p = self.out / "figures" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def map(self, fn, items):
        """Run ``fn`` (a module-level function) over ``items`` on the executor, results in order."""
        if self.executor is None:
            return [fn(i) for i in items]
        return self.executor.map(fn, items)


def criterion_within(name: str, measured: float, se: float, target: float, n_se: float = 4.0,
                     rel_slack: float = 0.0, kind: str = "check") -> Criterion:
    """|measured - target| <= n_se * se + rel_slack * |target|."""
    tol = n_se * se + rel_slack * abs(target)
    ok = bool(math.isfinite(measured) and abs(measured - target) <= tol)
    slack = f" + {rel_slack:g}·|target|" if rel_slack else ""
    return Criterion(name, float(measured), float(se), f"|x - {_fmt(target)}| <= {n_se:g} SE{slack}", ok, kind)


def criterion_bound(name: str, measured: float, se: float, low=None, high=None, kind: str = "check") -> Criterion:
    ok = math.isfinite(measured)
    parts = []
    if low is not None:
        ok &= measured >= low
        parts.append(f">= {_fmt(low)}")
    if high is not None:
        ok &= measured <= high
        parts.append(f"<= {_fmt(high)}")
    return Criterion(name, float(measured), float(se), "x " + " and ".join(parts), bool(ok), kind)


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


def run_validation(mode: str = "quick", out="validation-report", claims=None, executor=None, progress=None,
                   resume: bool = False):
    """Run the claims and write ``report.md``, ``report.json`` and the figures into ``out``.

    Returns the list of :class:`ClaimResult`. A claim that raises is reported with verdict "error";
    the others still run. The report is rewritten atomically after each claim, so an interrupted run
    leaves a complete report of the claims finished so far.

    With ``resume=True`` the claims that ``out/report.json`` already holds from a run with the same mode
    and analogsim version (verdict pass, qualified or fail, figures present) are taken from it instead of
    being run again (their ``resumed`` flag is set); the others run. This continues a killed run.
    """
    if mode not in ("quick", "full"):
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    names = list(CLAIMS if not claims else claims)
    unknown = [n for n in names if n not in CLAIMS]
    if unknown:
        raise ValueError(f"claims: unknown claim(s) {unknown}; expected some of {CLAIMS}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out must be a report folder, got the file {str(out)!r}; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(out)
    ctx = Context(mode=mode, out=out, executor=executor)
    done = finished_claims(out, mode) if resume else {}
    results = []
    for name in names:
        if name in done:
            log.info("claim %s: already finished in %s (resumed)", name, out)
            results.append(done[name])
            continue
        mod = importlib.import_module(f"analogsim.validation.{name}")
        t0 = time.perf_counter()
        log.info("claim %s: running (%s)", name, mode)
        try:
            res = mod.run(ctx)
        except Exception as exc:  # a broken claim must not hide the others
            log.exception("claim %s failed", name)
            res = ClaimResult(name, mod.TITLE, mod.STATEMENT, [], error=f"{type(exc).__name__}: {exc}")
        res.seconds = time.perf_counter() - t0
        results.append(res)
        if progress is not None:
            progress(res)
        write_report(results, out, mode)
    if not results or all(r.resumed for r in results):
        write_report(results, out, mode)  # nothing ran: the report still lists exactly these claims
    return results


def _remove_stale_temps(out: Path) -> None:
    """Remove what a killed run's atomic writes left behind (``.report.md.XXXX.tmp``, figures' temp files)."""
    for pattern in (".report.md.*.tmp", ".report.json.*.tmp", "figures/.*.tmp"):
        for p in out.glob(pattern):
            try:
                p.unlink()
                log.info("removed %s (left by an interrupted run)", p)
            except OSError:
                pass


def finished_claims(out, mode: str) -> dict:
    """Claims finished by an earlier run in ``out`` (same mode and version), read from ``report.json``.

    Returns name -> :class:`ClaimResult` (``resumed=True``). Claims with verdict "error" or a missing
    figure are left out (they run again); an unreadable report or one of another mode or version gives
    an empty dict.
    """
    from .. import __version__

    path = Path(out) / "report.json"
    if not path.exists():
        return {}
    try:
        info = json.loads(path.read_text())
        if not isinstance(info, dict) or info.get("mode") != mode or info.get("version") != __version__:
            log.info("not resuming from %s: mode/version %s/%s, this run %s/%s", path,
                     info.get("mode") if isinstance(info, dict) else None,
                     info.get("version") if isinstance(info, dict) else None, mode, __version__)
            return {}
        done = {}
        for c in info["claims"]:
            res = ClaimResult(str(c["name"]), str(c["title"]), str(c["statement"]),
                              [Criterion(**k) for k in c["criteria"]], list(c["table"]), list(c["figures"]),
                              str(c["comment"]), float(c["seconds"]), c["error"], resumed=True)
            if res.name in CLAIMS and res.error is None and res.criteria \
                    and all((Path(out) / f).is_file() for f in res.figures):
                done[res.name] = res
        return done
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("not resuming from %s: unreadable (%s); running every claim", path, exc)
        return {}


def write_report(results, out: Path, mode: str) -> None:
    from .. import __version__

    lines = [f"# analogsim validation report ({mode})", "",
             f"analogsim {__version__}. Each claim of Tkachenko's paper (and of the IEM papers) is measured on "
             "the simulator; a criterion is a measured number with its uncertainty against a written threshold. "
             "Regenerate with `analogsim validate --%s --out DIR`." % mode, "",
             "Verdicts: **pass** (every criterion holds); **qualified** (the simulator's checks hold, but a statement "
             "of the paper does not hold as printed: the criterion of kind *paper* says by how much); **fail** (a "
             "check of the simulator failed); **error** (the claim could not run).", "",
             "| claim | verdict | time |", "|---|---|---|"]
    for r in results:
        lines.append(f"| [{r.title}](#{r.name}) | **{r.verdict}** | {r.seconds:.0f} s |")
    for r in results:
        lines += ["", f'<a id="{r.name}"></a>', f"## {r.title}", "", f"> Paper: {r.statement}", ""]
        if r.error:
            lines += [f"**Error while running this claim:** `{r.error}`", ""]
        if r.criteria:
            lines += ["| criterion | measured | uncertainty | rule | kind | result |", "|---|---|---|---|---|---|"]
            for c in r.criteria:
                res = "pass" if c.passed else ("**FAIL**" if c.kind == "check" else "**does not hold as printed**")
                lines.append(f"| {_cell(c.name)} | {_fmt(c.measured)} | {_fmt(c.uncertainty)} | {_cell(c.rule)} | "
                             f"{c.kind} | {res} |")
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
    atomic_write_json(out / "report.json", {
        "mode": mode, "version": __version__,
        "claims": [{**r.summary(), "title": r.title, "statement": r.statement, "comment": r.comment,
                    "seconds": r.seconds, "error": r.error, "table": r.table,
                    "criteria": [asdict(c) for c in r.criteria]} for r in results]})
