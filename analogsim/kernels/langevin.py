r"""Overdamped Langevin trajectories of many replicas in one compiled call (numba).

    dx = -Gamma dH/dx dt + sqrt(2 Gamma kT) dW          (docs/theory/langevin.md)

One call of :func:`run_chunk` advances one chunk of replicas through ``n_steps`` steps without the
GIL (``nogil``); the host runs the chunks on a thread pool, each chunk with its own RNG stream and its
own buffers, so the numbers do not depend on the thread count. (A ``prange`` over chunks would do the
same but doubles the compile time of this, the largest kernel.) Per step k (global index k0 + j):

1. protocol: if ``move[j]``, the clamped input / target go from lambda_k to lambda_{k+1}; the work
   W += H(x_k; lambda_{k+1}) - H(x_k; lambda_k) is booked (Sekimoto);
2. integrator step at fixed lambda_{k+1} (:data:`EM` or :data:`MALA`), which leaves the gradient,
   stress and energies of the new state in place; the heat is booked (EM: Stratonovich
   sum 1/2 (g_k + g_{k+1}) . dx_k; MALA: the energy change of an accepted move);
3. divergence: a non-finite H, or H above ``fpar[F_HMAX] * (1 + |H_0|)`` (capped at ``fpar[F_HCAP]``),
   stops the chunk: the state (and H) are restored from the last snapshot, taken at the start of the
   call and every :data:`SNAP_EVERY` steps after a good step (``w.Xs``, ``w.Hs``; ``w.ks`` = [the
   snapshot's step, why: :data:`WHY_NONFINITE` or :data:`WHY_RUNAWAY`]), and the step is returned;
4. observers: per-replica sums of the layer energies and their squares, summed dH/dtheta, thinned
   trajectory rows.

Array arguments (``B`` replicas, ``L`` layers, ``n_tot`` = n_0 + ... + n_L):

* ``X`` (chunk_rows * n_tot,): the chunk's state in layer blocks (see :mod:`.energy`).
* ``state`` (4,) uint64: the chunk's xoshiro256++ stream.
* ``inp``, ``tgt``: :data:`KProto` (A (B, P), D (B, P), s (T,), V (Tv, Bv, P)) giving
  lambda_k[r] = A[r] + s[k] D[r] + V[k, r] (an axis of length 1 broadcasts). Index k is local to
  the segment: 0 is the state at k0.
* ``move`` (n_steps,) or (1,) int64: 1 where lambda changes at that step.
* ``fpar`` float64: [Gamma dt, sqrt(2 Gamma kT dt), kT, k_out (0: no spring), runaway factor, runaway cap].
* ``ipar`` int64: [hard, input_moves, record_from, save_every, save_offset, books, pforce, energy, fresh]; fresh
  bits (:data:`FRESH_STATE`, :data:`FRESH_EQ`, :data:`FRESH_L1_KEPT`): an equilibrium start has the dynamic blocks
  of ``X`` holding the residuals delta_l (:func:`analogsim.kernels.sample.draw_residuals`), built into
  x_l = f(y_l) + delta_l by the first forward pass; with L1_KEPT, ``w.FY1``/``w.FP1`` are not recomputed.
* ``w``: :data:`KWork`, the chunk's buffers (gradient, stresses, energies, scratch) kept between calls.
* ``books`` (B, 5) float64: W, Q, H at the start, H now, accepted moves.
* ``emom`` (B, 2, L+1) float64: sums over recorded steps of E and E^2.
* ``chunk_pf`` (N,) float64: sums over recorded steps and the chunk's replicas of dH/dtheta.
* ``traj`` (n_saves, B, n_tot): thinned states (flat layout) or an empty array.
* returns -1, or the step after which H was not finite or ran away (the state is then the snapshot's).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from .bits import _ux
from .energy import equilibrium_build, grad_back, grad_pass, layer1_cache, param_grad_add
from .rng import em_noise_w, fill_noise_w, fill_uniform, noise_work_rows

EM, MALA = 0, 1
KProto = namedtuple("KProto", "A D s V")
#: per-chunk work buffers, kept by the host between calls (see :func:`make_work`)
KWork = namedtuple("KWork", "G S Z Tmp E H FY1 FP1 tbuf DX qh Hold Xp Gp Sp Ep Hp U Xs Hs ks nw")

# indices into fpar / ipar / books
F_ADT, F_NOISE, F_KT, F_KOUT, F_HMAX, F_HCAP = 0, 1, 2, 3, 4, 5
#: a snapshot of the last good state is taken every SNAP_EVERY steps (and at the start of every call)
SNAP_EVERY = 16
#: ks[1] after a divergence: why the chunk stopped
WHY_NONFINITE, WHY_RUNAWAY = 1, 2
I_HARD, I_INMOVES, I_RECFROM, I_SAVE_EVERY, I_SAVE_OFF, I_BOOKS, I_PFORCE, I_ENERGY, I_FRESH = range(9)
#: bits of ipar[I_FRESH] (0: a continuing call): a fresh start from the state in X; an equilibrium start (X's
#: dynamic blocks hold the residuals); layer 1's f(y_1), f'(y_1) of this fixed input are already in w.FY1, w.FP1;
#: the state in X is the one the previous run of these buffers ended with, on the same net and clamp, so its
#: gradient, stresses and energies are already in w (the start's gradient pass is skipped)
FRESH_STATE, FRESH_EQ, FRESH_L1_KEPT, FRESH_GRAD_KEPT = 1, 2, 4, 8
B_W, B_Q, B_H0, B_H, B_ACC = range(5)


@njit(cache=True, error_model="numpy", inline="always")
def set_protocol_rows(p, k, r0, Bc, out):
    """out (P, Bc) block, flat <- lambda_k of rows r0..r0+Bc-1 (see KProto)."""
    P = p.A.shape[1]
    sk = p.s[min(k, p.s.shape[0] - 1)]
    kv = min(k, p.V.shape[0] - 1)
    for r in range(Bc):
        ra = r0 + r
        rv = ra if p.V.shape[1] > 1 else 0
        for i in range(P):
            out[_ux(i * Bc + r)] = p.A[ra, i] + sk * p.D[ra, i] + p.V[kv, rv, i]


@njit(cache=True, error_model="numpy", inline="always")
def em_update_books(net, X, G, Z, DX, qh, a, c, n_dyn_layers, Bc):
    """x <- x - a g + c z on the dynamic layers, keeping DX = the increment and qh += 1/2 g . dx (the first
    half of the Stratonovich heat, in float64). Without books the update is fused with the noise
    (:func:`analogsim.kernels.rng.em_noise_w`)."""
    for l in range(1, n_dyn_layers + 1):
        n = net.sizes[l]
        xl = X[Bc * net.x_off[l]:Bc * net.x_off[l + 1]]
        k0 = Bc * net.k_off[l - 1]
        for i in range(n):
            for r in range(Bc):
                q = i * Bc + r
                gq = np.float64(G[_ux(k0 + q)])
                dx = -a * gq + c * Z[_ux(k0 + q)]
                qh[r] += 0.5 * gq * dx
                xl[q] += dx
                DX[_ux(k0 + q)] = dx


@njit(cache=True, error_model="numpy", inline="always")
def heat_close(net, G, DX, qh, n_dyn_layers, Bc):
    """qh += 1/2 g_{k+1} . dx_k (second half of the Stratonovich heat)."""
    for l in range(1, n_dyn_layers + 1):
        n = net.sizes[l]
        k0 = Bc * net.k_off[l - 1]
        for i in range(n):
            for r in range(Bc):
                q = k0 + i * Bc + r
                qh[r] += 0.5 * np.float64(G[q]) * DX[q]


@njit(cache=True, error_model="numpy", inline="always")
def snap_take(X, H, Xs, Hs, ks, k, n, Bc):
    """Snapshot of the first n entries of X and the chunk's H, taken at step k."""
    for q in range(n):
        Xs[q] = X[q]
    for r in range(Bc):
        Hs[r] = H[r]
    ks[0] = k


