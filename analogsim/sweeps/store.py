"""The results folder of a sweep: one JSON file per finished point, and the consolidated dataset.

Layout of ``OUT/``::

    run.json            format, config hash, normalised config, axes, versions (written once)
    .lock               held (flock) by the sweep writing to the folder; refuses a second one
    config.toml         the config text as given
    points/<key>.json   one record per point (written atomically the moment it finishes)
    results.nc          the consolidated xarray dataset (netCDF3, written atomically at the end)

Nothing is pickled; every file is JSON, TOML or netCDF. A folder made by a different config (another
hash) is refused, so a resumed run can never mix two experiments.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..data.config import ExperimentConfig, Point, canonical_json
from ..errors import CheckpointError
from ..report.health import encode, is_flagged, judge
from ..bounds.units import RunUnits

__all__ = ["ResultsStore", "open_results", "versions", "flagged_points", "energy_summary"]

log = logging.getLogger("analogsim.sweeps")
STORE_FORMAT = "analogsim-sweep/1"
RESULTS_FILE = "results.nc"
_STATUS = ("ok", "flagged", "failed", "missing")
#: Results that are energies (energy units, k_B = 1): each gets ``<name>_J`` and ``<name>_bits`` beside it.
ENERGY_RESULTS = ("work", "heat", "bound", "bound_2NSkT", "free_energy")


def versions() -> dict[str, str]:
    """Versions of analogsim and the libraries that shape the numbers.

    Examples
    --------
    >>> sorted(k for k in versions() if k in ("analogsim", "numpy", "python"))
    ['analogsim', 'numpy', 'python']
    """
    from .. import __version__

    out = {"analogsim": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "platform": platform.platform()}
    for mod in ("scipy", "numba", "xarray", "distributed"):
        m = sys.modules.get(mod)
        if m is None and mod in ("scipy", "xarray"):
            m = __import__(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
    return out


class ResultsStore:
    """A sweep's results folder.

    Parameters
    ----------
    path : str or Path
        The folder (created on :meth:`open`, not before).
    config : ExperimentConfig

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from analogsim.data.config import parse_config
    >>> cfg = parse_config('[experiment]\\nkind = "x:y"\\n[sweep]\\nseed = [0, 1]\\n')
    >>> store = ResultsStore(pathlib.Path(tempfile.mkdtemp()) / "run", cfg)
    >>> store.check()                     # a new folder: nothing is written yet
    False
    >>> store.open(); store.write_point(cfg.points()[0], {"status": "ok", "results": {"y": 1.0}}, attempts=1)
    >>> list(store.finished(cfg.points()))  == [cfg.points()[0].key]
    True
    >>> ds = store.consolidate(); store.close()
    >>> ds["y"].values.tolist(), ds["status"].values.tolist()
    ([1.0, nan], ['ok', 'missing'])
    """

    def __init__(self, path, config: ExperimentConfig):
        self.path = Path(path)
        self.config = config
        self.points_dir = self.path / "points"

    # ------------------------------------------------------------------ checks (nothing written)
    def check(self) -> bool:
        """Check that the folder can hold this run, without writing anything.

        Returns True if the folder already holds this run (a resume), False if it is new.

        Raises
        ------
        CheckpointError
            The folder holds another run (other config hash) or is not a sweep folder.
        NotADirectoryError, PermissionError
            The folder cannot be created or written.
        """
        p = self.path
        if p.exists():
            if not p.is_dir():
                raise NotADirectoryError(f"output folder {str(p)!r} exists and is not a folder")
            meta = p / "run.json"
            if meta.exists():
                try:
                    info = json.loads(meta.read_text())
                except (OSError, ValueError) as exc:
                    raise CheckpointError(f"{meta} is unreadable ({exc}); use another --out folder") from None
                if not isinstance(info, dict) or info.get("format") != STORE_FORMAT:
                    fmt = info.get("format") if isinstance(info, dict) else type(info).__name__
                    raise CheckpointError(f"{meta} is not an analogsim sweep folder "
                                          f"(format {fmt!r}); use another --out folder")
                if info.get("config_hash") != self.config.hash:
                    raise CheckpointError(
                        f"output folder {str(p)!r} holds results of a different config "
                        f"(hash {str(info.get('config_hash'))[:12]}, made from {info.get('source')!r}); "
                        f"this config has hash {self.config.hash[:12]}. Use another --out folder, "
                        "or restore the original config to resume.")
                self._check_writable(p)
                return True
            if any(p.iterdir()) and not self._only_own_skeleton(p):
                raise CheckpointError(f"output folder {str(p)!r} is not empty and holds no run.json; "
                                      "use an empty or new folder")
            self._check_writable(p)
            return False
        parent = p.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise NotADirectoryError(f"cannot create output folder {str(p)!r}: {str(parent)!r} is not a folder")
        self._check_writable(parent)
        return False

    @staticmethod
    def _only_own_skeleton(p: Path) -> bool:
        """True if the folder holds only what :meth:`open` makes before run.json (a sweep killed there):
        an empty points/, the lock, config.toml and temporary files. No point can finish before run.json."""
        for entry in p.iterdir():
            name = entry.name
            if name == "points" and entry.is_dir():
                if any(entry.iterdir()):
                    return False
            elif name not in (".lock", "config.toml") and not (name.startswith(".") and name.endswith(".tmp")):
                return False
        return True

    @staticmethod
    def _check_writable(folder: Path) -> None:
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"output folder {str(folder)!r} is not writable")

    # ------------------------------------------------------------------ writing
    def open(self) -> None:
        """Create the folder, take its lock, and write run.json / config.toml (once; kept on resume).

        Raises
        ------
        CheckpointError
            Another sweep is writing to this folder right now.
        """
        self.points_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        self._remove_stale_temporaries()
        meta = self.path / "run.json"
        if not meta.exists():
            cfg = self.config
            atomic_write_text(self.path / "config.toml", cfg.text)
            atomic_write_json(meta, {
                "format": STORE_FORMAT, "config_hash": cfg.hash, "name": cfg.name, "kind": cfg.kind,
                "source": cfg.source, "axes": cfg.axes, "n_points": cfg.n_points, "config": cfg.normalized,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": versions()})

    def _lock(self) -> None:
        """An exclusive lock on OUT/.lock for the life of the run (released by the OS if the driver dies)."""
        if getattr(self, "_lock_fd", None) is not None:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no protection against two concurrent drivers
            return
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise CheckpointError(f"another analogsim sweep (pid {holder}) is writing to {str(self.path)!r}; "
                                  "wait for it to finish or use another --out folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _remove_stale_temporaries(self) -> None:
        """Delete what a killed run's atomic writes left behind (``.NAME.XXXX.tmp`` of this store's own files).

        Called with the lock held, so no other sweep is writing here.
        """
        own = re.compile(r"\.(run\.json|config\.toml|results\.nc|[0-9a-f]{16}\.json)\.[^/]*\.tmp")
        for folder in (self.path, self.points_dir):
            for entry in os.scandir(folder):
                if entry.is_file(follow_symlinks=False) and own.fullmatch(entry.name):
                    try:
                        os.unlink(entry.path)
                        log.info("removed a stale temporary file %s", entry.path)
                    except OSError:
                        pass

    def close(self) -> None:
        """Release the folder's lock (the files stay)."""
        fd, self._lock_fd = getattr(self, "_lock_fd", None), None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    def point_path(self, point: Point) -> Path:
        """The file of one point's record."""
        return self.points_dir / f"{point.key}.json"

    def write_point(self, point: Point, record: dict, attempts: int) -> None:
        """Write one point's record atomically (coordinates, seed, status, results, timing)."""
        rec = {"index": point.index, "key": point.key, "coords": point.coords, "seed": str(point.seed),
               "attempts": attempts, "finished": time.time(), **record}
        atomic_write_bytes(self.point_path(point), json.dumps(rec, indent=1, allow_nan=False).encode() + b"\n")

    # ------------------------------------------------------------------ reading
    def read_point(self, point: Point) -> dict | None:
        """The stored record of ``point``, or None if it has none (or an unusable one, with a warning)."""
        path = self.point_path(point)
        try:
            rec = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable point file %s (%s); the point will be recomputed", path, exc)
            return None
        if not isinstance(rec, dict) or canonical_json(rec.get("coords")) != canonical_json(point.coords) \
                or rec.get("status") not in ("ok", "failed"):
            log.warning("ignoring point file %s: it does not match the point's coordinates", path)
            return None
        return rec

    def finished(self, points, include_failed: bool = False) -> dict[str, dict]:
        """key -> record for the points already done (status ok; failed too if ``include_failed``)."""
        done = {}
        if not self.points_dir.is_dir():
            return done
        present = {f.name for f in os.scandir(self.points_dir)}
        for p in points:
            if f"{p.key}.json" in present:
                rec = self.read_point(p)
                if rec is not None and (rec["status"] == "ok" or include_failed):
                    done[p.key] = rec
        return done

    # ------------------------------------------------------------------ consolidation
    def consolidate(self, dims: dict | None = None, extra_attrs: dict | None = None):
        """Build the labelled dataset from the point files and write ``results.nc`` atomically.

        Parameters
        ----------
        dims : dict, optional
            Result name -> dimension name for 1-D results (the task's ``dims``).
        extra_attrs : dict, optional
            More string/number attributes (e.g. the backend used).

        Returns
        -------
        xarray.Dataset
        """
        ds = build_dataset(self.config, [(p, self.read_point(p)) for p in self.config.points()], dims,
                           extra_attrs)
        data = ds.to_netcdf(None, engine="scipy")  # netCDF3 bytes in memory, then one atomic write
        atomic_write_bytes(self.path / RESULTS_FILE, bytes(data))
        return ds


