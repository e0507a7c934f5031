"""Helpers of the fault-injection tests (no tests here): a sweep task kind the workers import, process
kills with bounded waits, and checks that every file a run left behind is complete.

The sweep workers import this module by name (``kind = "test_faults_helpers:steady"``), so it must stay
importable without pytest fixtures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: the last 12 bytes of a complete PNG


# ----------------------------------------------------------------------------- a sweep task kind
def steady(params: dict, seed: int) -> dict:
    """A small real computation (exact equilibrium sample) whose numbers depend only on the point's seed.

    ``sleep`` (seconds) stretches the point so that kills land between point writes; ``payload`` adds a
    1-D result of that many numbers (a bigger point record, for the full-disk tests).
    """
    import numpy as np

    from analogsim import Network, sample_equilibrium

    rng = np.random.default_rng(seed)
    net = Network.create([3, int(params["width"]), 1], activations=["tanh", "identity"], seed=rng)
    s = sample_equilibrium(net, rng.standard_normal(3), params["kT"], n_replicas=256, seed=rng)
    time.sleep(float(params.get("sleep", 0.0)))
    out = {"mean_out": float(s.xs[-1].mean()), "var_out": float(s.xs[-1].var()), "n_params": net.n_params}
    n = int(params.get("payload", 0))
    if n:
        out["payload"] = rng.standard_normal(n)
    return out


def engines(params: dict, seed: int) -> dict:
    """The registered ``equilibrium``, ``relax`` and ``train`` tasks on one point (results prefixed)."""
    from analogsim.sweeps.engine_tasks import relax_task, train_task
    from analogsim.sweeps.tasks import equilibrium_task

    out = {}
    for prefix, task in (("eq_", equilibrium_task), ("relax_", relax_task), ("train_", train_task)):
        out.update({prefix + k: v for k, v in task(dict(params), seed).items()})
    return out


ENGINES_CONFIG = """
[experiment]
kind = "test_faults_helpers:engines"
seed = 5
[network]
n_in = 3
width = 6
depth = 2
[data]
n_train = 24
n_test = 16
[dynamics]
kT = 0.001
dt = 0.01
n_steps = 300
n_replicas = 64
[training]
mu = 20.0
tau_inf = 1.0
presentations = 400
kappa_out = 0.01
[sweep]
integrator = ["em", "mala"]
seed = {start = 0, stop = %d}
"""


def sweep_config(sleep: float = 0.0, widths=(2, 3, 4, 5), seeds: int = 2, payload: int = 0, extra: str = "") -> str:
    return (f'[experiment]\nkind = "test_faults_helpers:steady"\nseed = 7\n[dynamics]\nkT = 0.2\n'
            f'[task]\nsleep = {sleep}\npayload = {payload}\n{extra}'
            f'[sweep]\nwidth = {list(widths)}\nseed = {{start = 0, stop = {seeds}}}\n')


# ----------------------------------------------------------------------------- a training run
TRAIN_S = {"separated": 40000, "joint": 3000}


def train_run(ck, out, fidelity: str = "separated", presentations: int | None = None, dtype: str = "float64"):
    """A checkpointed training run whose summary (books, curves, final theta) goes to ``out`` (JSON)."""
    from analogsim import Network
    from analogsim._io import atomic_write_json
    from analogsim.data import teacher_student
    from analogsim.training import train

    S = int(presentations or TRAIN_S[fidelity])
    ds = teacher_student(n_in=3, n_out=1, n_train=64, n_test=32, seed=0)
    net = Network.create([3, 8, 1], activations=["tanh", "identity"], kappa=1.0, seed=1, dtype=dtype)
    kw = dict(kappa_out=1e-3) if fidelity == "separated" else dict(kappa_out=1e-2, neuron_mobility=50.0)
    res = train(net, ds, presentations=S, mu=100.0, tau_inf=1.0, kT=1e-6, seed=2, fidelity=fidelity,
                checkpoint=ck, checkpoint_every=max(1, S // 25), eval_every=max(1, S // 50), **kw)
    summary = res.summary()
    summary["records"] = {k: v.tolist() for k, v in res.records.items()}
    summary["theta"] = res.theta.tolist()
    atomic_write_json(out, summary)
    return summary


def train_cmd(folder: Path, fidelity: str = "separated") -> list[str]:
    """``python -c`` running :func:`train_run` with its checkpoint and result in ``folder``."""
    code = (f"import test_faults_helpers as h; h.train_run({str(folder / 'ck.npz')!r}, "
            f"{str(folder / 'result.json')!r}, {fidelity!r})")
    return [sys.executable, "-c", code]


# ----------------------------------------------------------------------------- an in-process sweep backend
class SerialBackend:
    """The runner's backend interface in process (no pool start-up): enough to test the results store."""

    name = "serial"
    max_in_flight = 1
    running = False  # the runner starts and closes it

    def describe(self):
        return "in-process (tests)"

    def start(self):
        return self

    def submit(self, fn, *args, key=None):
        fut = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001
            fut.set_exception(exc)
        return fut

    @staticmethod
    def is_lost(exc):
        return False

    def recover(self):
        pass

    def close(self, abort=False):
        pass



