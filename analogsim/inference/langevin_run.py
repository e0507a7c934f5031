r"""A prepared Langevin run (:class:`LangevinRun`): kernel arrays, per-chunk buffers and RNG streams, and the threads.

:func:`analogsim.inference.simulate.relax` builds one and calls :meth:`LangevinRun.run` once; benchmarks and other engines
call ``run`` repeatedly to continue the same trajectories. Replicas are split into chunks whose size depends
on the batch and the net only (:func:`default_chunk_rows`), each chunk with its own xoshiro256++ stream and
buffers, so the numbers do not depend on the thread count.
"""

from __future__ import annotations

import functools
import math
import threading
import time
import weakref

import numpy as np

from .._checks import as_seedsequence
from .continuation import clamp_signature, holds_state, same_array, same_clamp

__all__ = ["LangevinRun", "default_chunk_rows", "default_threads", "net_entry", "same_array", "BLAS_MIN_WEIGHTS",
           "BLAS_SERIAL_MNK", "RUNAWAY_FACTOR", "RUNAWAY_CAP_FRACTION", "SEGMENT_STEPS"]

#: BLAS GEMM is used for a layer with at least this many weights (hand-written loops below), by dtype.
#: Measured on the benchmark nets, one thread, interleaved A/B: a 16 x 16 float64 layer is 3-12 % faster
#: through BLAS, a float32 one 13-22 % faster by hand (8-wide loops against sgemm's call overhead).
BLAS_MIN_WEIGHTS = {"float64": 256, "float32": 512}
#: products with m n k at most this stay on the calling thread in OpenBLAS (its threshold is 4 x 65536), so runs
#: whose BLAS products are all this small leave the BLAS thread count alone
BLAS_SERIAL_MNK = 65536
#: runaway guard: a replica whose energy exceeds RUNAWAY_FACTOR * (1 + |H_0|) has diverged (the state is still
#: finite but far outside any physical range); capped at RUNAWAY_CAP_FRACTION of the float max of the dtype
RUNAWAY_FACTOR = 1e30
RUNAWAY_CAP_FRACTION = 1e-4
#: protocol tables are built for at most this many steps at a time
SEGMENT_STEPS = 1 << 15
#: rows per random stream of the equilibrium start (that of :func:`analogsim.model.equilibrium.sample_equilibrium`)
EQ_CHUNK = 64


_NETS: dict = {}
#: networks remembered by :func:`net_entry`
NET_CACHE_SIZE = 8


def net_entry(net) -> dict:
    """Per-network cache: the kernel's view of the net (``knet``) and the stability guard's reports (``guards``).

    An entry holds copies of the parameters (theta, kappa, activations, dtype) and is reused only while they are
    exactly equal, so a network changed in place (training) gets a fresh entry: what is cached can never be
    stale. Looking up costs one comparison of the parameters (about 1 ms per 10 MB).

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], seed=0)
    >>> net_entry(net) is net_entry(net)
    True
    >>> net.weights[0][0, 0] += 1.0
    >>> e = net_entry(net); e["guards"]
    []
    """
    key = id(net)
    e = _NETS.get(key)
    acts = tuple(a.name for a in net.activations)
    if (e is not None and e["ref"]() is net and e["acts"] == acts and e["dtype"] == net.dtype
            and len(e["kappa"]) == len(net.kappa) and same_array(e["theta"], net.theta)
            and all(same_array(a, b) for a, b in zip(e["kappa"], net.kappa))):
        return e
    e = {"theta": net.theta.copy(), "kappa": [np.array(k, copy=True) for k in net.kappa], "acts": acts,
         "dtype": net.dtype, "knet": None, "guards": [], "work": {}}
    try:
        e["ref"] = weakref.ref(net)
    except TypeError:  # pragma: no cover - not weak-referenceable: a fresh entry each time (no caching)
        e["ref"] = lambda: None
        return e
    _NETS.pop(key, None)
    if len(_NETS) >= NET_CACHE_SIZE:
        _NETS.pop(next(iter(_NETS)))
    _NETS[key] = e
    return e