def build_dataset(config: ExperimentConfig, records, dims: dict | None = None, extra_attrs: dict | None = None):
    """The sweep's xarray Dataset: one dimension per axis, one variable per result.

    Variables: every result (float64, NaN where a point is missing, failed or lacks it; 1-D results get
    an extra dimension), ``status`` ('ok'/'flagged'/'failed'/'missing'), ``health_flags`` (the codes of
    :mod:`analogsim.report.health` that a finished point raised, ';'-separated, '' if none), ``error`` (message,
    or for a flagged point the flags with cause and fix), ``attempts``, ``duration_s`` and ``point_seed``
    (decimal string). A finished point whose physics went wrong (a 'bad' health flag: loss exploded,
    solver fallbacks on most steps, ...) has status 'flagged', not 'ok'. Every energy result (see
    :data:`ENERGY_RESULTS`) in energy units gets ``<name>_J`` (joules) and ``<name>_bits`` (E / kT ln 2)
    beside it, with the run's physical temperature ``temperature_K`` and ``energy_unit_J`` per point
    (:class:`analogsim.bounds.units.RunUnits`; default 300 K). Attributes: the config as TOML and as JSON, its
    hash, the task kind, the sweep axes, counts per status and library versions.

    Examples
    --------
    >>> from analogsim.data.config import parse_config
    >>> cfg = parse_config('[experiment]\\nkind = "x:y"\\n[sweep]\\nkT = [0.1, 0.2]\\n')
    >>> recs = [(p, {"status": "ok", "results": {"v": [1.0, 2.0]}}) for p in cfg.points()]
    >>> build_dataset(cfg, recs, dims={"v": "layer"})["v"].dims
    ('kT', 'layer')
    """
    import xarray as xr

    dims = dict(dims or {})
    names = list(config.axes)
    shape = config.shape
    n = config.n_points
    status = np.full(n, "missing", dtype=object)
    error = np.full(n, "", dtype=object)
    seed = np.full(n, "", dtype=object)
    attempts = np.zeros(n, dtype=np.int32)
    duration = np.full(n, np.nan)
    scalars: dict[str, np.ndarray] = {}
    strings: dict[str, np.ndarray] = {}
    arrays: dict[str, list] = {}
    reserved = set(names) | {"status", "error", "attempts", "duration_s", "point_seed", "health_flags"}
    flags = np.full(n, "", dtype=object)
    for point, rec in records:
        i = point.index
        seed[i] = str(point.seed)
        if rec is None:
            continue
        status[i] = rec["status"]
        error[i] = rec.get("error") or ""
        if rec["status"] == "ok":
            params = config.params(point)
            found = judge(rec.get("results") or {}, params)
            flags[i] = encode(found)
            if is_flagged(found):
                status[i] = "flagged"
                error[i] = "; ".join(str(f) for f in found if f.severity == "bad")
            rec = dict(rec, results=_with_units(rec.get("results") or {}, params))
        attempts[i] = int(rec.get("attempts", 1))
        d = rec.get("duration_s")
        duration[i] = np.nan if d is None else float(d)
        for name, v in (rec.get("results") or {}).items():
            if name in reserved:  # a result named like an axis or a bookkeeping variable
                name = f"{name}_result"
            if isinstance(v, list):
                arrays.setdefault(name, [None] * n)[i] = v
            elif isinstance(v, str):
                strings.setdefault(name, np.full(n, "", dtype=object))[i] = v
            else:
                scalars.setdefault(name, np.full(n, np.nan))[i] = np.nan if v is None else float(v)
    coords = {k: (k, np.asarray(v)) for k, v in config.axes.items()}
    data = {}
    for name, a in sorted(scalars.items()):
        data[name] = (names, a.reshape(shape))
    for name, a in sorted(strings.items()):
        data[name] = (names, a.reshape(shape).astype(str))
    for name, rows in sorted(arrays.items()):
        m = max(len(r) for r in rows if r is not None)
        a = np.full((n, m), np.nan)
        for i, r in enumerate(rows):
            if r is not None:
                a[i, :len(r)] = [np.nan if x is None else x for x in r]
        data[name] = (names + [dims.get(name, f"{name}_index")], a.reshape(shape + (m,)))
    data["status"] = (names, status.reshape(shape).astype(str))
    data["health_flags"] = (names, flags.reshape(shape).astype(str))
    data["error"] = (names, error.reshape(shape).astype(str))
    data["attempts"] = (names, attempts.reshape(shape))
    data["duration_s"] = (names, duration.reshape(shape))
    data["point_seed"] = (names, seed.reshape(shape).astype(str))
    attrs = {"title": f"analogsim sweep {config.name}", "kind": config.kind, "config_hash": config.hash,
             "config_toml": config.text, "config_json": canonical_json(config.normalized),
             "sweep_axes": " ".join(names), "base_seed": config.seed,
             "n_points": n, "n_ok": int(np.sum(status == "ok")), "n_failed": int(np.sum(status == "failed")),
             "n_flagged": int(np.sum(status == "flagged")),
             "Conventions": "analogsim energy units (k_B = 1); <name>_J in joules and <name>_bits in bits "
                            "(E / kT ln 2) beside each energy; see docs/sweeps.md"}
    for k, v in versions().items():
        attrs[f"version_{k}"] = v
    for k, v in (extra_attrs or {}).items():
        attrs[k] = v if isinstance(v, (int, float)) else str(v)
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    ds["status"].attrs["description"] = ("ok / flagged (finished, but its physics went wrong: see health_flags "
                                         "and error) / failed / missing (not run yet)")
    ds["health_flags"].attrs["description"] = ("analogsim.report.health codes raised by the point (';'-separated); "
                                               "'bad' ones make the status 'flagged'")
    for name in ds.data_vars:
        base, _, unit = name.rpartition("_")
        if name in ENERGY_RESULTS:
            ds[name].attrs["units"] = "energy units (k_B = 1)"
        elif base in ENERGY_RESULTS and unit in ("J", "bits"):
            ds[name].attrs["units"] = "J" if unit == "J" else "bit"
    for name, u in (("temperature_K", "K"), ("energy_unit_J", "J")):
        if name in ds:
            ds[name].attrs["units"] = u
    ds["point_seed"].attrs["description"] = "seed the point's task received (SeedSequence-derived, decimal)"
    return ds


