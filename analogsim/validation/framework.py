r"""Claim results, criteria with their verdict rules, the run context and the report writer.

The framework that every claim module plugs into
------------------------------------------------
A claim module ``analogsim.validation.<name>`` (listed in :data:`CLAIMS`) defines

* ``NAME``, ``TITLE`` and ``STATEMENT`` (what the paper says, in one or two sentences), and
* ``run(ctx) -> ClaimResult``: it runs the simulator, and returns :class:`Criterion` objects built with
  :func:`at_least`, :func:`at_most`, :func:`within` or :func:`consistent` (never by hand), plus a table,
  figures and a comment whose numbers all come from the run.

That is the whole API. A claim whose statement has no measurable consequence in the simulator yet returns
``ClaimResult(..., criteria=[], not_testable="what would test it")`` (or only criteria of kind
``"identity"``, which are printed but not judged); its verdict is *not testable here*. A claim module that
has not yet been rebuilt around a measurement (it does not set the module attribute ``MEASURED = True``) and
is listed in :data:`AWAITING_MEASUREMENT` is reported as *not testable here* with the reason given there; its
criteria are printed as identities. The dynamic analog machine (claim 4) is such a module today: once it judges
a simulated erasure it sets ``MEASURED = True`` and its criteria are judged like every other claim's.

Criteria
--------
A criterion is a measured number ``x`` with a standard error ``se`` against a written rule:

* ``kind="check"``: the simulator must pass it (an analytic answer, a known limit);
* ``kind="paper"``: a statement of the paper put to test; it carries ``quote``, the paper's sentence or
  equation verbatim, and its rule has the statement's form (``≳``: one-sided; ``≈``: a stated tolerance;
  ``= 0``: a limit, tested as a trend);
* ``kind="identity"``: holds by algebra for any input; printed, never judged (identities belong in tests).

Every judged criterion has ``se > 0`` or an ``exact`` string saying why its number has no statistical error.
Its *margin* is the signed distance from the threshold in standard errors (positive: the rule holds). A
margin under 1 SE is *undecided at this size*: the criterion names the ``--full`` setting that decides it
(``decides``) and it does not enter the claim's verdict. This keeps verdicts from flipping with the seed.

Verdicts (:attr:`ClaimResult.verdict`)
--------------------------------------
* **pass**: every decided criterion holds as printed;
* **holds as a limit**: every decided criterion holds, and the statement holds only in the limit the claim
  names (``limit``); the report gives the measured deviation outside it;
* **qualified**: the simulator's checks hold; a statement of the paper holds in a regime the claim names and
  not outside it (the failing criterion of kind *paper* says by how much);
* **does not hold**: the simulator's checks hold and the paper's statement is contradicted, by more than its
  uncertainty, everywhere it was tried;
* **fail**: a check of the simulator failed;
* **not testable here**: nothing in the simulator can falsify the statement; the claim says what would;
* **error**: the claim could not run.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

from .report import VERDICT_HELP, _cell, _fmt, verdict_table, write_report  # noqa: F401  (part of this module's API)

log = logging.getLogger(__name__)

# report order; module names in analogsim.validation
CLAIMS = ["equilibrium", "stress", "quasistatic", "dynamic_inference", "training", "digital_vs_analog", "iem"]

#: claims whose module does not yet judge a simulated measurement (no ``MEASURED = True``): name -> what would
AWAITING_MEASUREMENT = {
    "dynamic_inference": (
        "Eq. 5 is a Landauer count of reset bits: evaluated on a measured activity nu_a it holds for any input, so "
        "the count alone cannot falsify it. What tests it: the work measured while a simulated double-well "
        "memory (barrier, tilt, temperature) erases the relu state bits of real inferences, compared with "
        "-kT nu (p ln p + (1-p) ln(1-p)), as the protocol time grows."),
}

VERDICTS = ("pass", "holds as a limit", "qualified", "does not hold", "fail", "not testable here", "error")



@dataclass
class Criterion:
    """One judged number: ``measured ± uncertainty`` against ``rule``; build it with :func:`at_least` & co.

    ``margin`` is the signed distance from the threshold in standard errors (``inf`` when ``exact``);
    ``passed`` is True when the rule holds (and is decided); ``decided`` is False for a margin under 1 SE.

    Examples
    --------
    >>> c = at_least("Gamma", 1.05, 0.05, 0.9)
    >>> c.passed, c.decided, round(c.margin, 6), c.status
    (True, True, 3.0, 'holds')
    >>> c.describe()
    'Gamma: 1.05 ± 0.05 (x ≥ 0.9; holds)'
    """

    name: str
    measured: float
    uncertainty: float
    rule: str
    passed: bool
    kind: str = "check"   # "check" | "paper" | "identity"
    quote: str = ""       # kind "paper": the paper's sentence or equation, verbatim
    exact: str = ""       # why the uncertainty is zero (deterministic arithmetic, ...)
    margin: float = float("nan")
    decided: bool = True
    decides: str = ""     # the --full setting that decides an undecided criterion
    note: str = ""

    def __post_init__(self):
        if self.kind not in ("check", "paper", "identity"):
            raise ValueError(f"kind must be 'check', 'paper' or 'identity', got {self.kind!r}")
        if self.kind == "paper" and not self.quote:
            raise ValueError(f"criterion {self.name!r} of kind 'paper' needs the paper's sentence (quote)")

    @property
    def status(self) -> str:
        if self.kind == "identity":
            return "identity"
        if not self.decided:
            return "undecided at this size"
        return "holds" if self.passed else "does not hold"

    def describe(self) -> str:
        unc = f" ± {_fmt(self.uncertainty)}" if self.uncertainty and math.isfinite(self.uncertainty) else " (exact)"
        return f"{self.name}: {_fmt(self.measured)}{unc} ({self.rule}; {self.status})"


def _judge(name, x, se, margin_value, rule, kind, quote, exact, decides, note):
    """Classify a criterion from its margin ``margin_value`` (in units of x) and its SE."""
    x = float(x)
    se = float(se) if se is not None else float("nan")
    if not exact and not (math.isfinite(se) and se > 0):
        raise ValueError(f"criterion {name!r}: uncertainty must be > 0 or exact must say why it is exact, got {se!r}")
    if not math.isfinite(x):
        return Criterion(name, x, se, rule, False, kind, quote, exact, float("-inf"), True, decides, note)
    if exact:
        m = math.copysign(math.inf, margin_value) if margin_value != 0 else 0.0
        return Criterion(name, x, 0.0 if not math.isfinite(se) else se, rule, margin_value >= 0, kind, quote, exact,
                         m, True, decides, note)
    m = margin_value / se
    decided = abs(m) >= 1.0
    return Criterion(name, x, se, rule, bool(m >= 1.0), kind, quote, exact, float(m), decided, decides, note)


def at_least(name, x, se, low, *, kind="check", quote="", exact="", decides="", note="", form="≥") -> Criterion:
    """Holds when ``x >= low`` by at least one SE (one-sided, for ``≳`` statements).

    Examples
    --------
    >>> at_least("slope", 0.98, 0.01, 0.9).passed
    True
    >>> at_least("slope", 0.905, 0.01, 0.9).status         # within 1 SE of the threshold
    'undecided at this size'
    """
    return _judge(name, x, se, float(x) - low, f"x {form} {_fmt(low)}", kind, quote, exact, decides, note)


def at_most(name, x, se, high, *, kind="check", quote="", exact="", decides="", note="", form="≤") -> Criterion:
    """Holds when ``x <= high`` by at least one SE.

    Examples
    --------
    >>> at_most("residual", 1e-14, 0.0, 1e-12, exact="deterministic arithmetic").passed
    True
    """
    return _judge(name, x, se, high - float(x), f"x {form} {_fmt(high)}", kind, quote, exact, decides, note)


def within(name, x, se, target, tol, *, kind="check", quote="", exact="", decides="", note="",
           form="≈") -> Criterion:
    """Holds when ``|x - target| <= tol`` (a stated tolerance) by at least one SE.

    Examples
    --------
    >>> within("ratio", 1.11, 0.01, 1.0, 0.25).passed, within("ratio", 0.12, 0.01, 1.0, 0.25).passed
    (True, False)
    """
    return _judge(name, x, se, tol - abs(float(x) - target), f"x {form} {_fmt(target)} ± {_fmt(tol)}", kind, quote,
                  exact, decides, note)


def consistent(name, x, se, target, n_se=4.0, *, kind="check", quote="", decides="", note="") -> Criterion:
    """Statistical consistency with an exact answer: ``|x - target| <= n_se SE`` (margin n_se - |z|).

    Examples
    --------
    >>> c = consistent("equipartition", 1.005, 0.003, 1.0)      # z = 1.7 < 4
    >>> c.passed, c.rule
    (True, '|x - 1| <= 4 SE')
    """
    x = float(x)
    se = float(se)
    if not (math.isfinite(se) and se > 0):
        raise ValueError(f"criterion {name!r}: consistency needs an uncertainty > 0, got {se!r}")
    return _judge(name, x, se, (n_se * se - abs(x - target)), f"|x - {_fmt(target)}| <= {n_se:g} SE", kind, quote,
                  "", decides, note)


def identity(name, x, rule, note="") -> Criterion:
    """A relation that holds by algebra (printed, not judged).

    Examples
    --------
    >>> c = identity("Eq. 19 minus 1", 0.0, "= 0 (Carnot)")
    >>> c.kind, c.status
    ('identity', 'identity')
    """
    return Criterion(name, float(x), 0.0, rule, True, "identity", "", "algebraic identity", float("inf"), True, "",
                     note)


@dataclass
class ClaimResult:
    """The outcome of one claim: its criteria, figures and table, and the verdict they imply.

    Examples
    --------
    >>> r = ClaimResult("demo", "A demo claim", "x is 1", [consistent("x", 1.01, 0.01, 1.0)])
    >>> r.verdict
    'pass'
    >>> ClaimResult("demo", "A demo claim", "x is 1", [consistent("x", 1.01, 0.01, 1.0)], limit="n -> oo").verdict
    'holds as a limit'
    """

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
    limit: str = ""                                 # the limit/regime in which the statement holds
    not_testable: str = ""                          # what would test a statement the simulator cannot falsify

    @property
    def judged(self) -> list:
        return [c for c in self.criteria if c.kind in ("check", "paper") and c.decided]

    @property
    def undecided(self) -> list:
        return [c for c in self.criteria if c.kind in ("check", "paper") and not c.decided]

    @property
    def verdict(self) -> str:
        """One of :data:`VERDICTS` (definitions in the module docstring)."""
        if self.error is not None:
            return "error"
        if self.not_testable:
            return "not testable here"
        judged = self.judged
        if not judged:
            return "not testable here" if not self.undecided else "undecided at this size"
        if any(not c.passed for c in judged if c.kind == "check"):
            return "fail"
        paper = [c for c in judged if c.kind == "paper"]
        bad = [c for c in paper if not c.passed]
        if bad:
            return "qualified" if (self.limit or len(bad) < len(paper)) else "does not hold"
        return "holds as a limit" if self.limit else "pass"

    def summary(self) -> dict:
        return {"name": self.name, "verdict": self.verdict,
                "criterion": "; ".join(c.describe() for c in self.criteria) or (self.error or self.not_testable),
                "undecided": [c.name for c in self.undecided], "figures": list(self.figures)}


@dataclass
class Context:
    """What a claim needs to run: the mode, where to write, the master seed and how to map work over workers.

    Examples
    --------
    >>> ctx = Context(mode="quick")
    >>> ctx.full, ctx.map(abs, [-1, 2])
    (False, [1, 2])
    """

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


def bootstrap_slope(x, y, y_se, n_boot: int = 400, seed: int = 0) -> tuple[float, float]:
    """Least-squares slope of ``y`` against ``x`` and its parametric-bootstrap SE.

    Each point is an independent measurement (its own seed, chain or replica set) with standard error
    ``y_se``; the bootstrap redraws every point from N(y, y_se) and refits. Returns (slope, SE).

    Examples
    --------
    >>> s, se = bootstrap_slope([0, 1, 2, 3], [0.0, 1.0, 2.0, 3.0], [0.1] * 4)
    >>> round(s, 6), 0.02 < se < 0.08
    (1.0, True)
    """
    import numpy as np

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    y_se = np.broadcast_to(np.asarray(y_se, float), y.shape)
    slope = float(np.polyfit(x, y, 1)[0])
    rng = np.random.default_rng(seed)
    ys = y + rng.standard_normal((n_boot, y.size)) * y_se
    A = np.vstack([x, np.ones_like(x)]).T
    coef = np.linalg.lstsq(A, ys.T, rcond=None)[0]
    return slope, float(np.std(coef[0], ddof=1))


def run_validation(mode: str = "quick", out="validation-report", claims=None, executor=None, progress=None,
                   resume: bool = False, seed: int = 20251125):
    """Run the claims and write ``report.md``, ``report.json``, ``verdicts.md`` and the figures into ``out``.

    Returns the list of :class:`ClaimResult`. A claim that raises is reported with verdict "error";
    the others still run. The report is rewritten atomically after each claim, so an interrupted run
    leaves a complete report of the claims finished so far. ``seed`` is the master seed every claim derives
    its randomness from (``analogsim validate --seed``).

    With ``resume=True`` the claims that ``out/report.json`` already holds from a run with the same mode, seed
    and analogsim version (no error, figures present) are taken from it instead of being run again (their
    ``resumed`` flag is set); the others run. This continues a killed run.

    Examples
    --------
    A real run takes minutes (``analogsim validate --quick``). Here a report folder already holds a finished
    claim, so resuming takes it from ``report.json`` without running it again and rewrites the report:

    >>> import os, tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     done = ClaimResult("equilibrium", "Equilibrium", "x is 1", [consistent("x", 1.01, 0.01, 1.0)])
    ...     write_report([done], Path(d), "quick", 20251125)
    ...     res = run_validation("quick", d, claims=["equilibrium"], resume=True)
    ...     files = sorted(os.listdir(d))
    >>> [(r.name, r.verdict, r.resumed) for r in res], files
    ([('equilibrium', 'pass', True)], ['report.json', 'report.md', 'verdicts.md'])
    """
    if mode not in ("quick", "full"):
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    names = list(CLAIMS if not claims else claims)
    unknown = [n for n in names if n not in CLAIMS]
    if unknown:
        raise ValueError(f"claims: unknown claim(s) {unknown}; expected some of {CLAIMS}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out must be a report folder, got the file {str(out)!r}; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(out)
    ctx = Context(mode=mode, out=out, executor=executor, seed=seed)
    done = finished_claims(out, mode, seed) if resume else {}
    results = []
    for i, name in enumerate(names):
        if name in done:
            log.info("claim %s: already finished in %s (resumed)", name, out)
            results.append(done[name])
            continue
        mod = importlib.import_module(f"analogsim.validation.{name}")
        t0 = time.perf_counter()
        log.info("claim %s: running (%s, seed %d)", name, mode, seed)
        try:
            res = mod.run(ctx)
            _apply_awaiting(name, mod, res)
        except Exception as exc:  # a broken claim must not hide the others
            log.exception("claim %s failed", name)
            res = ClaimResult(name, mod.TITLE, mod.STATEMENT, [], error=f"{type(exc).__name__}: {exc}")
        res.seconds = time.perf_counter() - t0
        results.append(res)
        if progress is not None:
            progress(res)
        # the claims still to come that an earlier run finished stay in the report while this one runs
        write_report(results + [done[n] for n in names[i + 1:] if n in done], out, mode, seed)
    write_report(results, out, mode, seed)  # exactly these claims, whichever of them ran or were resumed
    return results


def _apply_awaiting(name, mod, res) -> None:
    """A claim listed in AWAITING_MEASUREMENT whose module does not set MEASURED: not testable, criteria printed."""
    if name in AWAITING_MEASUREMENT and not getattr(mod, "MEASURED", False) and not res.not_testable:
        res.not_testable = AWAITING_MEASUREMENT[name]
        res.criteria = [Criterion(c.name, c.measured, c.uncertainty, c.rule, True, "identity", exact="identity",
                                  margin=float("inf")) for c in res.criteria]


def _remove_stale_temps(out: Path) -> None:
    """Remove what a killed run's atomic writes left behind (``.report.md.XXXX.tmp``, figures' temp files)."""
    for pattern in (".report.md.*.tmp", ".report.json.*.tmp", ".verdicts.md.*.tmp", "figures/.*.tmp"):
        for p in out.glob(pattern):
            try:
                p.unlink()
                log.info("removed %s (left by an interrupted run)", p)
            except OSError:
                pass


_CRIT_FIELDS = {f.name for f in fields(Criterion)}
_CLAIM_FIELDS = ("limit", "not_testable")


def finished_claims(out, mode: str, seed: int | None = None) -> dict:
    """Claims finished by an earlier run in ``out`` (same mode, seed and version), read from ``report.json``.

    Returns name -> :class:`ClaimResult` (``resumed=True``). Claims with verdict "error" or a missing
    figure are left out (they run again); an unreadable report or one of another mode, seed or version gives
    an empty dict.

    Examples
    --------
    >>> import tempfile
    >>> finished_claims(tempfile.mkdtemp(), "quick")             # nothing there yet
    {}
    """
    from .. import __version__

    path = Path(out) / "report.json"
    if not path.exists():
        return {}
    try:
        info = json.loads(path.read_text())
        if not isinstance(info, dict) or info.get("mode") != mode or info.get("version") != __version__ \
                or (seed is not None and info.get("seed") != seed):
            log.info("not resuming from %s: mode/seed/version differ from this run's %s/%s/%s", path, mode, seed,
                     __version__)
            return {}
        done = {}
        for c in info["claims"]:
            crit = [Criterion(**{k: v for k, v in k_.items() if k in _CRIT_FIELDS}) for k_ in c["criteria"]]
            res = ClaimResult(str(c["name"]), str(c["title"]), str(c["statement"]), crit, list(c["table"]),
                              list(c["figures"]), str(c["comment"]), float(c["seconds"]), c["error"], resumed=True,
                              **{k: str(c.get(k, "")) for k in _CLAIM_FIELDS})
            if res.name in CLAIMS and res.error is None and (res.criteria or res.not_testable) \
                    and all((Path(out) / f).is_file() for f in res.figures):
                done[res.name] = res
        return done
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("not resuming from %s: unreadable (%s); running every claim", path, exc)
        return {}


# ---------------------------------------------------------------- legacy builders (modules not yet rebuilt)
def criterion_bound(name: str, measured: float, se: float, low=None, high=None, kind: str = "check") -> Criterion:
    """Deprecated: low <= measured <= high without a margin (use :func:`at_least`/:func:`at_most`).

    Examples
    --------
    >>> criterion_bound("slope", 1.0, 0.01, low=0.98, high=1.02).rule
    'x >= 0.98 and <= 1.02'
    """
    ok = math.isfinite(measured)
    parts = []
    if low is not None:
        ok &= measured >= low
        parts.append(f">= {_fmt(low)}")
    if high is not None:
        ok &= measured <= high
        parts.append(f"<= {_fmt(high)}")
    return Criterion(name, float(measured), float(se), "x " + " and ".join(parts), bool(ok),
                     "check" if kind == "paper" else kind, exact="" if se else "not stated")