def build_knet(net):
    """The kernel's view of ``net`` (:data:`analogsim.kernels.energy.KNet`): parameters, stored transposes, offsets.

    ``blas`` marks the layers whose products go through BLAS (at least :data:`BLAS_MIN_WEIGHTS` weights);
    ``x_off`` are the offsets of the layers in the flat state (B, n_total).

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 4, 1], activations=["tanh", "identity"], seed=0)
    >>> k = build_knet(net)
    >>> k.x_off.tolist(), k.blas.tolist(), k.theta.size == net.n_params
    ([0, 2, 6, 7], [0, 0], True)
    """
    from ..kernels.energy import KNet

    L = net.depth
    min_w = BLAS_MIN_WEIGHTS[np.dtype(net.dtype).name]
    blas = np.array([int(net.sizes[l] * net.sizes[l + 1] >= min_w) for l in range(L)], np.int64)
    theta, sizes, w_off, b_off, acts, kappa, k_off = net.kernel_args()
    wt = np.empty_like(theta)
    for l in range(L):
        n_out, n_in = net.sizes[l + 1], net.sizes[l]
        wt[w_off[l]:w_off[l] + n_out * n_in] = net.weights[l].T.ravel()
    return KNet(np.ascontiguousarray(theta), wt, sizes, w_off, b_off, acts, np.ascontiguousarray(kappa),
                k_off, np.asarray(net.x_offsets, dtype=np.int64), blas)


