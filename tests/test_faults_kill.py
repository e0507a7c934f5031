"""kill -9 at random points of ``train``, ``sweep`` and ``validate``, then resume.

For every kill point: every file the killed run left under its final name is complete (checkpoints
verify, JSON parses, PNGs end with IEND, report.md matches report.json); the resumed run picks up what
was finished (checkpoint presentation, point records, finished claims) without recomputing it; and the
final results equal those of an uninterrupted run bit for bit (timings aside).

Kill times are drawn uniformly over the length of an uninterrupted run (seeded, so the draw is
reproducible; the wall clock makes the moment it lands machine-dependent). The whole process group is
killed (driver and workers), like a batch system ending a job. A few kill points per command run in
the default suite; ``-m slow`` runs 20 per command.

``train`` runs with ``--checkpoint`` (resumed when started again with the same settings) and ``--out``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

import test_faults_helpers as fh

SLOW_POINTS = 20

VOLATILE = {"wall_time", "resumed_from"}  # legitimately differ between an interrupted and a clean run


def _timed(fn):
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


# ============================================================================ train
TRAIN_S = {"separated": 100000, "joint": 3000}


def _train_cmd(folder: Path, fidelity: str):
    S = TRAIN_S[fidelity]
    extra = ["--kappa-out", "1e-3"] if fidelity == "separated" else ["--kappa-out", "1e-2", "--neuron-mobility", 20]
    return fh.cli("train", "--data", "teacher", "--sizes", "3,8,1", "--n-train", 64, "--n-test", 32, "--mu", 100,
                  "--kT", "1e-6", "--presentations", S, "--fidelity", fidelity, "--seed", 2, *extra,
                  "--checkpoint", folder / "ck.npz", "--checkpoint-every", S // 25, "--eval-every", S // 50,
                  "--out", folder / "final.npz", "--json")


def _train_result(folder: Path, stdout: str):
    summary = json.loads(stdout)
    resumed = summary.pop("resumed_from")
    for key in ("wall_time", "presentations_per_s", "compile_s", "out"):  # timings and this run's own paths
        summary.pop(key, None)
    with np.load(folder / "final.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return summary, arrays, resumed


def _train_kill_points(tally, tmp: Path, fidelity: str, n_points: int, seed: int):
    from analogsim.data.checkpoint import load_checkpoint

    (tmp / "reference").mkdir()
    r, wall = _timed(lambda: fh.run(_train_cmd(tmp / "reference", fidelity)))
    assert r.returncode == 0, r.stderr
    ref, ref_arrays, resumed = _train_result(tmp / "reference", r.stdout)
    assert resumed is None
    rng = np.random.default_rng(seed)
    survived = i = 0
    while survived < n_points:
        assert i < 3 * n_points, "too many runs finished before their kill point"
        folder = tmp / f"kill{i}"
        folder.mkdir()
        delay = float(rng.uniform(0.0, wall))
        cmd = _train_cmd(folder, fidelity)
        killed = fh.kill_after(cmd, delay, folder / "killed.log")
        i += 1
        if not killed:
            continue
        fh.check_complete(folder)  # the checkpoint, if any, verifies; final.npz, if any, is complete
        ck = folder / "ck.npz"
        s_at_kill = load_checkpoint(ck, kind="train")[1]["s"] if ck.exists() else None
        r = fh.run(cmd)
        assert r.returncode == 0, r.stderr
        got, arrays, resumed = _train_result(folder, r.stdout)
        assert resumed == s_at_kill  # picked up exactly where the checkpoint was: nothing finished is redone
        assert got == ref, f"kill at {delay:.2f} s changed the result"
        assert arrays.keys() == ref_arrays.keys()
        for k in arrays:
            assert np.array_equal(arrays[k], ref_arrays[k], equal_nan=arrays[k].dtype.kind == "f"), k
        fh.check_complete(folder)
        survived += 1
        tally.ok(f"kill points survived: train ({fidelity})", (seed, i, round(delay, 3), s_at_kill))


def test_train_killed_at_random_points_resumes_exactly(tally, tmp_path):
    _train_kill_points(tally, tmp_path, "separated", 2, seed=11)


@pytest.mark.slow
@pytest.mark.parametrize("fidelity", ["separated", "joint"])
def test_train_killed_at_20_random_points(tally, tmp_path, fidelity):
    _train_kill_points(tally, tmp_path, fidelity, SLOW_POINTS, seed=1000 + len(fidelity))


# ============================================================================ sweep
RESULT_VARS_EXCLUDED = {"duration_s", "attempts"}


def _sweep_cmd(cfg, out):
    return fh.cli("sweep", cfg, "--out", out, "--workers", 2, "--json")


def _points(out: Path) -> dict:
    return {p.name: json.loads(p.read_text()) for p in (out / "points").glob("*.json")} \
        if (out / "points").is_dir() else {}


def _same_results(a: Path, b: Path) -> None:
    import xarray as xr

    from analogsim.sweeps import open_results

    da, db = open_results(a), open_results(b)
    keep = [v for v in da.data_vars if v not in RESULT_VARS_EXCLUDED]
    xr.testing.assert_equal(da[keep], db[[v for v in db.data_vars if v not in RESULT_VARS_EXCLUDED]])


def _sweep_kill_points(tally, tmp: Path, n_points: int, seed: int):
    cfg = tmp / "sweep.toml"
    cfg.write_text(fh.sweep_config(sleep=0.15))
    r, wall = _timed(lambda: fh.run(_sweep_cmd(cfg, tmp / "reference")))
    assert r.returncode == 0, r.stderr
    n_total = json.loads(r.stdout)["n_points"]
    rng = np.random.default_rng(seed)
    survived = i = 0
    while survived < n_points:
        assert i < 3 * n_points, "too many runs finished before their kill point"
        out = tmp / f"kill{i}"
        delay = float(rng.uniform(0.0, wall))
        killed = fh.kill_after(_sweep_cmd(cfg, out), delay, tmp / f"kill{i}.log")
        i += 1
        if not killed:
            continue
        if out.exists():
            fh.check_complete(out)
        before = {k: v for k, v in _points(out).items()}
        r = fh.run(_sweep_cmd(cfg, out))
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert summary["n_skipped"] == len(before) and summary["n_computed"] == n_total - len(before)
        after = _points(out)
        assert len(after) == n_total
        for name, rec in before.items():  # not recomputed: the same computation, the same record
            assert after[name] == rec
        _same_results(out, tmp / "reference")
        fh.check_complete(out)
        survived += 1
        tally.ok("kill points survived: sweep", (seed, i, round(delay, 3), len(before)))


def test_sweep_killed_before_run_json_resumes(tmp_path):
    from analogsim.sweeps import run_sweep

    cfg = tmp_path / "sweep.toml"
    cfg.write_text(fh.sweep_config(widths=(2, 3), seeds=1))
    out = tmp_path / "out"
    (out / "points").mkdir(parents=True)  # what the killed run left: its start-up files, no run.json
    (out / ".lock").write_text("12345\n")
    (out / "config.toml").write_text(cfg.read_text())
    s = run_sweep(cfg, out, backend=fh.SerialBackend())
    assert s.n_ok == s.n_points == 2


def test_sweep_killed_at_random_points_resumes_exactly(tally, tmp_path):
    _sweep_kill_points(tally, tmp_path, 1, seed=21)


@pytest.mark.slow
def test_sweep_killed_at_20_random_points(tally, tmp_path):
    _sweep_kill_points(tally, tmp_path, SLOW_POINTS, seed=2100)


# ============================================================================ validate
CLAIMS = "digital_vs_analog,stress"


def _validate_cmd(out, resume=True):
    return fh.cli("validate", "--quick", "--claims", CLAIMS, "--out", out, "--workers", 1, "--json",
                  *(["--resume"] if resume else []))


def _report(out: Path):
    info = json.loads((out / "report.json").read_text())
    seconds = {c["name"]: c["seconds"] for c in info["claims"]}
    for c in info["claims"]:
        c.pop("seconds")
    md = re.sub(r"\| \d+ s \|$", "| s |", (out / "report.md").read_text(), flags=re.M)
    figs = {p.name: p.read_bytes() for p in (out / "figures").glob("*.png")} if (out / "figures").is_dir() else {}
    return info, md, figs, seconds


@pytest.fixture(scope="module")
def validate_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("validate") / "reference"
    r, wall = _timed(lambda: fh.run(_validate_cmd(out, resume=False), timeout=600))
    assert r.returncode == 0, r.stderr
    return out, wall


def _claims_done(out: Path) -> int:
    try:
        return len(json.loads((out / "report.json").read_text())["claims"])
    except (OSError, ValueError, KeyError):
        return 0


def _validate_kill(tally, tmp, ref, delay=None, until=None, label=""):
    out = tmp / "run"
    killed = fh.kill_after(_validate_cmd(out), delay or 0.0, tmp / "killed.log", until=until, timeout=600)
    if not killed:
        return False
    if out.exists():
        fh.check_complete(out)
    before = _report(out)[3] if (out / "report.json").exists() else {}
    r = fh.run(_validate_cmd(out), timeout=600)
    assert r.returncode == 0, r.stderr
    if before:
        assert f"resumed: {len(before)} claim(s)" in r.stderr
    info, md, figs, seconds = _report(out)
    for name, sec in before.items():  # finished claims were kept, not run again
        assert seconds[name] == sec
    rinfo, rmd, rfigs, _ = _report(ref)
    assert info == rinfo and md == rmd and figs == rfigs
    fh.check_complete(out)
    tally.ok("kill points survived: validate", (label, None if delay is None else round(delay, 3), sorted(before)))
    return True


def test_validate_killed_after_its_first_claim_resumes_without_rerunning_it(tally, tmp_path, validate_reference):
    ref, _ = validate_reference
    out = tmp_path / "run"
    assert _validate_kill(tally, tmp_path, ref, until=lambda: _claims_done(out) >= 1, label="after claim 1")


@pytest.mark.slow
def test_validate_killed_at_20_random_points(tally, tmp_path, validate_reference):
    ref, wall = validate_reference
    rng = np.random.default_rng(3100)
    survived = i = 0
    while survived < SLOW_POINTS:
        assert i < 3 * SLOW_POINTS
        d = tmp_path / f"kill{i}"
        d.mkdir()
        delay = float(rng.uniform(0.0, wall))
        i += 1
        survived += _validate_kill(tally, d, ref, delay=delay, label=f"random {i}")
