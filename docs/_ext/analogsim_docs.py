"""Sphinx extension of the analogsim site: pages generated at build time, so that nothing is copied by hand.

* ``_generated/api/``: one page per public module of analogsim (found by walking the package, so a new
  module appears without editing the docs), plus the package overview.
* ``_generated/reports/validation.md``: the validation report, rendered from its ``report.json``
  (``analogsim validate --out DIR`` writes it; ``ANALOGSIM_DOCS_REPORT=DIR`` picks a fresh one, else
  ``docs/validation-report-quick.json`` with ``docs/figures/validation/`` when that is committed, else the
  snapshot ``docs/reports/validation-quick.json`` with ``docs/reports/figures/``).
* ``_generated/benchmarks/``: one page per JSON file in ``docs/benchmarks/`` (what the benchmark scripts
  write), rendered as tables.

The renderers are plain functions (``render_report``, ``render_benchmark``) so the tests can call them.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import pkgutil
import re
import shutil
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent
GEN = DOCS / "_generated"
SNAPSHOT = DOCS / "reports" / "validation-quick.json"

# Packages documented elsewhere or internal: their modules still get a page, but are grouped last.
# the concept packages in the order a reader meets them; internals (command line, kernels) last
CONCEPT_ORDER = ("model", "inference", "training", "dynamic", "bounds", "data", "sweeps", "validation", "graph",
                 "report", "cli", "kernels")


# ------------------------------------------------------------------------------------------------ helpers
def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (keeps Sphinx's incremental build incremental)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def fmt_value(v) -> str:
    """A table cell: floats with 4 significant digits, lists compactly, text with pipes escaped."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if v == 0 or 1e-3 <= abs(v) < 1e5:
            return f"{v:.4g}"
        return f"{v:.3e}"
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) and len(v) <= 8:
            return "[" + ", ".join(fmt_value(x) for x in v) + "]"
        return "`" + json.dumps(v, separators=(",", ":"))[:120].replace("|", "\\|").replace("`", "'") + "`"
    if isinstance(v, dict):
        return "`" + json.dumps(v, separators=(",", ":"))[:120].replace("|", "\\|").replace("`", "'") + "`"
    s = str(v).replace("\n", " ").replace("|", "\\|")
    return s


def _public_path(v):
    """File paths of the machine that ran a benchmark are not informative: keep the file name only."""
    return os.path.basename(v) if isinstance(v, str) and ("/" in v or "\\" in v) else v


def md_table(rows: list[dict], columns: list[str] | None = None) -> list[str]:
    """Markdown table of a list of dicts (columns: the union of keys, in first-seen order)."""
    if columns is None:
        columns = []
        for r in rows:
            for k in r:
                if k not in columns:
                    columns.append(k)
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(fmt_value(_public_path(r.get(c)) if c == "filepath" else r.get(c))
                                     for c in columns) + " |")
    return out


# ------------------------------------------------------------------------------------------------ API pages
def public_modules(package: str = "analogsim") -> list[str]:
    """Dotted names of analogsim's public modules (no component starting with an underscore), sorted."""
    pkg = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return sorted(names)


def public_members(modname: str) -> list[tuple[str, object]]:
    """(name, object) of the functions and classes a module defines itself and does not mark private."""
    import inspect

    mod = importlib.import_module(modname)
    out = []
    for name, obj in vars(mod).items():
        if name.startswith("_"):
            continue
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if getattr(obj, "__module__", None) != modname:
            continue
        out.append((name, obj))
    return out


