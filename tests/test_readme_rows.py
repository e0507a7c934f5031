"""The README's speed-target table is exactly what benchmarks/readme_rows.py generates from the committed JSON."""

from __future__ import annotations

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _module():
    spec = importlib.util.spec_from_file_location("readme_rows", os.path.join(ROOT, "benchmarks", "readme_rows.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_speed_targets_are_generated_from_the_benchmark_json():
    """Every figure and verdict of the README's speed-target table comes from docs/benchmarks/*.json (regenerate
    with ``benchmarks/readme_rows.py --write`` after adding runs). Negative control: a README with one figure
    changed does not pass."""
    mod = _module()
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = mod.generated_block(text)
    assert block is not None, "README.md lost the markers of the generated speed targets"
    assert block == mod.rows(), "README.md's speed targets differ from benchmarks/readme_rows.py's output"
    changed = text.replace("0.140 and 0.130 ms", "0.120 and 0.130 ms", 1)
    assert changed != text and mod.generated_block(changed) != mod.rows()
    for f in (f for pair in mod.RUNS.values() for f in pair):  # every run it names is committed
        assert os.path.isfile(os.path.join(ROOT, "docs", "benchmarks", f)), f


def test_verdicts_are_computed_from_the_runs():
    mod = _module()
    assert mod._verdict([True, True]) == "met in both runs"
    assert mod._verdict([True, False]) == "met in 1 run of 2"
    assert mod._verdict([False, False]) == "not met"
    per = mod._per_net(("a", "b", "c"), [[1.2, 0.9, 1.1], [1.3, 1.1, 0.8]], lambda v: v >= 1.0)
    assert per == "a: met in both runs; b, c: met in 1 run of 2"
