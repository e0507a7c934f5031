"""The package shows its architecture: modules grouped by concept, no import circles, no module over 600 lines.

The import graph is read from the source (every ``import`` statement, also those inside functions, which is
how optional dependencies are deferred): a circle there is a circle whenever both modules are used.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "analogsim"
MAX_LINES = 600
CONCEPTS = {"model": "the model and its energy", "inference": "inference dynamics", "training": "training",
            "dynamic": "the dynamic machine", "bounds": "bounds and the IEM",
            "data": "data, configurations and files", "sweeps": "sweeps", "validation": "validation",
            "cli": "command line", "report": "what a run tells its user", "kernels": "numba kernels",
            "graph": "the public namespace of graph networks"}
# modules at the top level: shared by every concept
TOP_LEVEL = {"__init__.py", "_checks.py", "_compat.py", "_io.py", "errors.py"}


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(name: str, path: Path) -> set[str]:
    """Absolute names of the analogsim modules that ``path`` imports (a package resolves to its __init__)."""
    is_pkg = path.name == "__init__.py"
    package = name.split(".") if is_pkg else name.split(".")[:-1]
    known = {m for m, _ in _modules()}
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("analogsim"):
                continue
            for alias in node.names:  # ``from pkg import module`` imports the module
                sub = f"{mod}.{alias.name}"
                out.add(sub if sub in known else mod)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("analogsim"))
    return {m for m in out if m in known and m != name}


def _graph():
    # the root package is left out: it only re-exports, lazily, and every module may read its __version__
    return {name: {m for m in _imports(name, path) if m != "analogsim"} for name, path in _modules()
            if name != "analogsim"}


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    cycles = _cycles(_graph())
    assert not cycles, f"import circles: {cycles}"


def test_cycle_finder_finds_a_circle():
    # negative control: a circle planted in a copy of the real graph is found
    g = _graph()
    g["analogsim.bounds.formulas"] = g["analogsim.bounds.formulas"] | {"analogsim.bounds.table_i"}
    assert ["analogsim.bounds.formulas", "analogsim.bounds.table_i"] in _cycles(g)


def test_no_module_over_the_limit():
    long = {str(p.relative_to(PKG.parent)): n for _, p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_modules_grouped_by_concept():
    top = {p.name for p in PKG.iterdir() if p.suffix == ".py"}
    assert top <= TOP_LEVEL, f"modules at the top level that belong to a concept package: {sorted(top - TOP_LEVEL)}"
    packages = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(CONCEPTS), f"packages {sorted(packages)} != concepts {sorted(CONCEPTS)}"


def test_kernels_are_plain_functions():
    # numba kernels are functions over arrays: no classes, no I/O, no validation layer
    for path in sorted((PKG / "kernels").glob("*.py")):
        tree = ast.parse(path.read_text())
        classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
        assert not classes, f"{path.name} defines classes {classes}"
        bad = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in ("open", "print")]
        assert not bad, f"{path.name} does I/O: {bad}"


def _njit_flags(tree):
    """(function name, keyword names of its @njit/@jit(...) decorator) for every compiled function."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and getattr(d.func, "id", None) in ("njit", "jit"):
                    yield node.name, {k.arg: k.value for k in d.keywords}


def _explicit_flags_missing(source):
    missing = []
    for name, kw in _njit_flags(ast.parse(source)):
        inline = isinstance(kw.get("inline"), ast.Constant) and kw["inline"].value == "always"
        if "fastmath" not in kw and not inline:
            missing.append(name)
    return missing


def test_compiled_functions_state_their_fastmath_flags():
    # a numba function that leaves fastmath unset inherits the flags of the caller that first compiles it: the
    # process that compiled the kernels then computes other last bits than every later one, which loads them
    # from numba's cache (tests/test_kernel_cache.py). Inlined functions take their caller's flags by design.
    missing = {}
    for path in sorted(PKG.rglob("*.py")):
        if names := _explicit_flags_missing(path.read_text()):
            missing[str(path.relative_to(PKG.parent))] = names
    assert not missing, f"compiled functions without an explicit fastmath=...: {missing}"
    # negative control: the check sees a function that leaves it unset
    assert _explicit_flags_missing("@njit(cache=True)\ndef f(x):\n    return x\n") == ["f"]
    assert _explicit_flags_missing("@njit(inline='always')\ndef f(x):\n    return x\n") == []


@pytest.mark.parametrize("old,new", [("analogsim.simulate", "analogsim.inference.simulate"),
                                     ("analogsim.network", "analogsim.model.network"),
                                     ("analogsim.commands.relax", "analogsim.cli.relax")])
def test_old_module_names_are_aliases_with_a_warning(old, new):
    import importlib
    import sys

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        mod = importlib.import_module(old)
    assert mod is importlib.import_module(new)


def test_graph_namespace_submodules():
    import importlib

    import analogsim.graph as g

    assert g.dynamics is importlib.import_module("analogsim.inference.graph")
    assert importlib.import_module("analogsim.graph.training") is importlib.import_module("analogsim.training.graph")
