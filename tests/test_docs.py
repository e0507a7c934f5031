"""The documentation cannot rot: docstrings, their examples, self-containedness, and the site's generators.

* every public function and class has a numpy-style docstring with an ``Examples`` section (a ratchet: the
  objects listed in ``KNOWN_MISSING`` predate the rule; nothing may be added to the list);
* every docstring example of every public module runs as a doctest;
* no tracked file refers to a path outside the repository;
* the pages the site generates (API, validation report, benchmark tables) are made from the code and the JSON.

The site itself is built by ``bash docs/build.sh`` (tutorials executed, warnings as errors) and checked in
headless Chromium by ``bash docs/build.sh check``; both are CI steps, not default tests.
"""

from __future__ import annotations

import doctest
import fnmatch
import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import analogsim_docs as site  # noqa: E402

# Internal layers: numba kernels (plain functions over arrays) and the command-line modules (documented by
# ``analogsim COMMAND --help``). Their docstrings are still rendered and their examples still run.
COVERAGE_EXCLUDES = ("analogsim.kernels", "analogsim.cli")

_EXAMPLES = re.compile(r"^Examples\n-{8,}\n", re.M)


def _public_objects():
    out = []
    for m in site.public_modules():
        if m.startswith(COVERAGE_EXCLUDES):
            continue
        for name, obj in site.public_members(m):
            out.append((f"{m}.{name}", obj))
    return out


def docstring_problem(obj) -> str | None:
    """Why ``obj``'s docstring falls short of the rule (None if it does not)."""
    doc = inspect.getdoc(obj) or ""
    if not doc.strip():
        return "no docstring"
    m = _EXAMPLES.search(doc)
    if not m or ">>>" not in doc[m.end():]:
        return "no Examples section with >>> lines"
    return None


def test_docstring_coverage_does_not_regress():
    """Every public function/class has a numpy-style docstring with a runnable Examples section."""
    objs = _public_objects()
    problems = {name: why for name, obj in objs if (why := docstring_problem(obj))}
    new = sorted(set(problems) - KNOWN_MISSING)
    covered = len(objs) - len(problems)
    print(f"docstring coverage: {covered}/{len(objs)} public functions and classes "
          f"({100 * covered / max(1, len(objs)):.1f} %) have a docstring with examples")
    assert not new, ("public functions/classes without a numpy-style docstring with an Examples section "
                     "(write one with a short runnable >>> example; see docs/contributing.md):\n  "
                     + "\n  ".join(f"{n}: {problems[n]}" for n in new))


def test_docstring_problem_detects_what_it_should():
    """Negative controls for the coverage rule itself."""
    def no_doc():
        pass

    def no_example():
        """Does something.

        Parameters
        ----------
        x : int
        """

    def good():
        """Does something.

        Examples
        --------
        >>> 1 + 1
        2
        """

    assert docstring_problem(no_doc) == "no docstring"
    assert docstring_problem(no_example) == "no Examples section with >>> lines"
    assert docstring_problem(good) is None


def _doctest_modules():
    return site.public_modules()


@pytest.mark.parametrize("modname", _doctest_modules())
def test_docstring_examples_run(modname, tmp_path, monkeypatch):
    """Every ``>>>`` example of the module runs and prints what it says (doctest)."""
    monkeypatch.chdir(tmp_path)            # examples that write files write them here
    mod = importlib.import_module(modname)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(mod, modname) if t.examples]      # globals: the module's own
    # only the module's own objects (not names it imported from elsewhere)
    tests = [t for t in tests if t.name == modname or _defined_in(mod, t.name)]
    failures = []
    with np.printoptions(legacy=False):
        for t in tests:
            r = runner.run(t, out=lambda s: failures.append(s))
            assert r.failed == 0, f"doctest of {t.name} failed:\n" + "".join(failures)[-4000:]


def _defined_in(mod, dotted: str) -> bool:
    obj = mod
    for part in dotted.split(".")[len(mod.__name__.split(".")):]:
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    owner = getattr(obj, "__module__", None)
    if owner is None and hasattr(obj, "fget"):          # property
        owner = getattr(obj.fget, "__module__", None)
    return owner in (None, mod.__name__)


# ------------------------------------------------------------------------------------------ self-contained
OUTSIDE = re.compile(r"\.\./shared|/wor[k]/|shared/PHYSICS|shared/STYLE|shared/papers|HELPERS\.md")

# Glob patterns of files exempted from the rule, each with the reason (none today: keep it that way).
PENDING_FIXES: dict[str, str] = {}


def test_no_reference_outside_the_repository():
    """No tracked file points to a path outside the repository (a clone must be self-contained)."""
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                               timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    offenders = []
    for f in files:
        p = ROOT / f
        if not f or not p.is_file() or p.suffix in (".png", ".svg", ".nc", ".npz", ".pdf", ".ico", ".woff2"):
            continue
        if f == "tests/test_docs.py" or any(fnmatch.fnmatch(f, pat) for pat in PENDING_FIXES):
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{f}:{i}: {line.strip()[:120]}")
    assert not offenders, "references to paths outside the repository:\n  " + "\n  ".join(offenders)


