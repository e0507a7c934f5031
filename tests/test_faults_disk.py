"""A full disk or an unwritable folder during a save: the previous checkpoint, point records and report stay
valid, nothing half-written is left under a final name, the error says what happened, and a re-run once
the disk has room finishes with the results of an uninterrupted run.

Two ways to inject the fault:

* in process, :class:`FaultyDisk` replaces the ``os``/``tempfile`` seen by :mod:`analogsim._io` (every
  atomic write goes through it) so that chosen writes fail with ENOSPC after writing half their bytes, or
  with EACCES when the temporary file is created (works as root, where chmod does not stop writes);
* in a subprocess, ``RLIMIT_FSIZE`` makes the kernel refuse to grow any file past a size (EFBIG), a real
  OS-level failure for the command line.
"""

from __future__ import annotations

import errno
import json
import resource
from pathlib import Path

import numpy as np
import pytest

import test_faults_helpers as fh


class _File:
    """A file object whose write() stores half the bytes, then fails like a full disk."""

    def __init__(self, fh_):
        self._fh = fh_

    def write(self, data):
        self._fh.write(data[: len(data) // 2])
        self._fh.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()
        return False


class FaultyDisk:
    """Fail the atomic writes whose target name contains ``match``, from the ``after``-th such write on."""

    def __init__(self, monkeypatch):
        import os
        import tempfile

        import analogsim._io as io_mod

        self.match, self.after, self.mode, self.count, self.failed, self._hit = None, 0, None, 0, 0, False
        disk = self

        class OsProxy:
            def __getattr__(self, name):
                return getattr(os, name)

            @staticmethod
            def fdopen(fd, *a, **k):
                f = os.fdopen(fd, *a, **k)
                return _File(f) if disk._fails("enospc") else f

        class TempProxy:
            def __getattr__(self, name):
                return getattr(tempfile, name)

            @staticmethod
            def mkstemp(*a, prefix="", dir=None, **k):
                disk._hit = disk.match is not None and disk.match in prefix
                disk.count += disk._hit
                if disk._fails("eacces"):
                    raise PermissionError(errno.EACCES, "Permission denied", str(dir))
                return tempfile.mkstemp(*a, prefix=prefix, dir=dir, **k)

        monkeypatch.setattr(io_mod, "os", OsProxy())
        monkeypatch.setattr(io_mod, "tempfile", TempProxy())

    def arm(self, match: str, after: int, mode: str = "enospc"):
        """Writes to names containing ``match``: the first ``after`` succeed, every later one fails."""
        self.match, self.after, self.mode, self.count, self.failed, self._hit = match, after, mode, 0, 0, False

    def disarm(self):
        self.match, self._hit = None, False

    def _fails(self, mode) -> bool:
        due = self._hit and self.mode == mode and self.count > self.after
        self.failed += due
        return due


@pytest.fixture
def disk(monkeypatch):
    return FaultyDisk(monkeypatch)


def _error_names_the_fault(exc, mode):
    return exc.errno == (errno.ENOSPC if mode == "enospc" else errno.EACCES)


# ============================================================================ training checkpoints
def _train(folder: Path, S=600):
    return fh.train_run(folder / "ck.npz", folder / "result.json", "separated", presentations=S)


@pytest.fixture(scope="module")
def train_reference(tmp_path_factory):
    return json.loads(json.dumps(_train(tmp_path_factory.mktemp("train_ref"))))


@pytest.mark.parametrize("mode", ["enospc", "eacces"])
def test_checkpoint_save_fails_previous_checkpoint_stays_valid(tally, tmp_path, disk, train_reference, mode):
    from analogsim.data.checkpoint import load_checkpoint

    disk.arm("ck.npz", after=3, mode=mode)  # saves 1-3 succeed (s = 24, 48, 72), the 4th fails
    with pytest.raises(OSError) as ei:
        _train(tmp_path)
    assert _error_names_the_fault(ei.value, mode) and disk.failed == 1
    arrays, meta = load_checkpoint(tmp_path / "ck.npz", kind="train")  # verifies (sha256)
    assert meta["s"] == 72 and np.all(np.isfinite(arrays["theta"]))
    assert not fh.temp_files(tmp_path)  # the failed write cleaned up after itself
    assert not (tmp_path / "result.json").exists()
    disk.disarm()  # room again: the same call resumes from s = 72 and ends where a clean run ends
    got = json.loads(json.dumps(_train(tmp_path)))
    assert got["resumed_from"] == 72
    drop = {"wall_time", "resumed_from"}
    assert {k: v for k, v in got.items() if k not in drop} == {k: v for k, v in train_reference.items() if k not in drop}
    tally.ok("full disk / unwritable folder survived", f"train checkpoint ({mode})")


# ============================================================================ sweep point records
def _sweep(tmp, out="out"):
    from analogsim.sweeps import run_sweep

    cfg = tmp / "sweep.toml"
    if not cfg.exists():
        cfg.write_text(fh.sweep_config(widths=(2, 3, 4), seeds=2))
    return run_sweep(cfg, tmp / out, backend=fh.SerialBackend())


@pytest.mark.parametrize("mode", ["enospc", "eacces"])
def test_point_write_fails_finished_points_stay_valid(tally, tmp_path, disk, mode):
    from analogsim.sweeps import open_results

    _sweep(tmp_path, "ref")
    disk.arm(".json", after=4, mode=mode)  # run.json, then points 1-3; the 4th point's record fails
    with pytest.raises(OSError) as ei:
        _sweep(tmp_path)
    assert _error_names_the_fault(ei.value, mode)
    out = tmp_path / "out"
    done = {p.name: p.read_bytes() for p in (out / "points").glob("*.json")}
    assert len(done) == 3
    fh.check_complete(out)
    assert not fh.temp_files(out) and not (out / "results.nc").exists()
    disk.disarm()
    s = _sweep(tmp_path)
    assert s.n_skipped == 3 and s.n_computed == 3
    assert all((out / "points" / k).read_bytes() == v for k, v in done.items())  # not recomputed
    a, b = open_results(out), open_results(tmp_path / "ref")
    for v in ("mean_out", "var_out", "n_params", "status", "point_seed"):
        assert np.array_equal(a[v].values, b[v].values)
    tally.ok("full disk / unwritable folder survived", f"sweep point record ({mode})")


def _limit_fsize(nbytes):
    def pre():
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, resource.RLIM_INFINITY))
    return pre