@njit(cache=True, error_model="numpy", inline="always")
def snap_restore(X, Xs, Hs, bk, n, Bc):
    """Back to the snapshot: the state and, in the books, H now."""
    for q in range(n):
        X[q] = Xs[q]
    for r in range(Bc):
        bk[r, B_H] = Hs[r]


@njit(cache=True, error_model="numpy", nogil=True, fastmath=False)
def run_chunk(net, integ, r0, Bc, n_steps, X, state, inp, tgt, move, fpar, ipar, books, emom, traj, k0, chunk_pf,
              w):
    """Advance one chunk (rows r0..r0+Bc-1) by n_steps; returns -1 or the step at which H went non-finite.

    ``w`` is the chunk's :data:`KWork` (buffers kept between calls, so a new segment costs nothing:
    the gradient, stresses and energies of the current state carry over unless ``ipar[I_FRESH]``).
    """
    L = net.sizes.shape[0] - 1
    n_tot = net.x_off[L + 1]
    a = fpar[F_ADT]
    c = fpar[F_NOISE]
    kT = fpar[F_KT]
    k_out = fpar[F_KOUT]
    hard = ipar[I_HARD] != 0
    in_moves = ipar[I_INMOVES] != 0
    rec_from = ipar[I_RECFROM]
    save_every = ipar[I_SAVE_EVERY]
    save_off = ipar[I_SAVE_OFF]
    want_books = ipar[I_BOOKS] != 0
    want_pf = ipar[I_PFORCE] != 0
    want_e = ipar[I_ENERGY] != 0
    fresh = ipar[I_FRESH] != 0
    eq_start = (ipar[I_FRESH] & FRESH_EQ) != 0  # the dynamic blocks of X hold residuals (equilibrium start)
    l1_kept = (ipar[I_FRESH] & FRESH_L1_KEPT) != 0  # w.FY1, w.FP1 already hold this input's layer-1 f, f'
    grad_kept = (ipar[I_FRESH] & FRESH_GRAD_KEPT) != 0  # w.G, S, E, H (and tbuf) already belong to the state in X
    n_dyn_layers = L - 1 if hard else L
    nz = Bc * net.k_off[n_dyn_layers]
    x_dyn = Bc * net.x_off[1]
    G, S, Z, Tmp, E, H = w.G, w.S, w.Z, w.Tmp, w.E, w.H
    FY1, FP1, tbuf, DX, qh, Hold = w.FY1, w.FP1, w.tbuf, w.DX, w.qh, w.Hold
    Xp, Gp, Sp, Ep, Hp, U = w.Xp, w.Gp, w.Sp, w.Ep, w.Hp, w.U
    Xs, Hs, ks = w.Xs, w.Hs, w.ks
    h_fac = fpar[F_HMAX]
    h_cap = fpar[F_HCAP]
    nX = Bc * n_tot
    tz = np.empty(2, dtype=X.dtype)  # a, c in the net's dtype (float32 nets: float32 update)
    tz[0] = a
    tz[1] = c
    an = tz[0]
    cn = tz[1]
    maxn = 0
    for l in range(L + 1):
        maxn = max(maxn, net.sizes[l])
    PT = np.empty(maxn * maxn if want_pf else 1, dtype=X.dtype)
    bk = books[r0:r0 + Bc]
    xL = X[Bc * net.x_off[L]:Bc * net.x_off[L + 1]]
    l1_fixed = not in_moves
    for r in range(Bc):
        qh[r] = 0.0

    if fresh and not grad_kept:  # state at the start: lambda_0 in place, layer-1 cache, energies and gradient
        set_protocol_rows(inp, 0, r0, Bc, X[:Bc * net.sizes[0]])
        if hard and not eq_start:
            set_protocol_rows(tgt, 0, r0, Bc, xL)
        elif k_out > 0.0:
            set_protocol_rows(tgt, 0, r0, Bc, tbuf)
        if l1_fixed and not l1_kept:
            layer1_cache(net, X, FY1, FP1, Tmp, Bc)
        if eq_start:  # X holds the residuals: the exact sample and its gradient in one forward pass
            equilibrium_build(net, X, FY1, l1_fixed, Tmp, Bc)
            if hard:
                set_protocol_rows(tgt, 0, r0, Bc, xL)
            grad_back(net, X, G, S, E, H, FY1, FP1, l1_fixed, tbuf, k_out, Tmp, Bc)
        else:
            grad_pass(net, X, G, S, E, H, FY1, FP1, l1_fixed, tbuf, k_out, Tmp, Bc)
    if fresh:
        if k0 == 0:
            for r in range(Bc):
                bk[r, B_H0] = H[r]
        for r in range(Bc):
            if not np.isfinite(H[r]):
                ks[0] = k0
                ks[1] = WHY_NONFINITE
                return k0
    snap_take(X, H, Xs, Hs, ks, k0, nX, Bc)

    for j in range(n_steps):
        k = k0 + j
        # 1. protocol lambda_k -> lambda_{k+1}, work at fixed x
        if move[min(j, move.shape[0] - 1)]:
            set_protocol_rows(inp, j + 1, r0, Bc, X[:Bc * net.sizes[0]])
            if hard:
                set_protocol_rows(tgt, j + 1, r0, Bc, xL)
            elif k_out > 0.0:
                set_protocol_rows(tgt, j + 1, r0, Bc, tbuf)
            for r in range(Bc):
                Hold[r] = H[r]
            grad_pass(net, X, G, S, E, H, FY1, FP1, l1_fixed, tbuf, k_out, Tmp, Bc)
            for r in range(Bc):
                bk[r, B_W] += H[r] - Hold[r]
        # 2. integrator step at fixed lambda_{k+1}
        if integ == EM and not want_books:  # the dynamic layers are one block of X, laid out like G
            em_noise_w(state, X[x_dyn:x_dyn + nz], G[:nz], an, cn, w.nw)
        else:
            fill_noise_w(state, Z[:nz], w.nw)
        if integ == EM:
            if want_books:
                em_update_books(net, X, G, Z, DX, qh, a, c, n_dyn_layers, Bc)
            grad_pass(net, X, G, S, E, H, FY1, FP1, l1_fixed, tbuf, k_out, Tmp, Bc)
            if want_books:
                heat_close(net, G, DX, qh, n_dyn_layers, Bc)
                for r in range(Bc):
                    bk[r, B_Q] += qh[r]
                    qh[r] = 0.0
        else:
            mala_step(net, X, G, S, E, H, Xp, Gp, Sp, Ep, Hp, Z, U, state, FY1, FP1, l1_fixed, tbuf, k_out,
                      Tmp, a, c, kT, n_dyn_layers, bk, Bc)
        # 3. divergence: non-finite or runaway energy -> back to the last snapshot
        bad = 0
        for r in range(Bc):
            h = H[r]
            if not np.isfinite(h):
                bad = WHY_NONFINITE
            elif h > min(h_fac * (1.0 + abs(bk[r, B_H0])), h_cap) and bad == 0:
                bad = WHY_RUNAWAY
        if bad != 0:
            ks[1] = bad
            snap_restore(X, Xs, Hs, bk, nX, Bc)
            return k + 1
        if (k + 1) % SNAP_EVERY == 0:
            snap_take(X, H, Xs, Hs, ks, k + 1, nX, Bc)
        # 4. observers
        if k + 1 > rec_from:
            if want_e:
                for r in range(Bc):
                    for l in range(L + 1):
                        e = E[l, r]
                        emom[r0 + r, 0, l] += e
                        emom[r0 + r, 1, l] += e * e
            if want_pf:
                param_grad_add(net, X, S, chunk_pf, PT, Bc)
        if save_every > 0 and (k + 1) % save_every == 0:
            si = (k + 1) // save_every - 1 - save_off
            if 0 <= si < traj.shape[0]:
                for l in range(L + 1):
                    n = net.sizes[l]
                    blk = X[Bc * net.x_off[l]:Bc * net.x_off[l + 1]]
                    for r in range(Bc):
                        for i in range(n):
                            traj[si, r0 + r, net.x_off[l] + i] = blk[_ux(i * Bc + r)]
    for r in range(Bc):
        bk[r, B_H] = H[r]
    return -1