# ------------------------------------------------------------------------------------------ the generators
def test_api_pages_cover_every_public_module(tmp_path):
    mods = site.write_api_pages(tmp_path)
    assert "analogsim.inference.simulate" in mods and "analogsim.model.network" in mods
    assert not [m for m in mods if any(p.startswith("_") for p in m.split("."))]
    for m in mods:
        text = (tmp_path / f"{m}.rst").read_text()
        assert f".. automodule:: {m}" in text
    index = (tmp_path / "index.rst").read_text()
    assert all(f"   {m}" in index for m in mods)


def test_report_page_is_rendered_from_the_json():
    report = json.loads(site.SNAPSHOT.read_text())
    page = site.render_report(report, "figures", "snapshot")
    for c in report["claims"]:
        assert f"(claim-{c['name']})=" in page
        assert str(c["verdict"]) in page
        for k in c.get("criteria", []):
            assert site.fmt_value(k["name"]) in page
        for fig in c.get("figures", []):
            assert f"figures/{Path(fig).name}" in page
            assert (site.DOCS / "reports" / "figures" / Path(fig).name).is_file(), f"snapshot figure {fig} missing"


def test_report_renderer_marks_failures_and_identities():
    report = {"mode": "quick", "version": "0", "claims": [{
        "name": "x", "title": "X", "verdict": "fail", "statement": "s", "figures": [], "criteria": [
            {"name": "a", "measured": 1.0, "uncertainty": 0.1, "rule": "x <= 0", "kind": "check", "passed": False},
            {"name": "b", "measured": 2.0, "uncertainty": 0.1, "rule": "x <= 0", "kind": "paper", "passed": False,
             "quote": "it is zero"},
            {"name": "c", "measured": 0.0, "uncertainty": 0.0, "rule": "= 0", "kind": "identity", "passed": True},
        ]}]}
    page = site.render_report(report)
    assert "**FAIL**" in page and "**does not hold as printed**" in page and "identity (printed, not judged)" in page
    assert "it is zero" in page


def test_benchmark_pages_render_every_json(tmp_path):
    names = site.write_benchmark_pages(tmp_path)
    files = sorted((site.DOCS / "benchmarks").glob("*.json"))
    assert names == [f.stem for f in files]
    for n in names:
        text = (tmp_path / f"{n}.md").read_text()
        assert text.startswith(f"# Benchmark: {n}")
        assert not OUTSIDE.search(text) and ".venv" not in text        # machine paths reduced to file names


def test_link_checker_finds_broken_links_and_anchors(tmp_path):
    """The site check's link checker on a three-page site: good links pass, each kind of breakage is caught."""
    sys.path.insert(0, str(ROOT / "docs"))
    import check_site

    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<html><body><h1 id="top">x</h1><a href="sub/page.html#sec">ok</a><a href="#top">ok</a>'
        '<img src="img.png"><link rel="stylesheet" href="style.css?v=1"><a href="https://example.org">ext</a>'
        '</body></html>')
    (tmp_path / "img.png").write_bytes(b"png")
    (tmp_path / "style.css").write_text("")
    (tmp_path / "sub" / "page.html").write_text('<p id="sec">s</p><a href="../index.html">up</a>')
    n, problems = check_site.check_links(tmp_path)
    assert (n, problems) == (5, [])
    (tmp_path / "sub" / "page.html").write_text('<a href="../missing.html">x</a><a href="../index.html#nope">y</a>'
                                                '<img src="../gone.png">')
    n, problems = check_site.check_links(tmp_path)
    assert len(problems) == 4               # the three broken links, and index's #sec that no longer exists
    assert any("missing.html" in p for p in problems) and any("'nope'" in p for p in problems)
    assert any("'sec'" in p for p in problems)
    assert any("gone.png" in p for p in problems)


def test_fmt_value():
    assert site.fmt_value(1.23456789) == "1.235"
    assert site.fmt_value(1.5e-7) == "1.500e-07"
    assert site.fmt_value(None) == "–"
    assert site.fmt_value("a|b") == "a\\|b"
    assert site.fmt_value([4, 16, 1]) == "[4, 16, 1]"


def test_plain_text_docstrings_become_valid_rest():
    lines = ["Norm |x - y|^2 and a * b.", "Wrapped role :func:`~analogsim.graph.", "clamped_minimum` here.",
             ".. math:: |x|", ">>> 1 | 0", "1"]
    out = site.escape_docstring_lines(site.join_split_roles(lines))
    assert out[0] == "Norm \\|x - y\\|^2 and a \\* b."
    assert out[1] == "Wrapped role :func:`~analogsim.graph.clamped_minimum` here."
    assert out[2:] == [".. math:: |x|", ">>> 1 | 0", "1"]
    fixed = site.fix_layout(["A paragraph", "of two lines", "    indented continuation", "back"])
    assert fixed == ["A paragraph", "of two lines", "", "    indented continuation", "", "back"]


# Public functions and classes that lacked a docstring with examples when the rule was introduced. The list
# may only shrink: remove a name when you give it an example.
KNOWN_MISSING: frozenset = frozenset()


if __name__ == "__main__":
    # python tests/test_docs.py: print the public objects that lack a docstring with examples
    for _name, _obj in _public_objects():
        if docstring_problem(_obj):
            print(_name)
