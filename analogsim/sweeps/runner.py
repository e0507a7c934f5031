"""Run a sweep: expand the grid, skip finished points, run the rest on a backend, store each point the
moment it finishes, and consolidate the dataset.

Fault model
-----------
- The driver is killed (kill -9, power loss): every point already written is kept; re-running the same
  command resumes and runs only the points without a record. Writes are atomic, so a point file is
  either complete or absent.
- A point raises: its error is recorded (status 'failed'), the sweep goes on; the point is retried up
  to ``retries`` times first. A re-run retries failed points again unless ``rerun_failed=False``.
- A worker dies: Dask re-runs its tasks by itself; the local pool is restarted and the points that were
  in flight are re-run one at a time to find the culprit (a point that kills its worker 3 times while
  running alone is recorded as failed; the others are not charged).
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..data.config import ExperimentConfig, load_config
from .backends import make_backend
from .store import RESULTS_FILE, ResultsStore, flagged_points
from .tasks import check_requirements, get_task
from .worker import run_point

__all__ = ["run_sweep", "SweepSummary", "prepare", "estimate_points"]

log = logging.getLogger("analogsim.sweeps")


@dataclass
class SweepSummary:
    """What a sweep did (also the ``--json`` output of ``analogsim sweep``).

    ``n_skipped``: points already done before this run; ``n_computed``: points this run wrote;
    ``n_retried``: extra attempts (exceptions retried, points re-run after a worker died);
    ``failed``: up to 50 ``{"coords", "error"}`` of failed points.

    Examples
    --------
    >>> s = SweepSummary(name="demo", out="results/demo", results="results/demo/results.nc", config_hash="0",
    ...                  backend="local process pool (2 workers)", n_points=4, n_ok=4)
    >>> s.to_dict()["n_ok"], s.n_failed
    (4, 0)
    """

    name: str
    out: str
    results: str
    config_hash: str
    backend: str
    n_points: int
    n_ok: int = 0
    n_failed: int = 0
    n_flagged: int = 0
    n_skipped: int = 0
    n_computed: int = 0
    n_retried: int = 0
    wall_s: float = 0.0
    failed: list = field(default_factory=list)
    flagged: list = field(default_factory=list)  # finished, but the physics went wrong (analogsim.report.health)

    def to_dict(self) -> dict:
        """Plain data (for JSON)."""
        return asdict(self)


def prepare(config, out=None):
    """Validate everything that can be checked without running: config, task kind, output folder.

    Returns ``(config, spec, store, resuming)``; nothing is written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "eq.toml"
    >>> _ = p.write_text('[experiment]\\nkind = "equilibrium"\\n[dynamics]\\nkT = 0.1\\n[sweep]\\nwidth = [4, 8]\\n')
    >>> cfg, spec, store, resuming = prepare(p, p.parent / "out")
    >>> spec.name, cfg.n_points, resuming, store.path.exists()
    ('equilibrium', 2, False, False)
    """
    if not isinstance(config, ExperimentConfig):
        config = load_config(config)
    spec = get_task(config.kind)
    check_requirements(spec, config)
    if out is None:
        out = Path("results") / config.name
    store = ResultsStore(out, config)
    resuming = store.check()
    return config, spec, store, resuming


def run_sweep(config, out=None, *, backend=None, workers: int | None = None, scheduler: str | None = None,
              dask_local: int | None = None, retries: int = 1, rerun_failed: bool = True,
              connect_timeout: float = 5.0, progress=None) -> SweepSummary:
    """Run (or resume) a sweep and write its results folder.

    Parameters
    ----------
    config : ExperimentConfig or path to a TOML file
    out : path, optional
        Results folder; default ``results/<experiment name>``.
    backend : LocalPool or DaskBackend, optional
        Default: chosen from ``workers`` / ``scheduler`` / ``dask_local`` (see
        :func:`analogsim.sweeps.backends.make_backend`); a local pool over all cores if none is given.
        A backend passed in is started and closed here, unless it is already running (then it is left
        running, e.g. to run several sweeps on one cluster).
    retries : int
        Extra attempts for a point whose attempt failed (exception or lost worker).
    rerun_failed : bool
        On resume, run again the points recorded as failed (default) or keep their failure.
    connect_timeout : float
        Seconds to wait for a Dask scheduler.
    progress : callable, optional
        ``progress(total=..., initial=...)`` returning an object with ``update(n)`` and ``close()``
        (e.g. a tqdm factory).

    Returns
    -------
    SweepSummary

    Raises
    ------
    ConfigError, CheckpointError, PermissionError, NotADirectoryError
        Before anything runs or is written.
    SchedulerUnreachable
        The Dask scheduler did not answer within ``connect_timeout``; nothing is written.

    Examples
    --------
    >>> s = run_sweep("examples/stress_vs_kappa.toml", "results/stress", workers=2)   # doctest: +SKIP
    >>> s.n_ok == s.n_points                                                           # doctest: +SKIP
    True
    """
    t_start = time.perf_counter()
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
    config, spec, store, resuming = prepare(config, out)
    points = config.points()
    done = store.finished(points, include_failed=not rerun_failed) if resuming else {}
    todo = [p for p in points if p.key not in done]
    est = estimate_points(config, todo, check=True)  # a point that cannot fit in memory is refused before any work
    if est["seconds"] > 3600:
        from ..report.progress import format_seconds

        log.warning("this sweep needs at least about %s of compute for %d point(s) (a lower bound; "
                    "`analogsim sweep CONFIG --dry-run` shows the estimate); Ctrl-C stops it, finished points are kept",
                    format_seconds(est["seconds"]), len(todo))
    if backend is None:
        backend = make_backend(workers, scheduler, dask_local, connect_timeout=connect_timeout)
    summary = SweepSummary(name=config.name, out=str(store.path), results=str(store.path / RESULTS_FILE),
                           config_hash=config.hash, backend=backend.describe(), n_points=len(points),
                           n_skipped=len(done))
    if resuming:
        log.info("resuming %s: %d of %d points already done", store.path, len(done), len(points))
    bar = progress(total=len(points), initial=len(done)) if progress is not None else None
    try:
        if todo:
            owned = not backend.running
            if owned:
                backend.start()  # connect before writing anything: an unreachable scheduler leaves no folder
            try:
                store.open()
                _execute(backend, spec.func, config, store, todo, retries, summary, bar)
            except BaseException:
                if owned:
                    backend.close(abort=True)  # do not wait for running points: finished ones are on disk
                raise
            if owned:
                backend.close()
        else:
            store.open()
        ds = store.consolidate(spec.dims, extra_attrs={"backend": summary.backend})
    finally:
        store.close()
        if bar is not None:
            bar.close()
    summary.n_ok = int(ds.attrs["n_ok"])
    summary.n_failed = int(ds.attrs["n_failed"])
    summary.n_flagged = int(ds.attrs.get("n_flagged", 0))
    summary.flagged = flagged_points(ds)
    summary.failed = [{"coords": _coords_of(ds, i), "error": str(e)}
                      for i, e in _failed_points(ds)][:50]
    summary.wall_s = time.perf_counter() - t_start
    return summary


def _point_sizes(params: dict) -> list[int]:
    if params.get("sizes"):
        return [int(n) for n in params["sizes"]]
    return ([int(params["n_in"])] + [int(params["width"])] * (int(params["depth"]) - 1)
            + [int(params["n_out"])])


def estimate_points(config, points=None, *, check: bool = False) -> dict:
    """Lower-bound memory and compute time of sweep points, from their sizes (nothing is allocated).

    Returns ``{"seconds": total compute seconds (one core, compilation excluded), "max_bytes": the
    largest point's memory, "per_point": [(point, seconds, bytes, setting)], "too_big": [...]}``; with
    ``check`` a point whose memory exceeds what this machine has available raises ValueError naming
    the point, the setting, the estimate and the available memory.

    Examples
    --------
    >>> from analogsim.data.config import parse_config
    >>> cfg = parse_config('[experiment]\\nkind = "train"\\n[dynamics]\\nkT = 0.0\\n[sweep]\\nwidth = [4, 8]\\n')
    >>> est = estimate_points(cfg)
    >>> len(est["per_point"]), est["seconds"] < 60
    (2, True)
    """
    from ..report import resources as R

    points = config.points() if points is None else points
    avail = R.available_memory()
    out = {"seconds": 0.0, "max_bytes": 0, "per_point": [], "too_big": [], "available_bytes": avail}
    for p in points:
        q = config.params(p)
        if q.get("graph") is not None:
            continue  # a graph network: no estimate from chain sizes (its cost is not a dense chain's)
        try:
            sizes = _point_sizes(q)
        except (KeyError, TypeError, ValueError):
            continue  # a custom task without a network
        setting = "network.sizes" if q.get("sizes") else "network.width"
        item = 4 if q.get("dtype") == "float32" else 8
        too_wide = any(n > R.MAX_WIDTH for n in sizes)
        kind = config.kind
        if kind == "train":
            hard = q.get("kappa_out") is None and q.get("fidelity") != "joint"
            nbytes = R.train_bytes(sizes, batch_size=q.get("batch_size") or 1, itemsize=item, hard_clamp=hard)
            secs = R.train_seconds(sizes, q.get("presentations") or 1, batch_size=q.get("batch_size") or 1,
                                   substeps=q.get("substeps") or 1, hard_clamp=hard)
        elif kind in ("relax", "equilibrium"):
            reps = int(q.get("n_replicas") or 1)
            n_steps = int(q.get("n_steps") or 1)
            if kind == "relax" and q.get("tau") and q.get("dt"):
                n_steps = max(1, int(round(float(q["tau"]) / float(q["dt"]))))
            if kind == "equilibrium":
                n_steps = 1
            steps_b = 24 * n_steps if kind == "relax" else 0
            nbytes = R.relax_bytes(sizes, reps, itemsize=item) + steps_b
            secs = R.relax_seconds(sizes, n_steps, reps)
            parts = {setting: R.relax_bytes(sizes, 0, itemsize=item),
                     "dynamics.n_replicas": nbytes - steps_b - R.relax_bytes(sizes, 0, itemsize=item),
                     ("dynamics.tau" if q.get("tau") else "dynamics.n_steps"): steps_b}
            setting = max(parts, key=parts.get)
        else:
            nbytes = R.train_bytes(sizes, batch_size=int(q.get("n_samples") or 1), itemsize=item)
            secs = R.train_seconds(sizes, 1000)
        out["seconds"] += secs
        out["max_bytes"] = max(out["max_bytes"], nbytes)
        out["per_point"].append((p, secs, nbytes, setting))
        if too_wide or (avail is not None and nbytes > 0.9 * avail):
            out["too_big"].append((p, secs, nbytes, setting))
    if check and out["too_big"]:
        p, _, nbytes, setting = out["too_big"][0]
        where = f"point {p.index} {p.coords}" if p.coords else "the experiment"
        avail_s = R.format_bytes(avail) if avail is not None else "unknown"
        raise ValueError(f"{setting}: {where} would need about {R.format_bytes(nbytes)} of memory, more than "
                         f"this machine has available ({avail_s}); {len(out['too_big'])} of {len(points)} point(s) "
                         "are too large: lower it")
    return out


MAX_LOSSES = 3  # like Dask's allowed-failures: a point that killed its worker this often is marked failed


def _execute(backend, func, config, store, todo, retries, summary, bar):
    """Keep up to ``backend.max_in_flight`` points submitted; write each record as it arrives.

    When a local worker dies, every point in flight gets the same error, so the culprit is unknown: those
    points become suspects and run one at a time (nothing else in flight) until each has either finished
    or killed its worker alone; only a point that kills a worker while running alone is charged.
    """
    done_q: queue.Queue = queue.Queue()
    waiting = list(reversed(todo))  # pop() from the end keeps grid order
    suspects: list = []
    in_flight: dict = {}  # future -> (point, generation, ran alone)
    submits: dict[str, int] = {}
    errors: dict[str, int] = {}
    losses: dict[str, int] = {}
    generation = 0
    run_token = uuid.uuid4().hex[:8]
    limit = backend.max_in_flight or len(todo)

    def submit(point, alone=False):
        n = submits[point.key] = submits.get(point.key, 0) + 1
        fut = backend.submit(run_point, func, config.params(point), point.seed,
                             key=f"analogsim-{config.name}-{point.key}-{run_token}-{n}")
        in_flight[fut] = (point, generation, alone)
        fut.add_done_callback(done_q.put)

    def fill():
        if suspects:  # quarantine: one suspect at a time, alone on the pool
            if not in_flight:
                submit(suspects.pop(0), alone=True)
            return
        while waiting and len(in_flight) < limit:
            submit(waiting.pop())

    fill()
    while in_flight:
        fut = done_q.get()
        if fut not in in_flight:
            continue
        point, gen, alone = in_flight.pop(fut)
        try:
            rec = fut.result()
        except BaseException as exc:  # lost worker, cancelled future, or a transport error
            rec = {"status": "failed", "results": {}, "error": f"{type(exc).__name__}: {exc}",
                   "traceback": None, "duration_s": None}
            if backend.is_lost(exc):
                if gen == generation:  # the first report of this loss: start a fresh pool
                    backend.recover()
                    generation += 1
                if alone:
                    losses[point.key] = losses.get(point.key, 0) + 1
                if losses.get(point.key, 0) < MAX_LOSSES:
                    log.info("point %d %s: a worker died while it was in flight; re-running it%s", point.index,
                             point.coords, "" if alone else " alone")
                    summary.n_retried += 1
                    suspects.append(point)
                    fill()
                    continue
                rec["error"] = (f"its worker process died {MAX_LOSSES} times while running it alone "
                                f"({rec['error']})")
        if rec["status"] == "failed" and not rec["error"].startswith("its worker process died"):
            errors[point.key] = errors.get(point.key, 0) + 1
            if errors[point.key] <= retries:
                log.info("point %d %s failed (%s); retrying", point.index, point.coords, rec["error"])
                summary.n_retried += 1
                waiting.append(point)
                fill()
                continue
        fill()  # keep the workers busy before spending time on the write
        store.write_point(point, rec, submits[point.key])
        summary.n_computed += 1
        if rec["status"] == "failed":
            log.warning("point %d %s failed after %d attempt(s): %s", point.index, point.coords,
                        submits[point.key], rec["error"])
        if bar is not None:
            bar.update(1)


def _failed_points(ds):
    import numpy as np

    st = ds["status"].values
    err = ds["error"].values
    failed = zip(*np.nonzero(st == "failed")) if st.ndim else ([()] if st == "failed" else [])  # 0-d: no [sweep]
    for idx in failed:
        yield idx, err[idx]


def _coords_of(ds, idx):
    names = list(ds["status"].dims)
    return {n: ds[n].values[i].item() for n, i in zip(names, idx)}