@njit(cache=True, error_model="numpy", fastmath=False)
def mala_step(net, X, G, S, E, H, Xp, Gp, Sp, Ep, Hp, Z, U, state, FY1, FP1, l1_fixed, tbuf, k_out, Tmp,
              a, c, kT, n_dyn_layers, bk, Bc):
    """One Metropolis-adjusted Langevin step (proposal: one EM step; exact Boltzmann stationary law)."""
    L = net.sizes.shape[0] - 1
    n_tot = net.x_off[L + 1]
    for q in range(Bc * n_tot):
        Xp[q] = X[q]
    for l in range(1, n_dyn_layers + 1):
        n = net.sizes[l]
        x0 = Bc * net.x_off[l]
        k0 = Bc * net.k_off[l - 1]
        for q in range(Bc * n):
            Xp[_ux(x0 + q)] = X[_ux(x0 + q)] - a * G[_ux(k0 + q)] + c * Z[_ux(k0 + q)]
    grad_pass(net, Xp, Gp, Sp, Ep, Hp, FY1, FP1, l1_fixed, tbuf, k_out, Tmp, Bc)
    fill_uniform(state, U[:Bc])
    inv = 1.0 / (2.0 * c * c)
    fwd = np.zeros(Bc)
    bwd = np.zeros(Bc)
    for l in range(1, n_dyn_layers + 1):
        n = net.sizes[l]
        x0 = Bc * net.x_off[l]
        k0 = Bc * net.k_off[l - 1]
        for i in range(n):
            for r in range(Bc):
                q = i * Bc + r
                z = Z[_ux(k0 + q)]
                fwd[r] += z * z
                d = np.float64(X[_ux(x0 + q)]) - np.float64(Xp[_ux(x0 + q)]) + a * Gp[_ux(k0 + q)]
                bwd[r] += d * d
    for r in range(Bc):
        log_alpha = -(Hp[r] - H[r]) / kT - bwd[r] * inv + 0.5 * fwd[r]
        if np.isfinite(Hp[r]) and math.log(U[r]) < log_alpha:
            bk[r, B_Q] += Hp[r] - H[r]
            bk[r, B_ACC] += 1.0
            H[r] = Hp[r]
            for l in range(L + 1):
                E[l, r] = Ep[l, r]
            for l in range(1, L + 1):
                n = net.sizes[l]
                k0 = Bc * net.k_off[l - 1] + r
                for i in range(n):
                    G[_ux(k0 + i * Bc)] = Gp[_ux(k0 + i * Bc)]
                    S[_ux(k0 + i * Bc)] = Sp[_ux(k0 + i * Bc)]
            for l in range(1, n_dyn_layers + 1):
                n = net.sizes[l]
                x0 = Bc * net.x_off[l] + r
                for i in range(n):
                    X[_ux(x0 + i * Bc)] = Xp[_ux(x0 + i * Bc)]


