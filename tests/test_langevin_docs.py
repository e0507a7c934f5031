"""The examples of docs/langevin.md and the docstrings of the Langevin modules run as written."""

from __future__ import annotations

import doctest
import importlib
import re
import warnings
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "langevin.md"


def test_docs_example_runs():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        exec(compile(code, str(DOC), "exec"), ns)
    res = ns["res"]
    assert res.status == "ok"


@pytest.mark.parametrize("mod", ["analogsim.inference.simulate", "analogsim.inference.protocols", "analogsim.inference.observers",
                                 "analogsim.inference.integrators", "analogsim.inference.guard_cache", "analogsim.kernels.seeding",
                                 "analogsim.inference.relax_start"])
def test_docstring_examples(mod):
    m = importlib.import_module(mod)
    failed, attempted = doctest.testmod(m, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failed == 0