def _with_units(results: dict, params: dict) -> dict:
    """The results plus ``<energy>_J``, ``<energy>_bits``, ``temperature_K`` and ``energy_unit_J``.

    The point's kT is its ``kT_mean`` result (training) or its ``kT`` setting; without either (e.g. the
    stress kind) the results are returned unchanged.

    Examples
    --------
    >>> r = _with_units({"work": 2e-6}, {"kT": 1e-6})
    >>> r["temperature_K"], round(r["work_bits"], 4), f"{r['work_J']:.3e}"
    (300.0, 2.8854, '8.284e-21')
    """
    kT = results.get("kT_mean")
    if not isinstance(kT, (int, float)) or isinstance(kT, bool):
        kT = params.get("kT")
    if not isinstance(kT, (int, float)) or isinstance(kT, bool) or kT < 0:
        return results
    u = RunUnits.of(kT, temperature_K=params.get("temperature_K"), energy_unit_J=params.get("energy_unit_J"))
    out = dict(results)
    out["temperature_K"] = u.temperature_K
    out["energy_unit_J"] = u.energy_unit_J
    for name in ENERGY_RESULTS:
        v = results.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{name}_J"] = float(u.joules(v))
            out[f"{name}_bits"] = float(u.bits(v))
    return out


def flagged_points(ds, limit: int = 50) -> list:
    """Up to ``limit`` flagged points of a consolidated dataset: ``{"coords", "flags", "error"}`` each
    (``error`` holds the flags' message, cause and fix).

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"status": ("w", np.array(["ok", "flagged"])), "health_flags": ("w", np.array(["", "x"])),
    ...                  "error": ("w", np.array(["", "x: boom"]))}, coords={"w": [2, 64]})
    >>> flagged_points(ds)
    [{'coords': {'w': 64}, 'flags': 'x', 'error': 'x: boom'}]
    """
    if "status" not in ds:
        return []
    st = ds["status"]
    names = list(st.dims)
    out = []
    flagged = zip(*np.nonzero(st.values == "flagged")) if st.ndim else ([()] if st.values == "flagged" else [])
    for idx in flagged:  # a config without [sweep] is one point: a 0-d status
        coords = {n: ds[n].values[i].item() for n, i in zip(names, idx) if n in ds.coords}
        out.append({"coords": coords, "flags": str(ds["health_flags"].values[idx]) if "health_flags" in ds else "",
                    "error": str(ds["error"].values[idx]) if "error" in ds else ""})
        if len(out) >= limit:
            break
    return out