def make_work(sizes, chunk_rows, n_chunks, dtype, mala, books):
    """Host helper: one :data:`KWork` per chunk (views of a few (n_chunks, ...) arrays)."""
    L = len(sizes) - 1
    n_neu = int(sum(sizes[1:]))
    n_tot = int(sum(sizes))
    Bc = chunk_rows
    maxn = int(max(sizes))
    nz = Bc * n_neu

    def arr(n, dt=dtype):
        return np.zeros((n_chunks, max(int(n), 1)), dtype=dt)

    G, S, Tmp = arr(nz), arr(nz), arr(max(nz, maxn * Bc, 4 * Bc))  # Tmp: the forward products (grad_pass)
    Z = arr(nz, np.float64 if mala else dtype)  # EM: the noise in the net's dtype (MALA: float64 for the test)
    E = np.zeros((n_chunks, L + 1, Bc))
    H, qh, Hold = arr(Bc, np.float64), arr(Bc, np.float64), arr(Bc, np.float64)
    FY1, FP1, tbuf = arr(Bc * sizes[1]), arr(Bc * sizes[1]), arr(Bc * sizes[L])
    DX = arr(nz if books else 1, np.float64)
    if mala:
        Xp, Gp, Sp = arr(Bc * n_tot), arr(nz), arr(nz)
        Ep, Hp, U = np.zeros((n_chunks, L + 1, Bc)), arr(Bc, np.float64), arr(Bc, np.float64)
    else:
        Xp, Gp, Sp = arr(1), arr(1), arr(1)
        Ep, Hp, U = np.zeros((n_chunks, L + 1, 1)), arr(1, np.float64), arr(1, np.float64)
    Xs, Hs = arr(Bc * n_tot), arr(Bc, np.float64)
    ks = np.zeros((n_chunks, 2), dtype=np.int64)
    nw = noise_work_rows(n_chunks)
    return [KWork(G[c], S[c], Z[c], Tmp[c], E[c], H[c], FY1[c], FP1[c], tbuf[c], DX[c], qh[c], Hold[c], Xp[c],
                  Gp[c], Sp[c], Ep[c], Hp[c], U[c], Xs[c], Hs[c], ks[c], nw[c]) for c in range(n_chunks)]


