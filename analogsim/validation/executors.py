"""Where the validation's independent pieces of work run: in process, a local pool, or a Dask cluster."""

from __future__ import annotations

import contextlib
import os


class SerialExecutor:
    def map(self, fn, items):
        return [fn(i) for i in items]


class PoolExecutor:
    """A local process pool (spawned workers: safe with numba's threads)."""

    def __init__(self, workers: int):
        import concurrent.futures as cf
        import multiprocessing as mp

        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))

    def map(self, fn, items):
        return list(self._pool.map(fn, items))

    def close(self):
        self._pool.shutdown(cancel_futures=True)


class DaskExecutor:
    def __init__(self, scheduler=None, dask_local=None):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ImportError("Dask execution requires the 'dask' extra: pip install 'analogsim[dask]'") from exc
        self._cluster = None
        if scheduler:
            self.client = Client(scheduler, timeout="10s")
        else:
            self._cluster = LocalCluster(n_workers=dask_local, threads_per_worker=1, processes=True)
            self.client = Client(self._cluster)

    def map(self, fn, items):
        futs = self.client.map(fn, list(items), pure=False)
        return self.client.gather(futs)

    def close(self):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


@contextlib.contextmanager
def make_executor(workers=None, scheduler=None, dask_local=None):
    """The executor for ``analogsim validate``: Dask if asked, else a local pool (serial for 1 worker)."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if dask_local is not None and dask_local < 1:
        raise ValueError(f"dask_local must be >= 1, got {dask_local}")
    if scheduler or dask_local:
        ex = DaskExecutor(scheduler, dask_local)
    else:
        n = workers or os.cpu_count() or 1
        ex = SerialExecutor() if n == 1 else PoolExecutor(n)
    try:
        yield ex
    finally:
        close = getattr(ex, "close", None)
        if close:
            close()