def _summary(obj) -> str:
    """First line of a docstring, made safe for a table cell."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    first = doc.splitlines()[0].strip() if doc else "(no docstring)"
    first = first.replace("``", "\x00")
    first = first.replace("`", "").replace("\x00", "``")
    if first.count("``") % 2:
        first = first.replace("``", "")
    return escape_plain_text(first)


def write_api_pages(out: Path) -> list[str]:
    """One reStructuredText page per public module; returns the module names."""
    mods = public_modules()
    keep = set()
    for m in mods:
        members = public_members(m)
        title = f"``{m}``"
        lines = [title, "=" * len(title), ""]
        if members:
            lines += [".. list-table::", "   :widths: 30 70", "   :class: api-summary", ""]
            for name, obj in members:
                lines += [f"   * - :py:obj:`{name} <{m}.{name}>`", f"     - {_summary(obj)}"]
            lines.append("")
        lines += [f".. automodule:: {m}", "   :members:", "   :ignore-module-all:", "   :show-inheritance:", ""]
        fn = out / f"{m}.rst"
        keep.add(fn.name)
        _write_if_changed(fn, "\n".join(lines))
    # index: one section per concept package (the package layout of docs/architecture.md), internals last
    idx = ["API reference", "=============", "",
           "Generated from the docstrings at every build: every public module of ``analogsim`` has a page, so a",
           "new module appears here without editing the documentation. Equation numbers are those of Tkachenko's",
           "paper; energies are in units of kT unless a function says SI. The modules are grouped by concept, as",
           "the package is (see the architecture page).", "",
           ".. toctree::", "   :maxdepth: 1", "   :caption: The package", "", "   analogsim", ""]
    for concept in CONCEPT_ORDER:
        pkg = f"analogsim.{concept}"
        group = [m for m in mods if m == pkg or m.startswith(pkg + ".")]
        if not group:
            continue
        caption = _summary(importlib.import_module(pkg)).split(":")[0].rstrip(".")
        idx += [".. toctree::", "   :maxdepth: 1", f"   :caption: {caption}", ""] + [f"   {m}" for m in group] + [""]
    listed = {m for m in mods if m == "analogsim" or any(m == f"analogsim.{c}" or m.startswith(f"analogsim.{c}.")
                                                         for c in CONCEPT_ORDER)}
    rest = [m for m in mods if m not in listed]
    if rest:  # modules shared by every concept (errors, ...)
        idx += [".. toctree::", "   :maxdepth: 1", "   :caption: Shared by every concept", ""]
        idx += [f"   {m}" for m in rest] + [""]
    keep.add("index.rst")
    _write_if_changed(out / "index.rst", "\n".join(idx))
    for stale in out.glob("*.rst"):
        if stale.name not in keep:
            stale.unlink()
    return mods


# ------------------------------------------------------------------------------------------------ report page
_FALLBACK_HELP = (
    "**pass**: every criterion holds as printed. **qualified**: the simulator's checks hold, but a statement of the "
    "paper does not hold as printed (the criterion of kind *paper* says by how much). **fail**: a check of the "
    "simulator failed. **error**: the claim could not run.")


def _verdict_help() -> str:
    """The verdict definitions, from the report writer itself (one source of truth)."""
    try:
        from analogsim.validation.framework import VERDICT_HELP
        return str(VERDICT_HELP)
    except ImportError:
        return _FALLBACK_HELP


def _criterion_result(k: dict) -> str:
    kind = k.get("kind", "check")
    if kind == "identity":
        return "identity (printed, not judged)"
    if k.get("decided") is False:
        return "*undecided at this size*" + (f" ({fmt_value(k['decides'])})" if k.get("decides") else "")
    if k.get("passed"):
        return "holds" if kind == "paper" else "pass"
    return "**does not hold as printed**" if kind == "paper" else "**FAIL**"


def render_report(report: dict, figure_dir: str = "figures", source: str = "") -> str:
    """Markdown page of a validation report (the ``report.json`` that ``analogsim validate`` writes)."""
    claims = report.get("claims", [])
    mode = report.get("mode", "?")
    lines = [f"# Validation report ({mode})", ""]
    lines += [
        "Each claim of Tkachenko's paper (and of the IEM papers) measured on the simulator. A criterion is a "
        "measured number with its uncertainty against a written rule; its *kind* says whether it checks the "
        "simulator (*check*), puts a statement of the paper as printed to test (*paper*) or is an algebraic "
        "identity shown for reference (*identity*).",
        "",
        "Verdicts: " + _verdict_help(),
        "",
        f"This page is generated at build time from the report's JSON ({source or 'report.json'}; analogsim "
        f"{report.get('version', '?')}" + (f", seed {report['seed']}" if "seed" in report else "") + "). "
        "Regenerate the report with `analogsim validate --quick --out DIR`; `bash docs/build.sh full` builds the "
        "site from a fresh run.",
        "",
        "| claim | verdict | time |",
        "|---|---|---|",
    ]
    for c in claims:
        secs = c.get("seconds")
        t = f"{secs:.0f} s" if isinstance(secs, (int, float)) else "–"
        lines.append(f"| [{fmt_value(c.get('title', c.get('name')))}](#claim-{c.get('name')}) | "
                     f"**{fmt_value(c.get('verdict', '?'))}** | {t} |")
    lines.append("")
    for c in claims:
        lines += [f"({'claim-' + str(c.get('name'))})=", f"## {c.get('title', c.get('name'))}", ""]
        if c.get("statement"):
            lines += [f"> **Paper:** {c['statement']}", ""]
        lines += [f"**Verdict: {fmt_value(c.get('verdict', '?'))}**", ""]
        if c.get("limit"):
            lines += [f"Holds in the limit: {fmt_value(c['limit'])}", ""]
        if c.get("not_testable"):
            lines += [f"Not testable here: {fmt_value(c['not_testable'])}", ""]
        if c.get("error"):
            lines += [f"**Error while running this claim:** `{c['error']}`", ""]
        crit = c.get("criteria") or []
        if crit:
            lines += ["| criterion | measured | uncertainty | rule | kind | result |", "|---|---|---|---|---|---|"]
            for k in crit:
                lines.append("| " + " | ".join([fmt_value(k.get("name")), fmt_value(k.get("measured")),
                                                fmt_value(k.get("uncertainty")), fmt_value(k.get("rule")),
                                                fmt_value(k.get("kind")), _criterion_result(k)]) + " |")
            lines.append("")
            quotes = [k for k in crit if k.get("quote")]
            for k in quotes:
                lines += [f"- *{fmt_value(k.get('name'))}* — the paper: “{fmt_value(k['quote'])}”"]
            if quotes:
                lines.append("")
        table = c.get("table") or []
        if table:
            lines += md_table(table)
            lines.append("")
        for fig in c.get("figures") or []:
            name = Path(fig).name
            lines += [f"![{Path(fig).stem}]({figure_dir}/{name})", ""]
        if c.get("comment"):
            lines += [str(c["comment"]), ""]
    return "\n".join(lines)


def _report_source() -> tuple[Path, list[Path]]:
    """The report JSON to render and the folders where its figures may be found."""
    env = os.environ.get("ANALOGSIM_DOCS_REPORT")
    if env:
        d = Path(env)
        path = d / "report.json" if d.is_dir() else d
        if not path.is_file():
            raise FileNotFoundError(f"ANALOGSIM_DOCS_REPORT={env!r}: no report.json there")
        return path, [path.parent / "figures", path.parent]
    published = DOCS / "validation-report-quick.json"      # the JSON of docs/validation-report-quick.md, if committed
    if published.is_file():
        return published, [DOCS / "figures" / "validation"]
    return SNAPSHOT, [DOCS / "reports" / "figures", DOCS / "figures" / "validation"]


def write_report_page(out: Path) -> None:
    path, fig_dirs = _report_source()
    report = json.loads(path.read_text())
    figdst = out / "figures"
    figdst.mkdir(parents=True, exist_ok=True)
    for c in report.get("claims", []):
        for fig in c.get("figures") or []:
            name = Path(fig).name
            for d in fig_dirs:
                if (d / name).is_file():
                    if not (figdst / name).exists() or (figdst / name).read_bytes() != (d / name).read_bytes():
                        shutil.copyfile(d / name, figdst / name)
                    break
            else:
                raise FileNotFoundError(f"validation report figure {name!r} not found in "
                                        f"{', '.join(p.name for p in fig_dirs)}")
    src = {SNAPSHOT: "the committed quick snapshot", DOCS / "validation-report-quick.json": "the published quick report"}.get(
        path, "a fresh run")
    _write_if_changed(out / "validation.md", render_report(report, "figures", src))


# ------------------------------------------------------------------------------------------------ benchmarks
def render_benchmark(name: str, data: dict) -> str:
    """Markdown page of one benchmark JSON file: lists of records as tables, the rest as key/value tables."""
    lines = [f"# Benchmark: {name}", "",
             f"Rendered at build time from `docs/benchmarks/{name}.json`, as the benchmark script wrote it. "
             "Ratios were measured in one process (interleaved rounds); times are seconds.", ""]
    scalars = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}

    def section(title, value, level=2):
        out = [f"{'#' * level} {title}", ""]
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            out += md_table(value)
        elif isinstance(value, dict) and all(not isinstance(v, (dict, list)) or
                                             (isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v))
                                             for v in value.values()):
            out += ["| quantity | value |", "|---|---|"]
            out += [f"| {fmt_value(k)} | {fmt_value(_public_path(v))} |" for k, v in value.items()]
        elif isinstance(value, dict) and level < 4:
            for k, v in value.items():
                if isinstance(v, (dict, list)):
                    out += section(str(k), v, level + 1)
                else:
                    out += ["", f"{fmt_value(k)}: {fmt_value(v)}", ""]
            return out
        else:
            out += ["```json", json.dumps(value, indent=1)[:4000], "```"]
        out.append("")
        return out

    for k, v in data.items():
        if isinstance(v, (dict, list)):
            lines += section(k, v)
    if scalars:
        lines += ["## Settings", "", "| quantity | value |", "|---|---|"]
        lines += [f"| {fmt_value(k)} | {fmt_value(_public_path(v))} |" for k, v in scalars.items()]
        lines.append("")
    return "\n".join(lines)


def write_benchmark_pages(out: Path) -> list[str]:
    files = sorted((DOCS / "benchmarks").glob("*.json"))
    keep = {"index.md"}
    names = []
    for f in files:
        data = json.loads(f.read_text())
        if not isinstance(data, dict):
            data = {"records": data}
        names.append(f.stem)
        keep.add(f.stem + ".md")
        _write_if_changed(out / f"{f.stem}.md", render_benchmark(f.stem, data))
    idx = ["# Benchmark tables", "",
           "Every JSON file that a benchmark script wrote into `docs/benchmarks/` is rendered here at build time. "
           "How to run the benchmarks: [Contributing](../../contributing.md).", "",
           "```{toctree}", ":maxdepth: 1", ""] + names + ["```", ""]
    if not names:
        idx.insert(4, "No benchmark JSON has been committed yet.\n")
    _write_if_changed(out / "index.md", "\n".join(idx))
    for stale in out.glob("*.md"):
        if stale.name not in keep:
            stale.unlink()
    return names


# ------------------------------------------------------------------------------------------------ user guide
# Topic pages written alongside the code, in reading order; any other Markdown page in docs/ that no other
# toctree lists is appended, so a new topic page is never orphaned.
GUIDE_ORDER = ["crosscheck", "langevin", "training", "sweeps", "bounds", "dynamic", "graph", "reliability",
               "validation", "validation-report-quick", "architecture"]
SITE_PAGES = {"index", "install", "contributing"}


def write_guide_page(out: Path) -> list[str]:
    present = {p.stem for p in DOCS.glob("*.md")} - SITE_PAGES
    pages = [p for p in GUIDE_ORDER if p in present] + sorted(present - set(GUIDE_ORDER))
    lines = ["# User guide", "",
             "Topic pages: what each part of analogsim does, its options, its measured performance and its limits.",
             "", "```{toctree}", ":maxdepth: 1", ""] + [f"/{p}" for p in pages] + ["```", ""]
    _write_if_changed(out / "guide.md", "\n".join(lines))
    return pages


# ------------------------------------------------------------------------------------------------ docstrings
# analogsim's docstrings are numpy-style, written to be read as plain text in a terminal: |x| is a norm, not a
# reStructuredText substitution, and *a lone star* is a product. Escape those characters before napoleon and
# docutils see them, except inside literals, math and directives, where reST gives them no meaning anyway.
_LITERAL = re.compile(r"(``.+?``|:[a-z:]+:`[^`]*`|`[^`]+`_?)")


def escape_plain_text(line: str) -> str:
    """Escape ``|`` and unpaired ``*`` in a docstring line, outside inline literals and roles."""
    parts = _LITERAL.split(line)
    for i in range(0, len(parts), 2):       # even parts: outside literals/roles
        seg = parts[i].replace("|", "\\|")
        singles = re.findall(r"(?<![*\\])\*(?!\*)", seg)
        if len(singles) % 2 or re.search(r"(?<=\s)\*(?=\s)", seg):     # unpaired stars: products, *args
            seg = re.sub(r"(?<![*\\])\*(?!\*)", "\\*", seg)
        seg = re.sub(r"(?<![`\\])`(?![`_:])(?=[^`]*$)", "\\`", seg)   # an unmatched backtick
        parts[i] = seg
    return "".join(parts)


def escape_docstring_lines(lines: list[str]) -> list[str]:
    """Escape plain-text characters in a docstring, leaving directive bodies, literal blocks and doctests alone."""
    out = []
    block_indent = None      # indentation of the directive or literal block being skipped
    for line in lines:
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if block_indent is not None:
            if stripped and indent <= block_indent:
                block_indent = None
            else:
                out.append(line)
                continue
        if stripped.startswith((">>>", "...")) or (out and out[-1].lstrip().startswith((">>>", "..."))
                                                     and stripped and not stripped.startswith(("..", ":"))
                                                     and _in_doctest(out)):
            out.append(line)
            continue
        if stripped.startswith(".. "):
            block_indent = indent
            out.append(line)
            continue
        if stripped.endswith("::") and not stripped.startswith(".."):
            block_indent = indent
            out.append(line)
            continue
        out.append(escape_plain_text(line))
    return out


def _in_doctest(out: list[str]) -> bool:
    """True while the previous lines are a doctest with no blank line since (its expected output)."""
    for prev in reversed(out):
        if not prev.strip():
            return False
        if prev.lstrip().startswith(">>>"):
            return True
    return False


_SPLIT_ROLE = re.compile(r"(:[a-z]+(?::[a-z]+)?:`[^`\n]*)\n[ \t]*([^`\n]*`)")


def join_split_roles(lines: list[str]) -> list[str]:
    """Join a role whose text was wrapped onto the next line (``:func:`~a.b.`` / ``c``` → one line)."""
    text = "\n".join(lines)
    text = _SPLIT_ROLE.sub(lambda m: m.group(1) + ("" if m.group(1).endswith(".") else " ") + m.group(2), text)
    return text.split("\n")


def _process_docstring(app, what, name, obj, options, lines) -> None:
    lines[:] = escape_docstring_lines(join_split_roles(lines))


_UNDERLINE = re.compile(r"^\s*([-=~^\"'`#*+]){3,}\s*$")


def fix_layout(lines: list[str]) -> list[str]:
    """Make plain-text layout valid reST (run after napoleon): blank lines where indentation changes after a
    paragraph, and section titles inside a docstring (which docutils refuses there) as rubrics."""
    out: list[str] = []
    block_indent = None
    para_lines = 0           # lines of the paragraph just above (0 after a blank line)
    prev_indent = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if block_indent is not None:
            if stripped and indent <= block_indent:
                block_indent = None
                if out and out[-1].strip():
                    out.append("")
            else:
                out.append(line)
                i += 1
                continue
        if not stripped:
            out.append(line)
            para_lines = 0
            i += 1
            continue
        if stripped.startswith(">>>"):
            # a doctest runs until the next blank line
            if para_lines and not out[-1].lstrip().startswith((">>>", "...")) and indent == prev_indent \
                    and not _in_doctest(out):
                out.append("")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            para_lines = 0
            continue
        if _UNDERLINE.match(nxt) and len(nxt.strip()) >= 3 and not _UNDERLINE.match(line) and para_lines == 0:
            out += [" " * indent + ".. rubric:: " + stripped, ""]
            i += 2
            para_lines = 0
            continue
        if para_lines:
            if indent > prev_indent and para_lines >= 2:
                out.append("")
                para_lines = 0
            elif indent < prev_indent:
                out.append("")
                para_lines = 0
        out.append(line)
        if stripped.startswith(".. ") or (stripped.endswith("::") and not stripped.startswith("..")):
            block_indent = indent
            para_lines = 0
        else:
            para_lines += 1
        prev_indent = indent
        i += 1
    return out


def _fix_layout(app, what, name, obj, options, lines) -> None:
    lines[:] = fix_layout(lines)


# ------------------------------------------------------------------------------------------------ topic pages
_HTML_ANCHOR = re.compile(r'^<a id="([A-Za-z0-9_.:-]+)"></a>\s*$', re.M)


def _html_anchors_as_labels(app, docname, source) -> None:
    """Topic pages mark anchors as raw HTML (``<a id="x"></a>``, which a forge renders); make each a MyST
    target in memory, so that ``[text](#x)`` resolves on this site too. The file is not changed."""
    if app.env.doc2path(docname).suffix == ".md":
        source[0] = _HTML_ANCHOR.sub(lambda m: f"({m.group(1)})=", source[0])


# ------------------------------------------------------------------------------------------------ MathJax
# The formulas render without a network connection: MathJax's files come from a package (the docs extra's
# django-static-mathjax ships MathJax 3 as plain static files; no Django needed) and are served by the site.
MATHJAX_PARTS = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions", "ui", "a11y")


def local_mathjax(dest: Path) -> bool:
    """Copy the parts of MathJax 3 the site uses to ``dest/mathjax``; False if the package is missing."""
    try:
        import mathjax as _mj
    except ImportError:
        return False
    src = Path(_mj.__file__).parent / "static" / "mathjax" / "es5"
    if not (src / "tex-chtml.js").is_file():
        return False
    for part in MATHJAX_PARTS:
        s, d = src / part, dest / "mathjax" / part
        if s.is_dir():
            if not d.exists():
                shutil.copytree(s, d)
        elif not d.exists():
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(s, d)
    return True


def _config_inited(app, config) -> None:
    static = GEN / "_mathjax_static"
    if local_mathjax(static):
        config.html_static_path = list(config.html_static_path) + [str(static)]
        config.mathjax_path = "mathjax/tex-chtml.js"
    else:
        from sphinx.util import logging as _log
        _log.getLogger(__name__).info("analogsim_docs: MathJax package not installed; formulas load MathJax "
                                      "from the web")


# ------------------------------------------------------------------------------------------------ Sphinx hooks
def _generate(app) -> None:
    write_guide_page(GEN)
    write_api_pages(GEN / "api")
    write_report_page(GEN / "reports")
    write_benchmark_pages(GEN / "benchmarks")


def setup(app):
    app.connect("config-inited", _config_inited)
    app.connect("builder-inited", _generate)
    app.connect("autodoc-process-docstring", _process_docstring, priority=100)   # before napoleon (500)
    app.connect("autodoc-process-docstring", _fix_layout, priority=900)          # after napoleon
    app.connect("source-read", _html_anchors_as_labels)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
