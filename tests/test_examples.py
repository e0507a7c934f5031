"""Every shipped example config runs and reports no flagged point (analogsim.report.health).

Default suite: each example at a reduced size (each swept axis cut to its end values, one seed, fewer
presentations/replicas/steps) run in this process. ``slow``: the full example through ``run_sweep``.
A negative control shows the check bites: energy_vs_N.toml with its old learning rate (mu = 100, 0.1)
flags its widest net at the reduced size too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from analogsim.data.config import parse_config
from analogsim.sweeps import run_sweep
from analogsim.sweeps.store import ResultsStore
from analogsim.sweeps.tasks import get_task
from analogsim.sweeps.worker import run_point

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))
CAPS = {"presentations": 1500, "n_replicas": 256, "n_steps": 500, "tau": 16.0, "n_train": 128}


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dump(doc: dict) -> str:
    return "".join(f"[{sec}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in body.items()) + "\n"
                   for sec, body in doc.items())


def _cap(key, v):
    c = CAPS.get(key)
    return v if c is None or not isinstance(v, (int, float)) else type(v)(min(v, c))


def reduced(text: str) -> str:
    """The config with each sweep axis cut to its two end values (seed: one replicate) and costs capped."""
    doc = tomllib.loads(text)
    for sec, body in doc.items():
        if sec != "sweep":
            for k in list(body):
                body[k] = _cap(k, body[k])
    sweep = doc.get("sweep", {})
    for k, v in list(sweep.items()):
        if k == "seed":
            sweep[k] = {"start": 0, "stop": 1}
        elif isinstance(v, list):
            ends = [v[0], v[-1]] if len(v) > 1 else v
            sweep[k] = sorted({_cap(k, x) for x in ends}) if all(isinstance(x, (int, float)) for x in ends) \
                else ends
        elif isinstance(v, dict) and "num" in v:
            lo, hi = _cap(k, v["start"]), _cap(k, v["stop"])
            sweep[k] = [lo, hi] if hi != lo else [lo]
        elif isinstance(v, dict):  # {start, stop[, step]}: an integer range
            sweep[k] = [v["start"], v["stop"] - 1] if v["stop"] - 1 > v["start"] else [v["start"]]
    return dump(doc)


def run_inline(text: str, out: Path, name: str):
    """Run every point in this process (no pool start-up) and consolidate the results folder."""
    cfg = parse_config(text, name=name)
    spec = get_task(cfg.kind)
    store = ResultsStore(out, cfg)
    store.check()
    store.open()
    try:
        for p in cfg.points():
            store.write_point(p, run_point(spec.func, cfg.params(p), p.seed), attempts=1)
        return store.consolidate(spec.dims)
    finally:
        store.close()


def _assert_healthy(ds):
    bad = {str(ds["status"].values.ravel()[i]): str(ds["error"].values.ravel()[i])
           for i in range(ds["status"].size) if ds["status"].values.ravel()[i] != "ok"}
    assert ds.attrs["n_ok"] == ds.attrs["n_points"], bad
    assert ds.attrs["n_flagged"] == 0 and ds.attrs["n_failed"] == 0


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_at_reduced_size_reports_no_flagged_point(path, tmp_path):
    text = reduced(path.read_text())
    ds = run_inline(text, tmp_path / path.stem, path.stem)
    _assert_healthy(ds)


def test_reduction_keeps_the_hard_ends():
    """The reduced energy_vs_N keeps its widest net (the one that diverged) and a small one."""
    doc = tomllib.loads(reduced((EXAMPLES[0].parent / "energy_vs_N.toml").read_text()))
    assert doc["sweep"]["width"] == [2, 64] and doc["training"]["presentations"] == 1500


def test_negative_control_old_energy_vs_N_is_flagged(tmp_path):
    """Before the fix (mu = 100: learning rate 0.1) the widest net's loss exploded: flagged, not ok."""
    text = reduced((EXAMPLES[0].parent / "energy_vs_N.toml").read_text())
    doc = tomllib.loads(text)
    doc["training"]["mu"] = 100.0
    doc["training"]["presentations"] = 150
    ds = run_inline(dump(doc), tmp_path / "old", "energy_vs_N")
    assert ds["status"].sel(width=2).item() == "ok"
    assert ds["status"].sel(width=64).item() == "flagged"
    assert "loss_exploded" in ds["health_flags"].sel(width=64).item()
    assert "learning rate" in ds["error"].sel(width=64).item()
    assert ds.attrs["n_ok"] == 1 and ds.attrs["n_flagged"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_at_full_size_reports_no_flagged_point(path, tmp_path):
    s = run_sweep(path, tmp_path / path.stem, workers=2)
    from analogsim.sweeps import open_results

    ds = open_results(tmp_path / path.stem)
    assert s.n_ok == s.n_points
    _assert_healthy(ds)
