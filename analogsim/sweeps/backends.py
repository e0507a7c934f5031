"""Execution backends: where the points run.

Both backends offer the same small interface to the runner:

- ``start()`` / ``close()`` (also a context manager),
- ``submit(fn, *args, key=...) -> future`` with ``future.result()`` and ``future.add_done_callback``,
- ``max_in_flight``: how many points the runner keeps submitted at once,
- ``is_lost(exc)``: whether an exception from a future means the worker died (not the task),
- ``recover()``: make the backend usable again after a lost worker (local pool only).

:class:`LocalPool` is the default: a process pool over the local cores (nothing to set up).
:class:`DaskBackend` runs on a Dask distributed cluster, an existing one (``address``) or a
``LocalCluster`` it starts. Dask re-runs the tasks of a worker that dies by itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import sys
import threading
import time

__all__ = ["LocalPool", "DaskBackend", "make_backend", "SchedulerUnreachable", "probe_scheduler"]

log = logging.getLogger("analogsim.sweeps")


class SchedulerUnreachable(ConnectionError, ValueError):
    """The Dask scheduler address could not be reached, or what answered there is not a Dask scheduler,
    within the connect timeout (nothing was run or written). A ValueError too: the address is bad input.

    Examples
    --------
    >>> issubclass(SchedulerUnreachable, ConnectionError), issubclass(SchedulerUnreachable, ValueError)
    (True, True)
    """


# ----------------------------------------------------------------------------- local process pool
def _worker_init(parent_pid: int) -> None:
    """Pool worker start-up: exit when the driver dies (no orphans after a kill -9 of the sweep)."""
    ppid = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != ppid or not _alive(parent_pid):
                os._exit(0)

    threading.Thread(target=watch, name="analogsim-orphan-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, owned by someone else
        return True
    return True


class LocalPool:
    """A pool of worker processes on this machine (the embedded default backend).

    Parameters
    ----------
    n_workers : int, optional
        Number of processes; default: the CPUs this process may use.
    start_method : str, optional
        multiprocessing start method; default 'forkserver' where available, else 'spawn' (never
        'fork': the driver has threads).

    Notes
    -----
    When a worker process dies the pool breaks; :meth:`recover` starts a fresh pool and the runner
    re-submits the points that were in flight (each at most 3 times, like Dask's allowed-failures).

    Examples
    --------
    >>> with LocalPool(2) as pool:
    ...     pool.submit(pow, 2, 10).result()
    1024
    """

    name = "local"

    def __init__(self, n_workers: int | None = None, start_method: str | None = None):
        if n_workers is None:
            n_workers = _cpu_count()
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")
        methods = multiprocessing.get_all_start_methods()
        if start_method is None:
            start_method = "forkserver" if "forkserver" in methods else "spawn"
        if start_method not in methods:
            raise ValueError(f"start_method must be one of {methods}, got {start_method!r}")
        self.n_workers = n_workers
        self.start_method = start_method
        self._pool = None

    @property
    def max_in_flight(self) -> int:
        """Points kept submitted: one per worker."""
        # one point per worker: when a worker dies, the points charged an attempt are the running ones
        return self.n_workers

    def describe(self) -> str:
        """A short description for logs and the results' ``backend`` attribute."""
        return f"local process pool ({self.n_workers} workers, {self.start_method})"

    @property
    def running(self) -> bool:
        """Whether the pool has been started (and not closed)."""
        return self._pool is not None

    def start(self) -> "LocalPool":
        """Start the worker processes; returns self."""
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context(self.start_method)
        self._pool = ProcessPoolExecutor(self.n_workers, mp_context=ctx, initializer=_worker_init,
                                         initargs=(os.getpid(),))
        return self

    def submit(self, fn, *args, key: str | None = None):
        """Run ``fn(*args)`` on a worker; returns a concurrent.futures.Future (``key`` is ignored)."""
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool as exc:  # broke before the runner heard of it: report like any lost point
            fut = Future()
            fut.set_exception(exc)
            return fut

    @staticmethod
    def is_lost(exc: BaseException) -> bool:
        """Whether a future's exception means a worker process died (BrokenProcessPool)."""
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(exc, BrokenProcessPool)

    def recover(self) -> None:
        """Replace a broken pool by a fresh one."""
        log.warning("a worker process died; restarting the local pool")
        self._shutdown(wait=False)
        self.start()

    def _shutdown(self, wait: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if not wait:  # abort: stop the running points now (their results are not wanted)
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                try:
                    proc.terminate()
                except (OSError, ValueError):
                    pass
        pool.shutdown(wait=wait, cancel_futures=True)

    def close(self, abort: bool = False) -> None:
        """Stop the workers: after the running points (default) or at once (``abort``)."""
        self._shutdown(wait=not abort)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------- dask distributed
class DaskBackend:
    """Run points on a Dask distributed cluster.

    Parameters
    ----------
    address : str, optional
        Scheduler address of a running cluster, e.g. ``tcp://10.0.0.5:8786``.
    n_local : int, optional
        Instead of ``address``: start a ``LocalCluster`` with this many worker processes
        (one thread each) and close it at the end.
    connect_timeout : float
        Seconds to wait for the scheduler before giving up with :class:`SchedulerUnreachable`.

    Notes
    -----
    Each point is a separate task (``pure=False``). A worker that dies takes its running tasks with it;
    the scheduler re-runs them elsewhere (up to ``distributed.scheduler.allowed-failures`` times, default 3,
    then the future raises ``KilledWorker``, which the runner treats as a failed attempt). The workers
    need analogsim (and the task's module) importable; they need no access to the results folder.

    Examples
    --------
    >>> with DaskBackend(n_local=1) as be:          # doctest: +SKIP
    ...     be.submit(pow, 2, 10).result()
    1024
    """

    name = "dask"

    def __init__(self, address: str | None = None, n_local: int | None = None, connect_timeout: float = 5.0):
        if (address is None) == (n_local is None):
            raise ValueError("give exactly one of address (a running scheduler) or n_local (a LocalCluster)")
        if address is not None:
            _check_address(address)
        if n_local is not None and (isinstance(n_local, bool) or not isinstance(n_local, int) or n_local < 1):
            raise ValueError(f"n_local must be a positive number of workers, got {n_local!r}")
        self.address = address
        self.n_local = n_local
        self.connect_timeout = float(connect_timeout)
        self.client = None
        self.cluster = None

    @property
    def n_workers(self) -> int:
        """Workers connected to the scheduler now (or the LocalCluster size before start)."""
        if self.client is None:
            return self.n_local or 0
        return len(self.client.scheduler_info().get("workers", {}))

    @property
    def max_in_flight(self) -> int | None:
        """None: all points are submitted at once."""
        return None  # everything at once: the scheduler balances and re-runs lost tasks

    def describe(self) -> str:
        """A short description for logs and the results' ``backend`` attribute."""
        where = self.address if self.address else f"LocalCluster({self.n_local} workers)"
        return f"dask distributed at {where}"

    @property
    def running(self) -> bool:
        """Whether a client is connected."""
        return self.client is not None

    def start(self) -> "DaskBackend":
        """Connect to the scheduler (or start the LocalCluster); returns self.

        Raises
        ------
        SchedulerUnreachable
            No answer from ``address`` within ``connect_timeout`` seconds.
        """
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ImportError("the Dask backend requires the 'dask' extra: pip install 'analogsim-pnn[dask]'") from None
        if self.address is not None:
            addr = self.address.strip()
            probe_scheduler(addr, self.connect_timeout)  # not Dask (an HTTP server, a silent listener): clear error
            try:
                self.client = Client(addr, timeout=self.connect_timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise SchedulerUnreachable(
                    f"cannot reach the Dask scheduler at {addr!r} within {self.connect_timeout:g} s ({exc}). "
                    "Is `dask scheduler` running there and is the port open?") from None
            if self.n_workers == 0:
                log.warning("the scheduler at %s has no workers yet; points wait until workers join", addr)
        else:
            self.cluster = LocalCluster(n_workers=self.n_local, threads_per_worker=1, processes=True,
                                        dashboard_address=":0", silence_logs=logging.ERROR)
            self.client = Client(self.cluster, set_as_default=False)
            self.client.wait_for_workers(self.n_local, timeout=120)
        return self

    def submit(self, fn, *args, key: str | None = None):
        """Submit ``fn(*args)`` as one Dask task named ``key``; returns a distributed Future."""
        return self.client.submit(fn, *args, key=key, pure=False)

    @staticmethod
    def is_lost(exc: BaseException) -> bool:
        """Always False: the scheduler re-runs a lost worker's tasks itself."""
        return False  # the scheduler already re-ran the task; KilledWorker counts as a failed attempt

    def recover(self) -> None:
        """Nothing to do (see :meth:`is_lost`)."""  # the scheduler replaces lost workers' tasks by itself

    def close(self, abort: bool = False) -> None:
        """Close the client (and the LocalCluster, if this backend started it)."""
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        if client is not None:
            try:
                client.close(timeout=10)
            except Exception as exc:  # pragma: no cover - best effort at shutdown
                log.debug("closing dask client: %s", exc)
        if cluster is not None:
            try:
                cluster.close(timeout=20)
            except Exception as exc:  # pragma: no cover
                log.debug("closing LocalCluster: %s", exc)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


_ADDRESS = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")


def _check_address(address) -> None:
    """Refuse a malformed scheduler address before Dask sees it (a bad one makes its Client hang on exit)."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address.strip()) \
            or not 0 < int(_ADDRESS.fullmatch(address.strip()).group(1)) < 65536:
        raise ValueError(f"scheduler address must look like tcp://host:8786 (scheme tcp, tls, ws, wss or ucx; "
                         f"a port 1-65535), got {address!r}")


def probe_scheduler(address: str, timeout: float) -> None:
    """Check within ``timeout`` seconds that a ``tcp://`` address answers like a Dask scheduler.

    A Dask scheduler speaks first: on a new connection it sends its handshake, a frame whose 8-byte
    little-endian length and frame count are small numbers. Dask's own client waits for that without
    a deadline, so an address that accepts TCP but is something else (an HTTP server, a silent
    listener) would hang it, or be misread (an HTTP reply read as a frame of exabytes). Other schemes
    (tls, ws, ucx) are left to Dask.

    Raises
    ------
    SchedulerUnreachable
        Nothing listens, nothing answered in time, or the answer is not a Dask handshake.

    Examples
    --------
    >>> import socket
    >>> srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
    >>> try:
    ...     probe_scheduler(f"tcp://127.0.0.1:{srv.getsockname()[1]}", 0.2)
    ... except SchedulerUnreachable as e:
    ...     print("sent nothing" in str(e))
    True
    >>> srv.close()
    """
    import socket
    import struct

    m = re.fullmatch(r"(?:(tcp)://)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})", address.strip())
    if m is None:
        return  # another scheme: Dask's timeout applies
    host, port = m.group(2).strip("[]"), int(m.group(3))
    t_end = time.monotonic() + float(timeout)
    hint = "Is `dask scheduler` running there, and is this its address and port (default 8786)?"
    try:
        sock = socket.create_connection((host, port), timeout=max(float(timeout), 1e-3))
    except OSError as exc:
        raise SchedulerUnreachable(f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s "
                                   f"({exc.strerror or exc}). {hint}") from None
    got = b""
    try:
        while len(got) < 16:
            left = t_end - time.monotonic()
            if left <= 0:
                raise socket.timeout
            sock.settimeout(left)
            chunk = sock.recv(16 - len(got))
            if not chunk:
                break
            got += chunk
    except (socket.timeout, TimeoutError):
        pass
    except OSError as exc:
        sock.close()
        raise SchedulerUnreachable(f"the connection to {address!r} failed ({exc.strerror or exc}). {hint}") from None
    sock.close()
    if not got:
        raise SchedulerUnreachable(f"{address!r} accepts connections but sent nothing within {timeout:g} s: it is "
                                   f"not a Dask scheduler (a Dask scheduler sends its handshake at once). {hint}")
    if len(got) < 16:
        raise SchedulerUnreachable(f"{address!r} answered with {len(got)} byte(s) {got!r} and closed: not a Dask "
                                   f"scheduler. {hint}")
    total, nframes = struct.unpack("<QQ", got)
    if not (16 <= total <= (1 << 24) and 1 <= nframes <= 1024):
        raise SchedulerUnreachable(f"{address!r} answered, but it is not a Dask scheduler (it began with "
                                   f"{got[:16]!r}). {hint}")


def make_backend(workers: int | None = None, scheduler: str | None = None, dask_local: int | None = None,
                 connect_timeout: float = 5.0):
    """Pick a backend from command-line style options (at most one of ``scheduler``/``dask_local``).

    ``workers`` sizes the local pool; with Dask it is ignored (the cluster decides).

    Examples
    --------
    >>> make_backend(workers=2).n_workers
    2
    >>> make_backend(scheduler="tcp://10.0.0.5:8786").describe()
    'dask distributed at tcp://10.0.0.5:8786'
    """
    if scheduler is not None and dask_local is not None:
        raise ValueError("give at most one of scheduler and dask_local")
    if scheduler is not None:
        return DaskBackend(address=scheduler, connect_timeout=connect_timeout)
    if dask_local is not None:
        return DaskBackend(n_local=dask_local)
    return LocalPool(workers)


if sys.platform == "win32":  # pragma: no cover
    _alive = lambda pid: True  # noqa: E731 - os.kill(pid, 0) would terminate the process on Windows