def energy_summary(ds, name: str = "work") -> str | None:
    """One line: the mean of an energy result over the 'ok' points in energy units, kT, joules and bits
    (from the ``<name>_J`` and ``<name>_bits`` variables and the points' own kT), or None without it.

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.Dataset({"status": ("w", np.array(["ok", "ok"])), "work": ("w", [1e-6, 3e-6]),
    ...                  "work_J": ("w", [4e-21, 1.2e-20]), "work_bits": ("w", [1.0, 3.0]),
    ...                  "kT_mean": ("w", [1e-6, 1e-6]), "temperature_K": ("w", [300.0, 300.0])})
    >>> energy_summary(ds)
    'mean work over 2 ok points: 2e-06 energy units = 2 kT = 8e-21 J = 2 bit (T = 300 K)'
    """
    if name not in ds or "status" not in ds:
        return None
    ok = (ds["status"] == "ok").values
    vals = ds[name].values
    if vals.shape != ok.shape or not ok.any():
        return None
    sel = ok & np.isfinite(vals)
    if not sel.any():
        return None

    def mean(var):
        if var not in ds or ds[var].shape != ok.shape:
            return float("nan")
        v = ds[var].values[sel]
        return float(np.mean(v)) if np.isfinite(v).all() else float("nan")

    kT = ds["kT_mean"] if "kT_mean" in ds else (ds["kT"].broadcast_like(ds[name]) if "kT" in ds else None)
    in_kT = float(np.mean(vals[sel] / kT.values[sel])) if kT is not None and np.all(kT.values[sel] > 0) \
        else float("nan")
    T = np.unique(ds["temperature_K"].values[sel]) if "temperature_K" in ds and \
        ds["temperature_K"].shape == ok.shape else np.array([])

    def f(v):
        return "n/a" if not np.isfinite(v) else f"{v:.4g}"

    t = f" (T = {T[0]:.4g} K)" if T.size == 1 else " (points at different T)" if T.size > 1 else ""
    return (f"mean {name} over {int(sel.sum())} ok points: {f(float(np.mean(vals[sel])))} energy units = "
            f"{f(in_kT)} kT = {f(mean(name + '_J'))} J = {f(mean(name + '_bits'))} bit{t}")


