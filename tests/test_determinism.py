"""Determinism: the same seed gives bit-identical numbers across thread counts (1, 2), across backends (local
process pool, Dask) and across a resume.

Every comparison is exact (``np.array_equal`` / ``==`` on the raw floats, not a tolerance): the
architecture promises per-chunk random streams whose numbers do not depend on who runs them.
Each passed comparison counts as one determinism check in the reliability tally.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np
import pytest

import test_faults_helpers as fh
from analogsim import Network


def assert_same(a, b, path="result"):
    """Exact equality of nested results (arrays bit for bit, NaN equal to NaN in the same place)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)) and not (a and isinstance(a[0], (int, float))):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, (np.ndarray, list, tuple, float, np.floating)):
        x, y = np.asarray(a), np.asarray(b)
        assert x.dtype == y.dtype and x.shape == y.shape, path
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f"{path} differs"
    else:
        assert a == b, path


@contextmanager
def threads(n: int):
    """numba's thread count and the BLAS thread count, restored afterwards."""
    import numba
    from threadpoolctl import threadpool_limits

    old = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        numba.set_num_threads(old)


def _relax_fields(res) -> dict:
    return {k: getattr(res, k) for k in ("xs", "work", "heat", "energy_start", "energy_end", "energy_mean",
                                         "energy_var", "equipartition", "acceptance_per_replica", "param_force")}


# ============================================================================ thread counts
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("integrator", ["em", "mala"])
def test_relax_is_bit_identical_on_1_and_2_threads(tally, dtype, integrator):
    from analogsim.inference.protocols import Ramp
    from analogsim.inference.simulate import relax

    net = Network.create([4, 12, 12, 2], activations="tanh", kappa=2.0, seed=3, dtype=dtype)
    kw = dict(kT=0.05, dt=0.01, n_steps=200, integrator=integrator, n_replicas=96, seed=11,
              record=("books", "energy", "param_force"))
    runs = []
    for n in (1, 2):
        with threads(n):
            runs.append(_relax_fields(relax(net, input_protocol=Ramp(np.zeros(4), np.ones(4), tau=2.0), threads=n,
                                            **kw)))
    assert_same(*runs)
    tally.ok("determinism checks", f"relax threads 1 vs 2 ({dtype}, {integrator})")


@pytest.mark.parametrize("sizes, rows", [([3, 8, 2], 300), ([16, 160, 160, 4], 2048)], ids=["small", "blas"])
def test_equilibrium_sample_is_bit_identical_on_1_and_2_threads(tally, sizes, rows):
    from analogsim import sample_equilibrium

    net = Network.create(sizes, activations="tanh", kappa=1.5, seed=2)
    x0 = np.random.default_rng(4).standard_normal((rows, sizes[0]))
    runs = []
    for n in (1, 2):
        with threads(n):
            s = sample_equilibrium(net, x0, 0.3, seed=9)
            runs.append({"xs": list(s.xs), "deltas": list(s.deltas)})
    assert_same(*runs)
    tally.ok("determinism checks", f"equilibrium sample threads 1 vs 2 ({sizes})")


def _train_summary(res) -> dict:
    d = res.summary()
    d.pop("wall_time")
    d["records"] = {k: v for k, v in res.records.items()}
    d["theta"] = res.theta
    return d


def _train(fidelity="separated", dtype="float64", **kw):
    from analogsim.data import teacher_student
    from analogsim.training import train

    ds = teacher_student(n_in=3, n_out=1, n_train=32, n_test=16, seed=0)
    net = Network.create([3, 10, 1], activations=["tanh", "identity"], kappa=1.0, seed=1, dtype=dtype)
    extra = dict(kappa_out=1e-2) if fidelity == "separated" else dict(kappa_out=1e-2, neuron_mobility=10.0)
    args = dict(presentations=1500 if fidelity == "separated" else 150, mu=20.0, tau_inf=1.0, kT=1e-4, seed=6,
                fidelity=fidelity, eval_every=50, **extra)
    args.update(kw)
    return train(net, ds, **args)


@pytest.mark.parametrize("fidelity", ["separated", pytest.param("joint", marks=pytest.mark.slow)])
def test_training_is_bit_identical_on_1_and_2_threads(tally, fidelity):
    runs = []
    for n in (1, 2):
        with threads(n):
            runs.append(_train_summary(_train(fidelity)))
    assert_same(*runs)
    tally.ok("determinism checks", f"train threads 1 vs 2 ({fidelity})")


# ============================================================================ resume
class _Stop(Exception):
    pass


@pytest.mark.parametrize("fidelity, dtype", [("separated", "float64"),
                                             pytest.param("separated", "float32", marks=pytest.mark.slow),
                                             pytest.param("joint", "float64", marks=pytest.mark.slow),
                                             ("joint", "float32")])