def default_chunk_rows(batch: int, uses_blas: bool = False) -> int:
    """Replicas per chunk: fixed by the batch size and the net, never by the thread count.

    Hand-written loops run over the replicas of a chunk (>= 32 keeps them long). Nets with BLAS layers use
    half the batch per chunk (at least 64 rows, at most 1024), so two threads share any batch of 128 or more.
    Measured on one thread (CPU time per step): [64, 256, 256, 10] x 256 costs the same with 64, 128 or 256
    rows per chunk (within 1.5 %); [784, 1024, 1024, 10] x 512 costs 6 % more with 256 rows than with 512 and
    19 % more with 128.

    Examples
    --------
    >>> default_chunk_rows(256, uses_blas=True), default_chunk_rows(512, uses_blas=True)
    (128, 256)
    """
    if uses_blas:
        return int(min(batch, max(64, min(1024, -(-batch // 2)))))
    return int(min(batch, max(32, -(-batch // 8))))


# ----------------------------------------------------------------------------- the run object
class LangevinRun:
    """A prepared Langevin run: validated arguments, kernel arrays, per-chunk buffers and RNG streams.

    :func:`relax` builds one and calls :meth:`run` once; benchmarks and other engines (e.g. joint
    neuron/parameter dynamics) can call :meth:`run` repeatedly to continue the same trajectories.
    Arguments are those of :func:`relax`; ``x_init`` is the full initial state, flat (B, n_total), or None with
    ``equilibrium=(k0, k1, sig)`` and ``batch=B``: an exact equilibrium start at lambda_0 whose residuals
    sig * z are drawn from the streams keyed (k0, k1) as :func:`analogsim.model.equilibrium.sample_equilibrium` draws
    them (:func:`analogsim.kernels.sample.draw_residuals`), the sample itself built by the first kernel call's
    forward pass, which also gives its gradient. ``seed``: an int, a ``SeedSequence`` (chunk c's stream from
    ``SeedSequence(seed).spawn(n_chunks)[c]``) or a key of :func:`analogsim.kernels.seeding.seed_key` (the cheap
    keyed streams ``relax`` uses).

    The dynamics is the overdamped Langevin equation on the Hamiltonian of Eq. 6, dx = -Gamma dH/dx dt +
    sqrt(2 Gamma kT) dW (kT an energy, dt in the time units of 1/Gamma), with the work and heat books of
    stochastic energetics when the ``books`` observer is on.

    Examples
    --------
    Eight replicas of a [2, 4, 1] net, started at the minimum of H (H = 0), advanced in two calls that
    continue the same trajectories:

    >>> import numpy as np
    >>> from analogsim import Network
    >>> from analogsim.inference.integrators import get_integrator
    >>> from analogsim.inference.protocols import Constant
    >>> net = Network.create([2, 4, 1], activations=["tanh", "identity"], seed=0)
    >>> X = np.zeros((8, 2))
    >>> run = LangevinRun(net, net.concat(net.forward(X)), kT=0.01, dt=0.05, integrator=get_integrator("em"),
    ...                   input_protocol=Constant(X), seed=1)
    >>> run.run(50)
    >>> run.run(50)
    >>> run.k, run.state().shape, run.diverged_step()
    (100, (8, 7), -1)
    >>> bool(np.all(run.state()[:, :2] == 0.0))          # the clamped input does not move
    True
    """

    def __init__(self, net, x_init, *, kT, dt, integrator, gamma=1.0, clamp=None, input_protocol=None,
                 target_protocol=None, observers=None, seed=None, threads=None, chunk_rows=None,
                 n_steps_total=0, knet=None, pool=None, equilibrium=None, batch=None, continue_from=None):
        self.net = net
        self.kT, self.dt, self.gamma = float(kT), float(dt), float(gamma)
        self.integrator = integrator
        self.clamp = clamp
        self.threads = threads
        obs = self.observers = observers if observers is not None else {}
        B = x_init.shape[0] if (x_init is not None and not callable(x_init)) else int(batch)
        self.B = B
        L = net.depth
        dtype = net.dtype
        knet = self.knet = knet if knet is not None else build_knet(net)
        self._uses_blas = bool(knet.blas.any())
        cr = self.chunk_rows = int(chunk_rows or default_chunk_rows(B, self._uses_blas))
        nch = self.n_chunks = -(-B // cr)
        # BLAS's own threads are limited to one only where a product is large enough for it to start them
        # (OpenBLAS stays on the calling thread up to m n k = 4 x 65536): setting and restoring the count costs
        # more than a small net's step
        self._blas_big = any(knet.blas[l] and net.sizes[l] * net.sizes[l + 1] * cr > BLAS_SERIAL_MNK for l in range(L))
        self.n_tot = int(knet.x_off[-1])
        self.input_protocol = input_protocol
        self.target_protocol = target_protocol
        self.k = 0
        mala, books = integrator.code == 1, "books" in obs
        self._pool = pool
        self._work_key = (B, cr, nch, dtype, mala, books, self.n_tot)
        kept = pool.pop(self._work_key, None) if pool is not None else None
        #: the fixed input whose layer-1 f(y_1), f'(y_1) the work buffers hold (the fresh call then skips that product)
        self._l1_input = None
        #: what the buffers' gradient depends on besides the state, the net and the input (continuation.py)
        self._clamp_sig = clamp_signature(clamp, target_protocol)
        self.hard = clamp is not None and clamp.hard
        l1_kept = grad_kept = False
        if kept is not None:  # every entry that is read is written first (the state by pack/draw + the fresh call)
            self.work, self.Xc, l1_prev, end_sig = kept
            l1_kept = (l1_prev is not None and not input_protocol.moving and type(input_protocol).__name__ == "Constant"
                       and same_array(l1_prev, input_protocol.values))
            grad_kept = (l1_kept and continue_from is not None and end_sig is not None
                         and same_clamp(end_sig, self._clamp_sig)
                         and holds_state(self.Xc, continue_from, B, cr, knet.x_off, self.hard))
        else:
            from ..kernels.langevin import make_work

            self.work = make_work(net.sizes, cr, nch, dtype, mala, books)
            self.Xc = np.zeros((nch, cr * self.n_tot), dtype=dtype)
        #: whether this run continues from the state its buffers already held (no packing, no start gradient pass)
        self.continued = grad_kept
        if not grad_kept and equilibrium is None:
            from ..kernels.langevin import pack_state

            if callable(x_init):  # built only now: a continued run needs neither its checks nor its copy
                x_init = x_init()
            pack_state(np.ascontiguousarray(x_init, dtype=dtype), self.Xc, cr, knet.x_off)
        elif not grad_kept:  # residuals only: the first kernel call builds the exact sample with its first forward pass
            k0, k1, sig = equilibrium
            _kernels()[1].draw_residuals(sig, knet.k_off, knet.x_off, k0, k1, self.Xc, cr, B, EQ_CHUNK)
        self._fresh_code = (1 if equilibrium is None else 2) | (4 if l1_kept else 0) | (8 if grad_kept else 0)
        if not input_protocol.moving and type(input_protocol).__name__ == "Constant":
            self._l1_input = input_protocol.values
        if type(seed) is tuple:  # a kernels.seeding key (relax): the cheap keyed streams
            self.states = _key_streams(seed, nch)
        else:
            ss = seed if isinstance(seed, np.random.SeedSequence) else as_seedsequence(seed)
            self.states = _seed_streams(ss, nch)
        self.books = np.zeros((B, 5))
        self.emom = np.zeros((B, 2, L + 1))
        pf = "param_force" in obs
        self.pforce = np.zeros((nch, net.n_params if pf else 0))
        self.status = np.full(nch, -1, dtype=np.int64)
        traj = obs.get("trajectory")
        n_saves = (n_steps_total // traj.every) if traj is not None else 0
        self.traj = np.zeros((n_saves, B, self.n_tot) if traj is not None else (0, 1, 1), dtype=dtype)
        self.save_every = traj.every if traj is not None else 0
        burn = [o.burn_in for o in obs.values() if hasattr(o, "burn_in")]
        self.burn_in = burn[0] if burn else 0
        self.fresh = True
        #: CPU seconds each chunk's kernel calls have taken, and the thread that ran each last (benchmarks; only
        #: while ``timing`` is True: the thread clock is a system call, 1-100 microseconds on a loaded VM)
        self.timing = False
        self.chunk_cpu_s = np.zeros(nch)
        self.chunk_thread = [0] * nch
        hard = clamp is not None and clamp.hard
        self.fpar = np.array([self.gamma * self.dt, math.sqrt(2.0 * self.gamma * self.kT * self.dt), self.kT,
                              0.0 if (clamp is None or hard) else clamp.stiffness, RUNAWAY_FACTOR,
                              RUNAWAY_CAP_FRACTION * _float_max(dtype)])
        self.hard = hard
        self._ipar = np.array([int(hard), int(input_protocol.moving), self.burn_in, self.save_every, 0, int(books),
                               int(pf), int("energy" in obs), 0], dtype=np.int64)
        self._tgt_fixed = None if self._target_moves() else self._target_tables(0)

    # ------------------------------------------------------------------
    def run(self, n_steps: int) -> None:
        """Advance all replicas by ``n_steps`` (continues the streams and the books)."""
        run_chunk = _kernels()[0].run_chunk
        n_steps = int(n_steps)
        in_moves = self.input_protocol.moving
        tgt_moves = self._tgt_fixed is None
        ipar = self._ipar
        code, cr, B, knet = self.integrator.code, self.chunk_rows, self.B, self.knet
        timing = self.timing
        ipar[8] = self._fresh_code if self.fresh else 0
        done = 0
        with _thread_context(uses_blas=self._blas_big) as ctx:
            while True:
                m = min(n_steps - done, SEGMENT_STEPS) if (in_moves or tgt_moves) else n_steps - done
                inp, mv_in = self.input_protocol.tables(self.k, m, self.dt, B, self.net.dtype)
                if tgt_moves:
                    tgt, mv_t = self._target_tables(m)
                    move = np.ascontiguousarray(np.maximum(_pad(mv_in, m), _pad(mv_t, m)))
                else:
                    tgt = self._tgt_fixed[0]
                    move = np.ascontiguousarray(_pad(mv_in, m)) if in_moves else _NO_MOVE  # read as move[min(j, len-1)]
                k0 = self.k

                def one(ch):
                    if self.status[ch] >= 0:
                        return
                    r0 = ch * cr
                    if timing:
                        c0 = time.thread_time()
                    self.status[ch] = run_chunk(knet, code, r0, min(cr, B - r0), m, self.Xc[ch], self.states[ch],
                                                inp, tgt, move, self.fpar, ipar, self.books, self.emom, self.traj,
                                                k0, self.pforce[ch], self.work[ch])
                    if timing:
                        self.chunk_cpu_s[ch] += time.thread_time() - c0
                        self.chunk_thread[ch] = threading.get_ident()

                ctx.map(one, self.n_chunks, self.threads)
                ipar[8] = 0
                self.fresh = False
                self.k += m
                done += m
                if done >= n_steps or (self.status >= 0).any():
                    break

    def _target_moves(self):
        return self.target_protocol is not None and self.target_protocol.moving

    def _target_tables(self, m):
        if self.target_protocol is None:
            P = self.net.sizes[-1]
            key = (self.B, P)
            t = _NO_TARGET.get(key)
            if t is None:  # never written by the kernel (read as the target of a free output: unused)
                z = np.zeros((self.B, P))
                if len(_NO_TARGET) >= 16:
                    _NO_TARGET.clear()
                t = _NO_TARGET[key] = _kernels()[0].KProto(z, z, np.zeros(1), np.zeros((1, 1, P)))
            return t, _NO_MOVE
        return self.target_protocol.tables(self.k, m, self.dt, self.B, self.net.dtype)

    def state(self) -> np.ndarray:
        """Current state, flat layout (B, n_total)."""
        from ..kernels.langevin import unpack_state

        out = np.empty((self.B, self.n_tot), dtype=self.net.dtype)
        unpack_state(self.Xc, out, self.chunk_rows, self.knet.x_off)
        return out

    def state_layers(self) -> list:
        """Current state as [x_0, ..., x_L], each a C-contiguous (B, n_l) array (no flat copy in between)."""
        B, cr, Xc = self.B, self.chunk_rows, self.Xc
        off = self._x_off_list()
        xs = [np.empty((B, off[l + 1] - off[l]), dtype=Xc.dtype) for l in range(len(off) - 1)]
        for ch in range(self.n_chunks):
            r0 = ch * cr
            Bc = min(cr, B - r0)
            xc = Xc[ch]
            for l, x in enumerate(xs):
                a, b = off[l], off[l + 1]
                x[r0:r0 + Bc] = xc[Bc * a:Bc * b].reshape(b - a, Bc).T
        return xs

    def _x_off_list(self):
        off = getattr(self, "_xo", None)
        if off is None:
            off = self._xo = [int(v) for v in self.knet.x_off]
        return off

    def diverged_step(self) -> int:
        bad = self.status[self.status >= 0]
        return int(bad.min()) if bad.size else -1

    def divergence_kind(self) -> str:
        """'nonfinite', 'runaway' (energy above the guard) or '' (no chunk diverged)."""
        kinds = {int(self.work[ch].ks[1]) for ch in range(self.n_chunks) if self.status[ch] >= 0}
        from ..kernels.langevin import WHY_NONFINITE

        return "" if not kinds else ("nonfinite" if WHY_NONFINITE in kinds else "runaway")

    def release(self) -> None:
        """Hand the per-chunk buffers back to the pool they came from (the run cannot continue afterwards).

        Every buffer is rewritten before it is read by the next run's first (fresh) call, so reusing them saves
        the allocation and the page faults of first use without changing any number. The exception is layer 1's
        f(y_1), f'(y_1) of a fixed input: kept with the input they belong to, they are reused by a run of the same
        net on the same input (compared exactly), which skips that product (on [784, 1024, 1024, 10] x 512 about
        0.4 of a step).
        """
        if self._pool is not None and self.work is not None:
            # the end state's gradient can seed a continuation only after a step (the kernel's last gradient pass
            # then comes from the same code a fresh start runs) and without a divergence (a restored snapshot's
            # gradient is not in the buffers)
            end = self._clamp_sig if (self.k > 0 and self.diverged_step() < 0) else None
            self._pool[self._work_key] = (self.work, self.Xc, self._l1_input if not self.fresh else None, end)
        self.work = None

    def _dyn_neurons(self) -> int:
        L = self.net.depth
        return int(self.knet.k_off[L - 1 if self.hard else L])

    def drift_sq(self) -> np.ndarray:
        """Per replica (B,): |Gamma dt dH/dx|^2 over the moving neurons at the current state (the kernel's gradient)."""
        nd = self._dyn_neurons()
        out = np.empty(self.B)
        a = self.gamma * self.dt
        for ch in range(self.n_chunks):
            r0 = ch * self.chunk_rows
            Bc = min(self.chunk_rows, self.B - r0)
            g = self.work[ch].G[:Bc * nd].reshape(nd, Bc)
            out[r0:r0 + Bc] = a * a * np.einsum("ij,ij->j", g, g, dtype=np.float64)
        return out

    def state_steps(self) -> np.ndarray:
        """Per replica (B,): the step the current state is from (a diverged chunk: its last good snapshot)."""
        out = np.full(self.B, self.k, dtype=np.int64)
        for ch in range(self.n_chunks):
            if self.status[ch] >= 0:
                out[ch * self.chunk_rows:(ch + 1) * self.chunk_rows] = self.work[ch].ks[0]
        return out


_NO_TARGET: dict = {}
_KMODS: list = []


def _kernels():
    """(kernels.langevin, kernels.sample), imported on first use (``import analogsim`` stays free of numba)."""
    if not _KMODS:
        from ..kernels import langevin, sample

        _KMODS.extend((langevin, sample))
    return _KMODS


_NO_MOVE = np.zeros(1, dtype=np.int64)  # no protocol moves at any step (never written; a read-only flag would
# give the kernel another type signature, i.e. another compilation)
_FMAX: dict = {}


def _float_max(dtype) -> float:
    v = _FMAX.get(dtype)
    if v is None:
        v = _FMAX[dtype] = float(np.finfo(dtype).max)
    return v


def _seed_streams(ss, n_streams):
    """:func:`analogsim.kernels.rng.seed_streams` (the same states) without a kernel module import per call."""
    out = np.empty((n_streams, 4), dtype=np.uint64)
    for c, child in enumerate(ss.spawn(n_streams)):
        out[c] = child.generate_state(4, np.uint64)
    zero = ~out.any(axis=1)
    if zero.any():  # the all-zero state is the generator's only fixed point
        out[zero, 0] = np.uint64(0x9E3779B97F4A7C15)
    return out


@functools.lru_cache(maxsize=64)
def _key_stream_table(key, n_streams):
    from ..kernels.seeding import PURPOSE_RUN, key_streams

    out = key_streams(key, PURPOSE_RUN, n_streams)
    out.flags.writeable = False
    return out


def _key_streams(key, n_streams):
    """The run's streams of a :func:`analogsim.kernels.seeding.seed_key` key (a writable copy of a cached table)."""
    return _key_stream_table(key, n_streams).copy()


def _pad(move, m):
    if move.shape[0] == m:
        return move
    return np.full(max(m, 1), int(move[0]) if move.size == 1 else 0, dtype=np.int64)


class _thread_context:
    """BLAS limited to one thread inside the kernels; chunks mapped onto a pool of ``threads`` threads.

    Each chunk runs in one GIL-free kernel call with its own stream and buffers, so the assignment of
    chunks to threads cannot change the numbers. The BLAS libraries' thread counts are read and set through
    their own entry points (a few microseconds; threadpoolctl's ``limit`` costs ~0.1 ms a call) and restored
    on exit; the worker threads are kept between runs (one pool per size).
    """

    def __init__(self, uses_blas=True):
        self.uses_blas = uses_blas

    def __enter__(self):
        self._restore = []
        if self.uses_blas:
            for lc in _blas_libs():
                n = lc.get_num_threads()
                if n != 1:
                    lc.set_num_threads(1)
                    self._restore.append((lc, n))
        return self

    def map(self, fn, n, threads):
        """fn(0), ..., fn(n - 1) on ``threads`` threads (the calling thread alone for one item or one thread)."""
        if n == 1:
            fn(0)
            return
        if threads is None:
            threads = default_threads()
        threads = min(int(threads), n)
        items = range(n)
        if threads <= 1:
            for it in items:
                fn(it)
            return
        pool = _POOLS.get(threads)
        if pool is None:
            from concurrent.futures import ThreadPoolExecutor

            pool = _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="analogsim-chunks")
        for f in [pool.submit(fn, it) for it in items]:
            f.result()

    def __exit__(self, *exc):
        for lc, n in self._restore:
            lc.set_num_threads(n)
        return False


_POOLS: dict = {}
_BLAS_LIBS = None


def _blas_libs():
    """threadpoolctl's controllers of the loaded BLAS libraries (found once per process)."""
    global _BLAS_LIBS
    if _BLAS_LIBS is None:
        _BLAS_LIBS = [lc for lc in _blas_controller().lib_controllers if lc.user_api == "blas"]
    return _BLAS_LIBS


_CONTROLLER = None


def _blas_controller():
    """One threadpoolctl controller per process (finding the libraries costs about a millisecond)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba calls; load it before looking)

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def default_threads() -> int:
    """Threads used when ``threads=None``: numba's setting (NUMBA_NUM_THREADS, default all cores).

    Reads ``numba.get_num_threads()`` only once numba's thread pool is running: starting it just to ask
    costs ~45 ms on a first call (the chunks run on a Python thread pool, not numba's).

    Examples
    --------
    >>> default_threads() >= 1
    True
    """
    import numba
    from numba.np.ufunc import parallel

    if getattr(parallel, "_is_initialized", True):
        return int(numba.get_num_threads())
    return int(numba.config.NUMBA_NUM_THREADS)

