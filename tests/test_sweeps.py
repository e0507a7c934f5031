"""Sweeps end to end: embedded pool vs Dask give the same numbers, faults (kill -9, dead workers, failing
points), resume semantics, and bad input on the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from analogsim import cli
from analogsim.errors import CheckpointError
from analogsim.sweeps import DaskBackend, open_results, run_sweep

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
RESULT_VARS_EXCLUDED = {"duration_s", "attempts"}  # bookkeeping that legitimately differs between runs


def write(tmp_path, text: str, name: str = "run.toml") -> Path:
    p = Path(tmp_path) / name
    p.write_text(text)
    return p


def env_with_tests() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def result_vars(ds):
    return ds[[v for v in ds.data_vars if v not in RESULT_VARS_EXCLUDED]]


def assert_same_numbers(a, b):
    import xarray as xr

    xr.testing.assert_equal(result_vars(a), result_vars(b))  # exact: same seeds, same arithmetic


def counting_config(log: Path | None, sleep: float, widths, seeds=2, kind="test_sweeps_tasks:counting") -> str:
    log_line = f'log = "{log}"\n' if log else ""
    return (f'[experiment]\nkind = "{kind}"\nseed = 3\n[task]\nsleep = {sleep}\n{log_line}'
            f'log_axes = ["kT", "width", "seed"]\n'
            f'[sweep]\nkT = [0.5]\nwidth = {list(widths)}\nseed = {{start = 0, stop = {seeds}}}\n')


GRID_TRAIN = """
[experiment]
kind = "train"
seed = 11
[network]
n_in = 3
[data]
n_test = 32
teacher_width = 0
[training]
mu = 100.0
kappa_out = 1e-3
presentations = 100
[sweep]
kT = [1e-6, 1e-4]
width = [2, 4]
n_train = [8, 16]
seed = {start = 0, stop = 2}
"""

# without the training engine: the same kT x N x S x seeds grid on exact equilibrium sampling (S = samples)
GRID_EQ = """
[experiment]
kind = "equilibrium"
seed = 11
[network]
n_in = 3
[sweep]
kT = [1e-6, 1e-4]
width = [2, 4]
n_replicas = [8, 16]
seed = {start = 0, stop = 2}
"""


def _has_training() -> bool:
    try:
        import analogsim.training  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- embedded vs dask
@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("embedded")
    cfg = write(d, GRID_TRAIN if _has_training() else GRID_EQ)
    summary = run_sweep(cfg, d / "out", workers=2)
    return cfg, d / "out", summary


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()


def test_embedded_sweep_makes_dataset_and_figures(embedded_run):
    import xarray

    cfg, out, s = embedded_run
    assert (s.n_points, s.n_ok, s.n_failed, s.n_computed) == (16, 16, 0, 16)
    ds = xarray.open_dataset(out / "results.nc")  # the one line a user needs
    train = ds.attrs["kind"] == "train"
    S = "n_train" if train else "n_replicas"
    assert list(ds["status"].dims) == ["kT", "width", S, "seed"]
    assert (ds["status"].values == "ok").all()
    assert set(np.unique(ds["n_params"].sel(width=4).values)) == {3 * 4 + 4 + 4 + 1}  # N follows the width
    if train:
        assert np.all(ds["work"].values > 0) and np.all(np.isfinite(ds["test_loss"].values))
    else:
        assert np.all(np.isfinite(ds["equipartition_all"].values))
    assert "version_analogsim" in ds.attrs
    assert "[sweep]" in ds.attrs["config_toml"] and json.loads(ds.attrs["config_json"])["experiment"]["seed"] == 11
    assert len(set(ds["point_seed"].values.ravel())) == 16  # every point its own seed
    ds.close()
    # no pickle: every stored file is JSON, TOML or netCDF3
    for f in out.rglob("*"):
        if f.is_file() and f.name != ".lock":  # .lock: the pid of the last sweep that held the folder
            assert f.suffix in (".json", ".toml", ".nc"), f
            if f.suffix == ".nc":
                assert f.read_bytes()[:3] == b"CDF"
            elif f.suffix == ".json":
                json.loads(f.read_text())
    assert cli.main(["plot", str(out), "--format", "png"]) == 0
    figs = sorted(p.stem for p in (out / "figures").iterdir())
    expected = (("loss_vs_kT__n_train-8", "energy_vs_n_train__kT-1e-06", "energy_vs_N__n_train-16", "bounds")
                if train else ("equipartition__n_replicas-8",))
    for name in expected:
        assert name in figs, figs


def test_builtin_tasks_directly():
    from analogsim.data.config import parse_config
    from analogsim.sweeps import get_task

    base = parse_config('[experiment]\nkind = "stress"\n[network]\nn_in = 3\nwidth = 5\nkappa_ratio = 1e-4\n'
                        '[dynamics]\nkT = 0.5\nn_replicas = 400\ntau = 2.0\ndt = 0.02\n')
    p = base.params(base.points()[0])
    lo = get_task("stress").func(p, 1)["rel_error"]
    hi = get_task("stress").func({**p, "kappa_ratio": 1e-2}, 1)["rel_error"]
    assert 30 < hi / lo < 300  # error linear in r (docs/theory/stress-backprop.md): x100 in r gives ~x100 in error
    eq = get_task("equilibrium").func({**p, "n_replicas": 2000}, 2)
    ratio, se = np.array(eq["equipartition"]), np.array(eq["equipartition_se"])
    assert np.all(np.abs(ratio - 1) < 5 * se) and eq["n_params"] == 3 * 5 + 5 + 5 + 1  # exact: 1 within 5 SE
    assert np.all(np.abs(ratio / 1.25 - 1) > 5 * se)  # negative control: a kT misstated by 25 % is caught
    assert get_task("equilibrium").func({**p, "n_replicas": 2000}, 2) == eq  # same seed, same numbers
    pytest.importorskip("analogsim.inference.simulate")
    rx = get_task("relax").func({**p, "n_replicas": 64}, 3)
    assert rx["n_steps"] == 100 and rx["work"] > 0 and np.isfinite(rx["jarzynski"])


@pytest.mark.dask
def test_dask_local_cluster_gives_the_same_numbers(embedded_run, dask_cluster, tmp_path):
    cfg, out, _ = embedded_run
    cluster, _ = dask_cluster
    s = run_sweep(cfg, tmp_path / "dask", backend=DaskBackend(address=cluster.scheduler_address))
    assert s.n_ok == 16 and s.backend.startswith("dask")
    assert_same_numbers(open_results(out), open_results(tmp_path / "dask"))


@pytest.mark.dask
def test_dask_worker_killed_mid_sweep_completes(dask_cluster, tmp_path):
    cluster, client = dask_cluster
    log = tmp_path / "events.log"
    cfg = write(tmp_path, counting_config(log, 0.4, range(1, 6)))
    box = {}

    def go():
        try:
            box["summary"] = run_sweep(cfg, tmp_path / "out", retries=0,
                                       backend=DaskBackend(address=cluster.scheduler_address))
        except BaseException as exc:  # surfaced by the main thread
            box["error"] = exc

    th = threading.Thread(target=go)
    th.start()
    pids = set(client.run(os.getpid).values())
    victim, deadline = None, time.time() + 60
    while victim is None and time.time() < deadline:  # a worker that is running a point right now
        running = {}
        for line in log.read_text().splitlines() if log.exists() else []:
            e = json.loads(line)
            key = json.dumps(e["coords"], sort_keys=True)
            running[key] = e["pid"] if e["event"] == "start" else None
        busy = {p for p in running.values() if p in pids}
        done = len(list((tmp_path / "out" / "points").glob("*.json"))) if (tmp_path / "out").exists() else 0
        if busy and done >= 1:
            victim = sorted(busy)[0]
        time.sleep(0.05)
    assert victim is not None, "no worker was seen running a point"
    os.kill(victim, signal.SIGKILL)
    th.join(180)
    assert not th.is_alive()
    assert "error" not in box, box.get("error")
    s = box["summary"]
    assert (s.n_points, s.n_ok, s.n_failed) == (10, 10, 0)
    ds = open_results(tmp_path / "out")
    assert (ds["status"].values == "ok").all()
    events = [json.loads(x) for x in log.read_text().splitlines()]
    victim_started = {json.dumps(e["coords"], sort_keys=True) for e in events if e["pid"] == victim}
    victim_done = {json.dumps(e["coords"], sort_keys=True) for e in events
                   if e["pid"] == victim and e["event"] == "done"}
    lost = victim_started - victim_done
    assert lost  # the killed worker was in the middle of a point ...
    redone = {json.dumps(e["coords"], sort_keys=True) for e in events if e["pid"] != victim and e["event"] == "done"}
    assert lost <= redone  # ... which the engine ran again elsewhere


# ----------------------------------------------------------------------------- kill -9 and resume
def test_kill9_then_resume_loses_and_recomputes_nothing(tmp_path):
    log = tmp_path / "events.log"
    cfg = write(tmp_path, counting_config(log, 0.3, range(1, 7)))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "analogsim.cli", "sweep", str(cfg), "--out", str(out), "--workers", "2"]
    with open(tmp_path / "stderr1", "wb") as err:
        proc = subprocess.Popen(cmd, env=env_with_tests(), stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    try:
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            if out.exists() and len(list((out / "points").glob("*.json"))) >= 4:
                break
            time.sleep(0.02)
        assert proc.poll() is None, (tmp_path / "stderr1").read_text()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        before = {f.name: json.loads(f.read_text()) for f in (out / "points").glob("*.json")}
        # the pool workers notice the dead driver and exit by themselves (no orphans)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("worker processes outlived the killed sweep")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert 4 <= len(before) < 12

    r = subprocess.run(cmd + ["--json"], env=env_with_tests(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["n_skipped"] == len(before) and summary["n_computed"] == 12 - len(before)
    after = {f.name: json.loads(f.read_text()) for f in (out / "points").glob("*.json")}
    assert len(after) == 12  # none lost
    for name, rec in before.items():  # none recomputed: same computation id and finish time
        assert (after[name]["compute_id"], after[name]["finished"]) == (rec["compute_id"], rec["finished"])
    done_events = {}
    for line in log.read_text().splitlines():
        e = json.loads(line)
        if e["event"] == "done":
            k = json.dumps(e["coords"], sort_keys=True)
            done_events[k] = done_events.get(k, 0) + 1
    for rec in before.values():
        assert done_events[json.dumps(rec["coords"], sort_keys=True)] == 1
    ds = open_results(out)
    assert ds.attrs["n_ok"] == 12 and (ds["status"].values == "ok").all()  # none duplicated, none missing

    ref_cfg = write(tmp_path, counting_config(None, 0.0, range(1, 7)), "ref.toml")
    run_sweep(ref_cfg, tmp_path / "ref", workers=2)
    assert_same_numbers(ds, open_results(tmp_path / "ref"))


# ----------------------------------------------------------------------------- failing points, retries, dead workers
def test_failing_point_recorded_and_sweep_goes_on(tmp_path, capsys):
    text = (f'[experiment]\nkind = "test_sweeps_tasks:flaky"\n[task]\nflaky_at = 3\nbroken_at = 2\n'
            f'marker_dir = "{tmp_path}"\n[sweep]\nwidth = [1, 2, 3]\n')
    cfg = write(tmp_path, text)
    out = tmp_path / "out"
    rc = cli.main(["sweep", str(cfg), "--out", str(out), "--workers", "1", "--retries", "1", "--json"])
    cap = capsys.readouterr()
    assert rc == 1, cap.err  # exit code 1: some points failed
    s = json.loads(cap.out)
    assert (s["n_ok"], s["n_failed"], s["n_retried"]) == (2, 1, 2)
    ds = open_results(out)
    assert list(ds["status"].values) == ["ok", "failed", "ok"]
    assert "broken for good" in str(ds["error"].sel(width=2).values)
    assert list(ds["attempts"].values) == [1, 2, 2]  # width 3 succeeded on its retry
    assert np.isnan(ds["value"].sel(width=2)) and np.isfinite(ds["value"].sel(width=3))
    ok_before = {f.name: f.read_text() for f in (out / "points").glob("*.json")}

    rc = cli.main(["sweep", str(cfg), "--out", str(out), "--workers", "1", "--keep-failed", "--json"])
    s = json.loads(capsys.readouterr().out)
    assert rc == 1 and s["n_computed"] == 0 and s["n_skipped"] == 3
    rc = cli.main(["sweep", str(cfg), "--out", str(out), "--workers", "1", "--retries", "0", "--json"])
    s = json.loads(capsys.readouterr().out)
    assert rc == 1 and s["n_computed"] == 1 and s["n_skipped"] == 2  # only the failed point runs again
    after = {f.name: f.read_text() for f in (out / "points").glob("*.json")}
    assert sum(after[k] != ok_before[k] for k in after) == 1


def test_local_worker_death_reruns_its_point(tmp_path):
    text = (f'[experiment]\nkind = "test_sweeps_tasks:crashing"\n[task]\ncrash_at = 2\nalways_crash_at = 4\n'
            f'sleep = 0.05\nmarker_dir = "{tmp_path}"\n[sweep]\nwidth = [1, 2, 3, 4, 5]\n')
    s = run_sweep(write(tmp_path, text), tmp_path / "out", workers=2, retries=0)
    ds = open_results(tmp_path / "out")
    assert list(ds["status"].values) == ["ok", "ok", "ok", "failed", "ok"]
    assert "worker process died 3 times" in str(ds["error"].sel(width=4).values)
    assert s.n_ok == 4 and s.n_failed == 1


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("text, words", [
    ("[experiment\nkind = 'stress'\n", "invalid TOML"),
    ("[experiment]\nkind = 'stress'\n[network]\nwidht = 4\n", "network.widht: unknown key"),
    ("[experiment]\nkind = 'stress'\n[network]\nwidth = 'wide'\n", "network.width: must be an integer"),
    ("[experiment]\nkind = 'stress'\n[sweep]\nkappa_ratio = [1e-3, -1]\n", "sweep.kappa_ratio[1]: must be > 0"),
    ("[experiment]\nkind = 'stress'\n", "network.kappa_ratio: is required by kind 'stress'"),
    ("[experiment]\nkind = 'no_such_kind'\n", "experiment.kind: unknown task kind"),
    ("[experiment]\nkind = 'no_such_module:f'\n", "experiment.kind: cannot import"),
])
def test_bad_config_exits_2_and_writes_nothing(tmp_path, capsys, text, words):
    cfg = write(tmp_path, text)
    rc = cli.main(["sweep", str(cfg), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and words in err, err
    assert not (tmp_path / "out").exists()


def test_missing_config_file(tmp_path, capsys):
    assert cli.main(["sweep", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_unreachable_scheduler_fails_fast_and_writes_nothing(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = write(tmp_path, counting_config(None, 0.0, [1]))
    t0 = time.perf_counter()
    rc = cli.main(["sweep", str(cfg), "--out", str(tmp_path / "out"), "--scheduler", f"tcp://127.0.0.1:{port}"])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert rc == 2 and "cannot reach the Dask scheduler" in err, err
    assert elapsed < 10
    assert not (tmp_path / "out").exists()


def test_malformed_scheduler_address(tmp_path, capsys):
    cfg = write(tmp_path, counting_config(None, 0.0, [1]))
    rc = cli.main(["sweep", str(cfg), "--out", str(tmp_path / "out"), "--scheduler", "http://host:8786"])
    assert rc == 2 and "must look like tcp://host:8786" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.dask
def test_cli_dask_local(tmp_path, capsys):
    pytest.importorskip("distributed")
    cfg = write(tmp_path, counting_config(None, 0.0, [1, 2]))
    assert cli.main(["sweep", str(cfg), "--out", str(tmp_path / "out"), "--dask-local", "2", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["n_ok"] == 4 and "LocalCluster(2 workers)" in s["backend"]


def test_unwritable_output_folder(tmp_path, capsys):
    cfg = write(tmp_path, counting_config(None, 0.0, [1]))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc = cli.main(["sweep", str(cfg), "--out", str(blocker / "out")])
    assert rc == 2 and "not a folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere: the permission case needs a normal user
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        rc = cli.main(["sweep", str(cfg), "--out", str(ro / "out")])
        assert rc == 2 and "not writable" in capsys.readouterr().err
        assert not (ro / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run.toml", "file"] + (["ro"] if os.geteuid() else []))


def test_foreign_results_folder_is_rejected(tmp_path, capsys):
    out = tmp_path / "out"
    a = write(tmp_path, counting_config(None, 0.0, [1, 2]), "a.toml")
    b = write(tmp_path, counting_config(None, 0.0, [1, 3]), "b.toml")
    run_sweep(a, out, workers=1)
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError, match="different config"):
        run_sweep(b, out, workers=1)
    assert cli.main(["sweep", str(b), "--out", str(out)]) == 2
    assert "holds results of a different config" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert cli.main(["sweep", str(a), "--out", str(other)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_runtime_crash_exits_3_and_keeps_finished_points(tmp_path, capsys, monkeypatch):
    from analogsim.sweeps import store as store_mod

    cfg = write(tmp_path, counting_config(None, 0.0, [1, 2, 3]))
    real = store_mod.ResultsStore.write_point
    calls = []

    def disk_full_on_third(self, point, rec, attempts):
        calls.append(point.key)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(self, point, rec, attempts)

    monkeypatch.setattr(store_mod.ResultsStore, "write_point", disk_full_on_third)
    rc = cli.main(["sweep", str(cfg), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert rc == 3 and "No space left" in capsys.readouterr().err
    assert len(list((tmp_path / "out" / "points").glob("*.json"))) == 2
    monkeypatch.setattr(store_mod.ResultsStore, "write_point", real)
    assert cli.main(["sweep", str(cfg), "--out", str(tmp_path / "out"), "--workers", "1", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["n_skipped"], s["n_computed"], s["n_ok"]) == (2, 4, 6)


def test_second_concurrent_sweep_into_one_folder_is_refused(tmp_path, capsys):
    import fcntl

    cfg = write(tmp_path, counting_config(None, 0.0, [1]))
    out = tmp_path / "out"
    run_sweep(cfg, out, workers=1)
    (out / "points" / next(p.name for p in (out / "points").iterdir())).unlink()  # leave work to do
    with open(out / ".lock", "r+") as fh:  # another driver holds the folder
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.write("4242\n")
        fh.flush()
        assert cli.main(["sweep", str(cfg), "--out", str(out), "--workers", "1"]) == 2
        assert "another analogsim sweep (pid 4242)" in capsys.readouterr().err
    assert cli.main(["sweep", str(cfg), "--out", str(out), "--workers", "1"]) == 0  # lock released: resumes


def test_dry_run_lists_points_and_runs_nothing(tmp_path, capsys):
    cfg = write(tmp_path, counting_config(None, 0.0, [1, 2, 3]))
    assert cli.main(["sweep", str(cfg), "--out", str(tmp_path / "out"), "--dry-run", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_points"] == 6 and info["n_done"] == 0 and not (tmp_path / "out").exists()


def test_train_task_reports_accuracy_beside_the_loss_for_classification_data():
    """Digits (one-hot targets): the train kind records train/test accuracy; teacher data (regression) does not."""
    from analogsim.data.config import parse_config
    from analogsim.sweeps.engine_tasks import classification_accuracy, classification_kind, train_task

    text = ('[experiment]\nkind = "train"\n[network]\nwidth = 16\n[data]\nsource = "digits"\nn_train = 300\n'
            'n_test = 200\n[dynamics]\nkT = 1e-8\n[training]\nmu = 50.0\nkappa_out = 1e-3\npresentations = 3000\n')
    r = train_task(parse_config(text).settings, seed=0)
    assert 0.0 <= r["test_accuracy"] <= 1.0 and 0.0 <= r["train_accuracy"] <= 1.0
    assert r["train_accuracy"] > 0.5 and r["test_accuracy"] > 0.3  # well above chance (0.1): it learned
    assert r["train_loss"] < r["initial_train_loss"]
    teacher = parse_config('[experiment]\nkind = "train"\n[dynamics]\nkT = 1e-8\n[training]\nkappa_out = 1e-3\n'
                           'presentations = 100\n')
    assert "test_accuracy" not in train_task(teacher.settings, seed=0)
    assert classification_kind(np.eye(3)) == "onehot" and classification_kind([[0.2], [1.0]]) is None
    assert classification_accuracy([[0.9, 0.1], [0.2, 0.7]], [[1, 0], [0, 1]]) == 1.0
