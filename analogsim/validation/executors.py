"""Where the validation's independent pieces of work run: the sweep machinery's backends
(a local process pool by default, or a Dask cluster), or in process for a single worker."""

from __future__ import annotations

import contextlib


class SerialExecutor:
    """In-process execution (one worker: no pool start-up cost)."""

    def map(self, fn, items):
        return [fn(i) for i in items]


class BackendExecutor:
    """``map`` over a started :mod:`analogsim.sweeps.backends` backend, results in order.

    A point lost with its worker is re-submitted (at most ``retries`` times), as the sweep runner does.
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
    """The executor for ``analogsim validate``: Dask if asked, else the local pool (in process for 1 worker)."""
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
