"""Where the validation's independent pieces of work run: the sweep machinery's backends
(a local process pool by default, or a Dask cluster), or in process for a single worker."""

from __future__ import annotations

import contextlib


class SerialExecutor:
    """In-process execution (one worker: no pool start-up cost).

    Examples
    --------
    >>> SerialExecutor().map(abs, [-1, 2, -3])
    [1, 2, 3]
    """

    def map(self, fn, items):
        return [fn(i) for i in items]


class BackendExecutor:
    """``map`` over a started :mod:`analogsim.sweeps.backends` backend, results in order.

    A point lost with its worker is re-submitted (at most ``retries`` times), as the sweep runner does.

    Examples
    --------
    Any object with the backend interface of :mod:`analogsim.sweeps.backends` (``start``, ``submit``,
    ``is_lost``, ``recover``, ``close``) will do; here two threads stand in for a local process pool
    (``make_backend(workers=2)``). Results come back in the order of the items:

    >>> from concurrent.futures import ThreadPoolExecutor
    >>> class Threads:
    ...     def start(self):
    ...         self.pool = ThreadPoolExecutor(2)
    ...         return self
    ...     def submit(self, fn, *args):
    ...         return self.pool.submit(fn, *args)
    ...     def is_lost(self, exc):
    ...         return False
    ...     def close(self):
    ...         self.pool.shutdown()
    >>> ex = BackendExecutor(Threads())
    >>> ex.map(abs, [-1, 2, -3])
    [1, 2, 3]
    >>> ex.close()
    """

    def __init__(self, backend, retries: int = 2):
        self.backend = backend.start()
        self.retries = retries

    def map(self, fn, items):
        items = list(items)
        futs = [self.backend.submit(fn, it) for it in items]
        out = []
        for it, fut in zip(items, futs):
            for attempt in range(self.retries + 1):
                try:
                    out.append(fut.result())
                    break
                except Exception as exc:
                    if attempt == self.retries or not self.backend.is_lost(exc):
                        raise
                    self.backend.recover()
                    fut = self.backend.submit(fn, it)
        return out

    def close(self):
        self.backend.close()


@contextlib.contextmanager
def make_executor(workers=None, scheduler=None, dask_local=None):
    """The executor for ``analogsim validate``: Dask if asked, else the local pool (in process for 1 worker).

    A context manager: the pool or cluster is closed on exit. ``workers`` must be a positive integer
    (ValueError otherwise).

    Examples
    --------
    >>> with make_executor(workers=1) as ex:
    ...     type(ex).__name__, ex.map(abs, [-2, 3])
    ('SerialExecutor', [2, 3])
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    from ..sweeps.backends import _cpu_count, make_backend

    if scheduler is None and dask_local is None and (workers or _cpu_count()) == 1:
        ex = SerialExecutor()
    else:
        ex = BackendExecutor(make_backend(workers=workers, scheduler=scheduler, dask_local=dask_local))
    try:
        yield ex
    finally:
        close = getattr(ex, "close", None)
        if close:
            close()