def pack_state(Xflat, Xc, chunk_rows, x_off):
    """Host helper: flat states (B, n_tot) -> chunk layer blocks (n_chunks, chunk_rows * n_tot).

    Plain numpy (one transposed copy per chunk and layer): a compiled version would cost a kernel load
    (tens of milliseconds) on the first call of every process.
    """
    for ch, r0, Bc, a, b in _chunk_blocks(Xflat.shape[0], Xc.shape[0], chunk_rows, x_off):
        Xc[ch, Bc * a:Bc * b] = Xflat[r0:r0 + Bc, a:b].T.ravel()


def unpack_state(Xc, Xflat, chunk_rows, x_off):
    """Host helper: chunk layer blocks -> flat states (B, n_tot) (inverse of :func:`pack_state`)."""
    for ch, r0, Bc, a, b in _chunk_blocks(Xflat.shape[0], Xc.shape[0], chunk_rows, x_off):
        Xflat[r0:r0 + Bc, a:b] = Xc[ch, Bc * a:Bc * b].reshape(b - a, Bc).T


@njit(cache=True, error_model="numpy", fastmath=False)
def block_equal(xc, A, a, b):
    """Whether the rows of ``A`` (Bc, b - a) equal layer block a:b of the chunk ``xc`` (see :func:`pack_state`).

    Both as integer views of the float bits (int64 for float64, int32 for float32: equal means bit for bit, signs of
    zero included). Eight rows at a time (the chunk's block is read in order, A's rows stay in cache); stops at the
    first tile with a difference. A continued ``relax`` compares the state it is given with the one its buffers
    hold: about 3 ms for the 8 MB of [784, 1024, 1024, 10] x 512, against the gradient pass of a step it saves.
    """
    Bc = A.shape[0]
    base = Bc * a
    n = b - a
    for r0 in range(0, Bc, 8):
        r1 = min(Bc, r0 + 8)
        for i in range(n):
            same = True
            for r in range(r0, r1):
                same &= xc[base + i * Bc + r] == A[r, i]
            if not same:
                return False
    return True