# ----------------------------------------------------------------------------- processes
def env(**extra) -> dict:
    """The environment of a CLI subprocess: this checkout and the tests folder importable."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT)] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
    e.update({k: str(v) for k, v in extra.items()})
    return e


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "analogsim.cli", *map(str, args)]


def run(cmd, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run to completion (bounded: a hang fails the test instead of the suite)."""
    return subprocess.run(cmd, env=kw.pop("env", env()), capture_output=True, text=True, timeout=timeout, **kw)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started (its own session), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
        raise AssertionError(f"process {proc.pid} survived SIGKILL")
    deadline = time.time() + 30
    while time.time() < deadline:  # the group is empty once every member is reaped or gone
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {proc.pid} outlived SIGKILL")


def start(cmd, log: Path, **kw) -> subprocess.Popen:
    fh = open(log, "wb")
    try:
        return subprocess.Popen(cmd, env=kw.pop("env", env()), stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True, **kw)
    finally:
        fh.close()


def kill_after(cmd, delay: float, log: Path, until=None, timeout: float = 300, **kw) -> bool:
    """Start ``cmd``, SIGKILL its whole process group after ``delay`` seconds (or as soon as ``until()``
    is true, if given). Returns True if it was killed, False if it had finished first."""
    proc = start(cmd, log, **kw)
    t0 = time.monotonic()
    try:
        while proc.poll() is None:
            now = time.monotonic() - t0
            if now >= timeout:
                raise AssertionError(f"{cmd} neither finished nor reached its kill point in {timeout} s")
            if (until is None and now >= delay) or (until is not None and until()):
                kill_group(proc)
                return True
            time.sleep(0.01)
        return False
    finally:
        if proc.poll() is None:
            kill_group(proc)


# ----------------------------------------------------------------------------- what a run left behind
def temp_files(folder: Path) -> list[Path]:
    """Leftover temporary files of analogsim._io.atomic_write_bytes (``.NAME.XXXX.tmp``)."""
    return sorted(p for p in Path(folder).rglob(".*.tmp") if p.is_file())


def check_complete(folder: Path) -> dict:
    """Every regular (non-temporary) file under ``folder`` is complete and readable; returns name -> kind.

    JSON parses; .npz checkpoints verify (sha256); .nc opens; .png has its signature and IEND chunk;
    report.md lists exactly the claims of report.json.
    """
    from analogsim.data.checkpoint import load_checkpoint

    seen = {}
    tmp = set(temp_files(folder))
    for p in sorted(Path(folder).rglob("*")):
        if not p.is_file() or p in tmp:
            continue
        data = p.read_bytes()
        if p.suffix == ".json":
            json.loads(data)
            seen[p.name] = "json"
        elif p.suffix == ".npz" and p.name.startswith("ck"):
            load_checkpoint(p, kind="train")
            seen[p.name] = "checkpoint"
        elif p.suffix == ".npz":
            import numpy as np

            with np.load(p, allow_pickle=False) as z:
                [z[k] for k in z.files]
            seen[p.name] = "npz"
        elif p.suffix == ".nc":
            from analogsim.sweeps import open_results

            open_results(p)
            seen[p.name] = "netcdf"
        elif p.suffix == ".png":
            assert data.startswith(PNG_SIGNATURE) and data.endswith(PNG_END), f"{p} is not a complete PNG"
            seen[p.name] = "png"
        elif p.name == "report.md":
            seen[p.name] = "report"
        elif p.name == ".lock":  # the results folder's lock (one sweep at a time)
            seen[p.name] = "lock"
        elif p.suffix == ".lock":  # a checkpoint's flock file: the kernel releases the lock when its holder dies
            seen[p.name] = "lock"
        elif p.suffix in (".toml", ".log", ".txt", ".md"):
            seen[p.name] = "text"
        else:
            raise AssertionError(f"unexpected file {p}")
    rep = Path(folder) / "report.json"
    if rep.exists():
        info = json.loads(rep.read_text())
        md = (Path(folder) / "report.md").read_text()
        rows = [ln for ln in md.splitlines() if ln.startswith("| [")]
        assert len(rows) == len(info["claims"]), "report.md and report.json disagree"
        for c in info["claims"]:
            assert f"#{c['name']})" in md
            for fig in c["figures"]:
                assert (Path(folder) / fig).is_file(), f"report names a missing figure {fig}"
    return seen