def test_sweep_command_on_a_full_disk_says_so_and_resumes(tally, tmp_path):
    """OS-level: files may not grow past 2500 bytes, so results.nc cannot be written (EFBIG)."""
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(fh.sweep_config(widths=(2, 3), seeds=2))
    out = tmp_path / "out"
    cmd = fh.cli("sweep", cfg, "--out", out, "--workers", 1, "--json")
    r = fh.run(cmd, preexec_fn=_limit_fsize(2500))
    assert r.returncode == 3, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("analogsim sweep: ")]  # progress lines aside
    assert errors and "File too large" in errors[-1] and "Traceback" not in r.stderr
    fh.check_complete(out)
    assert len(list((out / "points").glob("*.json"))) == 4 and not (out / "results.nc").exists()
    r = fh.run(cmd)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert (s["n_skipped"], s["n_computed"], s["n_ok"]) == (4, 0, 4)
    fh.check_complete(out)
    tally.ok("full disk / unwritable folder survived", "sweep command (RLIMIT_FSIZE)")


# ============================================================================ validation report
def _fake_claims(monkeypatch):
    import test_reliability_files as trf

    trf._fake_claims(monkeypatch)


@pytest.mark.parametrize("mode", ["enospc", "eacces"])
def test_report_write_fails_previous_report_stays_valid(tally, tmp_path, disk, monkeypatch, mode):
    from analogsim.validation import framework

    _fake_claims(monkeypatch)
    out = tmp_path / "rep"
    disk.arm("report.md", after=1, mode=mode)  # the report after claim 1 is written, after claim 2 it fails
    with pytest.raises(OSError) as ei:
        framework.run_validation("quick", out, claims=["equilibrium", "stress"])
    assert _error_names_the_fault(ei.value, mode)
    fh.check_complete(out)  # report.md / report.json: the complete version after claim 1
    assert len(json.loads((out / "report.json").read_text())["claims"]) == 1
    assert not fh.temp_files(out)
    disk.disarm()
    res = framework.run_validation("quick", out, claims=["equilibrium", "stress"], resume=True)
    assert [r.resumed for r in res] == [True, False]
    fh.check_complete(out)
    assert len(json.loads((out / "report.json").read_text())["claims"]) == 2
    tally.ok("full disk / unwritable folder survived", f"validation report ({mode})")


def test_validate_command_on_a_full_disk_says_so(tmp_path, disk, monkeypatch, capsys):
    from analogsim import cli

    _fake_claims(monkeypatch)
    disk.arm("report", after=0)
    rc = cli.main(["validate", "--quick", "--claims", "equilibrium", "--out", str(tmp_path / "rep"), "--workers", "1"])
    assert rc == 3 and "analogsim validate: error:" in capsys.readouterr().err