def test_training_resumed_from_a_checkpoint_is_bit_identical(tally, tmp_path, fidelity, dtype):
    ref = _train_summary(_train(fidelity, dtype))
    S = ref["presentations"]
    ck = tmp_path / "ck.npz"

    def stop(s, theta, net):  # an interruption between two checkpoints
        if s == int(S * 0.62) // 10 * 10:
            raise _Stop

    with pytest.raises(_Stop):
        _train(fidelity, dtype, checkpoint=ck, checkpoint_every=S // 6, hook=stop, hook_every=10)
    res = _train(fidelity, dtype, checkpoint=ck, checkpoint_every=S // 6)
    assert res.resumed_from == S // 6 * 3
    got = _train_summary(res)
    got["resumed_from"] = None
    assert_same(got, ref)
    tally.ok("determinism checks", f"train resume ({fidelity}, {dtype})")


# ============================================================================ backends
@pytest.fixture(scope="module")
def dask_address():
    distributed = pytest.importorskip("distributed")
    import logging

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=logging.ERROR)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _results(out):
    from analogsim.sweeps import open_results

    ds = open_results(out)
    return ds[[v for v in ds.data_vars if v not in ("duration_s", "attempts")]]


def _sweep_on(tmp, name, backend, n_seeds):
    from analogsim.sweeps import run_sweep

    cfg = tmp / "engines.toml"
    if not cfg.exists():
        cfg.write_text(fh.ENGINES_CONFIG % n_seeds)
    s = run_sweep(cfg, tmp / name, backend=backend)
    assert s.n_ok == s.n_points, s.failed
    return _results(tmp / name)


def _backend_checks(tally, tmp, dask_address, n_seeds, local_workers):
    import xarray as xr

    from analogsim.sweeps import DaskBackend, LocalPool

    runs = {f"local pool ({w} workers)": _sweep_on(tmp, f"local{w}", LocalPool(w), n_seeds) for w in local_workers}
    runs["dask (2 workers)"] = _sweep_on(tmp, "dask", DaskBackend(address=dask_address), n_seeds)
    names = list(runs)
    assert {"train_work", "relax_heat", "eq_equipartition"} <= set(runs[names[0]].data_vars)
    for other in names[1:]:
        xr.testing.assert_equal(runs[names[0]], runs[other])  # exact
        tally.ok("determinism checks", f"sweep (equilibrium, relax, train tasks): {names[0]} vs {other}, "
                                       f"{n_seeds * 2} points")


def test_sweep_numbers_are_the_same_on_the_local_pool_and_dask(tally, tmp_path, dask_address):
    _backend_checks(tally, tmp_path, dask_address, 1, (2,))


@pytest.mark.slow
def test_sweep_numbers_are_the_same_on_every_backend(tally, tmp_path, dask_address):
    _backend_checks(tally, tmp_path, dask_address, 4, (1, 2))


def _report(out):
    info = json.loads((out / "report.json").read_text())
    for c in info["claims"]:
        c.pop("seconds")
    return info, {p.name: p.read_bytes() for p in (out / "figures").glob("*.png")}


@pytest.mark.slow
def test_validation_is_the_same_in_process_and_on_the_local_pool(tally, tmp_path):
    from analogsim.sweeps import LocalPool
    from analogsim.validation import run_validation
    from analogsim.validation.executors import BackendExecutor, SerialExecutor

    run_validation("quick", tmp_path / "serial", claims=["stress"], executor=SerialExecutor())
    ex = BackendExecutor(LocalPool(2))
    try:
        run_validation("quick", tmp_path / "pool", claims=["stress"], executor=ex)
    finally:
        ex.close()
    assert _report(tmp_path / "serial") == _report(tmp_path / "pool")
    tally.ok("determinism checks", "validate (stress claim): in process vs local pool")


@pytest.mark.slow
def test_validation_is_the_same_on_dask(tally, tmp_path, dask_address):
    from analogsim.sweeps import DaskBackend
    from analogsim.validation import run_validation
    from analogsim.validation.executors import BackendExecutor, SerialExecutor

    claims = ["stress", "equilibrium"]
    run_validation("quick", tmp_path / "serial", claims=claims, executor=SerialExecutor())
    ex = BackendExecutor(DaskBackend(address=dask_address))
    try:
        run_validation("quick", tmp_path / "dask", claims=claims, executor=ex)
    finally:
        ex.close()
    assert _report(tmp_path / "serial") == _report(tmp_path / "dask")
    tally.ok("determinism checks", "validate (stress, equilibrium claims): in process vs dask")
