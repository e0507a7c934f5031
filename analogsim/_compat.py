"""Old module names keep working: version 0.1's flat modules, and the graph namespace's submodules.

Version 0.2 grouped the modules by concept (``analogsim.simulate`` is now
:mod:`analogsim.inference.simulate`, ``analogsim.bounds`` the package :mod:`analogsim.bounds`, ...). A script
written for 0.1 still imports: the old name is an alias of the new module (the same module object, so a
monkeypatch of one is seen by the other), with a ``DeprecationWarning`` that names the new place. The graph
namespace's submodules (``analogsim.graph.dynamics`` ...) are aliases without a warning: they are the
documented names.

Examples
--------
>>> import sys, warnings
>>> _ = sys.modules.pop("analogsim.simulate", None)
>>> with warnings.catch_warnings(record=True) as w:
...     warnings.simplefilter("always")
...     import analogsim.simulate as old
>>> import analogsim.inference.simulate as new
>>> old is new, "analogsim.inference.simulate" in str(w[-1].message), new.__spec__.name
(True, True, 'analogsim.inference.simulate')
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# 0.1 name -> 0.2 name
MOVED = {
    "analogsim.activations": "analogsim.model.activations", "analogsim.network": "analogsim.model.network",
    "analogsim.hamiltonian": "analogsim.model.hamiltonian", "analogsim.equilibrium": "analogsim.model.equilibrium",
    "analogsim.clamped": "analogsim.model.clamped", "analogsim.crosscheck": "analogsim.model.crosscheck",
    "analogsim.torch_io": "analogsim.model.torch_io", "analogsim.integrators": "analogsim.inference.integrators",
    "analogsim.langevin_run": "analogsim.inference.langevin_run", "analogsim.simulate": "analogsim.inference.simulate",
    "analogsim.protocols": "analogsim.inference.protocols", "analogsim.observers": "analogsim.inference.observers",
    "analogsim.stability": "analogsim.inference.stability", "analogsim.oscillation": "analogsim.inference.oscillation",
    "analogsim.table1": "analogsim.bounds.table_i", "analogsim.plot_bounds": "analogsim.bounds.figures",
    "analogsim.iem": "analogsim.bounds.iem", "analogsim.units": "analogsim.bounds.units",
    "analogsim.config": "analogsim.data.config", "analogsim.checkpoint": "analogsim.data.checkpoint",
    "analogsim.plotting": "analogsim.sweeps.figures", "analogsim.health": "analogsim.report.health",
    "analogsim.progress": "analogsim.report.progress", "analogsim.resources": "analogsim.report.resources",
    "analogsim.commands": "analogsim.cli",
}
# the graph namespace's documented submodules (no warning)
GRAPH = {
    "analogsim.graph.energy": "analogsim.model.graph.energy",
    "analogsim.graph.equilibrium": "analogsim.model.graph.equilibrium",
    "analogsim.graph.torch_fx": "analogsim.model.graph.torch_fx", "analogsim.graph.plot": "analogsim.model.graph.plot",
    "analogsim.graph.operators": "analogsim.model.graph.operators",
    "analogsim.graph.model": "analogsim.model.graph.model", "analogsim.graph.builder": "analogsim.model.graph.builder",
    "analogsim.graph.dynamics": "analogsim.inference.graph", "analogsim.graph.training": "analogsim.training.graph",
    "analogsim.graph.tstar": "analogsim.training.graph_tstar", "analogsim.graph.bounds": "analogsim.bounds.graph",
    "analogsim.graph.config": "analogsim.data.graph_config", "analogsim.graph.io": "analogsim.data.graph_io",
    "analogsim.graph.data": "analogsim.data.images",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str, warn: bool):
        self.target, self.warn = target, warn

    def create_module(self, spec):
        if self.warn:
            warnings.warn(f"{spec.name} moved to {self.target} in analogsim 0.2; import it from there (the old "
                          "name is an alias that will be removed)", DeprecationWarning, stacklevel=2)
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        # the target module is already executed; the import system has just set its __spec__ to the alias's,
        # which would make relative imports inside it resolve from the old place: give it back its own
        module.__spec__ = self._spec


class AliasFinder(importlib.abc.MetaPathFinder):
    """Resolves an old module name to its new module (installed once on ``sys.meta_path``)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, _AliasLoader(MOVED[fullname], True))
        if fullname.startswith("analogsim.commands."):
            new = "analogsim.cli." + fullname.rsplit(".", 1)[1]
            return importlib.util.spec_from_loader(fullname, _AliasLoader(new, True))
        if fullname in GRAPH:
            return importlib.util.spec_from_loader(fullname, _AliasLoader(GRAPH[fullname], False))
        return None


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (idempotent).

    Examples
    --------
    >>> install(); install()
    >>> sum(isinstance(f, AliasFinder) for f in sys.meta_path)
    1
    """
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())