def open_results(path):
    """Open a sweep's consolidated results (a run folder or its results.nc) as an xarray Dataset.

    Equivalent to ``xarray.open_dataset("OUT/results.nc")``; loads the data into memory and closes the file.

    Raises
    ------
    FileNotFoundError
        No results there.
    CheckpointError
        The file is truncated or not netCDF (the message says how to rebuild it).

    Examples
    --------
    >>> ds = open_results("results/loss_vs_T")        # doctest: +SKIP
    >>> ds["test_loss"].mean("seed").plot()            # doctest: +SKIP
    """
    import xarray as xr

    p = Path(path)
    if p.is_dir():
        p = p / RESULTS_FILE
    if not p.exists():
        raise FileNotFoundError(f"no sweep results at {str(path)!r} (expected a run folder with {RESULTS_FILE} "
                                f"or a .nc file)")
    rebuild = ("re-run the same `analogsim sweep` command to rebuild it from the point records" if
               (p.parent / "points").is_dir() else "it is not a sweep results file")
    try:
        with open(p, "rb") as fh:
            magic = fh.read(4)
        if magic[:3] != b"CDF":
            raise ValueError("not a netCDF3 file")
        with xr.open_dataset(p, engine="scipy") as ds:
            return ds.load()
    except (OSError, ValueError, IndexError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{p} is corrupt or not a results file ({type(exc).__name__}: {exc}); "
                              f"{rebuild}") from None