def _chunk_blocks(B, n_chunks, chunk_rows, x_off):
    """The chunk layout of :func:`pack_state`: (chunk, first row, rows Bc, layer columns a:b) per layer block.

    Layer l's block of a chunk holds its Bc rows transposed at Bc * a:Bc * b.
    """
    L = len(x_off) - 2
    for ch in range(n_chunks):
        r0 = ch * chunk_rows
        Bc = min(chunk_rows, B - r0)
        for l in range(L + 1):
            yield ch, r0, Bc, int(x_off[l]), int(x_off[l + 1])


@njit(cache=True, error_model="numpy", fastmath=False)
def energy_stats(emom, n_rec, n_l, kT, em, ev, eq, eq_se):
    """Host helper: the result's energy statistics from ``emom`` (B, 2, L+1) (sums of E and E^2 over n_rec steps).

    em, ev (L+1,): mean and variance over replicas of the per-replica time means (the variance floored at 0);
    eq, eq_se (L,): when kT > 0, equipartition 2 <E_l>/(n_l kT) per layer and its standard error from the spread
    over replicas (NaN for one replica). Sums over replicas run in order (numpy's ``add.reduce`` gives the same up
    to rounding: it may sum pairwise); one compiled call instead of about fifteen small numpy operations.
    """
    B = emom.shape[0]
    K = emom.shape[2]
    L = n_l.shape[0]
    nr = np.float64(n_rec)
    for j in range(K):
        a = emom[0, 0, j] / nr
        b = emom[0, 1, j] / nr
        for r in range(1, B):
            a += emom[r, 0, j] / nr
            b += emom[r, 1, j] / nr
        m = a / B
        em[j] = m
        v = b / B - m * m
        ev[j] = 0.0 if v < 0.0 else v
    if kT > 0.0:
        for j in range(L):
            den = n_l[j] * kT
            a = 2.0 * (emom[0, 0, j] / nr) / den
            for r in range(1, B):
                a += 2.0 * (emom[r, 0, j] / nr) / den
            m = a / B
            eq[j] = m
            if B > 1:
                s = 0.0
                for r in range(B):
                    d = 2.0 * (emom[r, 0, j] / nr) / den - m
                    s += d * d
                eq_se[j] = math.sqrt(s / (B - 1)) / math.sqrt(B)
            else:
                eq_se[j] = np.nan
