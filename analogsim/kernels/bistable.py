r"""Overdamped Langevin dynamics of many bistable elements (the state bits of a dynamic analog machine).

One element is a coordinate q in the double well

    U(q; E, t) = E_in (q^2 - 1)^2 - t g(q) / 2,     E_in = E for |q| < 1, E_w for |q| >= 1,
    g(q) = x (3 - x^2) / 2,  x = clip(q / w, -1, 1)   (a smooth step: g = +-1 for |q| >= w),

wells at q = -1 (s = 0) and q = +1 (s = 1) for every barrier and tilt, barrier height E at q = 0 (the
control parameter that a protocol lowers and raises), walls E_w (q^2 - 1)^2 that do not move, and a tilt
t (the second control parameter: the energy of the s = 0 side minus that of the s = 1 side, exactly,
at any barrier; t > 0 favours s = 1). The tilt of element j at grid point k is

    t_kj = A[k] + B[k] gs[j] + C[k] gp[j]

(two per-element channels: the signal and the prior). Dynamics, with mobility mu and temperature kT:

    q' = q + mu dt F(q; lambda_{k+1}) + sqrt(2 mu kT dt) (alpha z_k + beta z_{k-1}),   F = -dU/dq,

Euler-Maruyama (alpha, beta) = (1, 0) or the Leimkuhler-Matthews scheme (1/2, 1/2), whose stationary
law is exact to second order in dt at the same cost (one normal per step). Per step k (Sekimoto):

1. work W += U(q; lambda_{k+1}) - U(q; lambda_k) (the control parameters move at fixed q);
2. step at fixed lambda_{k+1}; heat released Q -= U(q'; lambda_{k+1}) - U(q; lambda_{k+1}).

So U(q_n; lambda_n) - U(q_0; lambda_0) = W - Q per cycle (the first law); the kernel also books that
energy change directly, so the host can check the books.

Each chunk of elements owns one RNG stream (:mod:`.rng`) and one call of :func:`run_chunk` (``nogil``);
the host maps chunks onto threads, so the numbers do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .rng import fill_noise_w, normal_next


@njit(cache=True, error_model="numpy", inline="always")
def step_g(q, iw):
    """The tilt's smooth step g(q) and its derivative (``iw`` = 1/w)."""
    x = min(max(q * iw, -1.0), 1.0)
    return 0.5 * x * (3.0 - x * x), 1.5 * iw * (1.0 - x * x)


@njit(cache=True, error_model="numpy", inline="always")
def potential(q, e, ew, t, iw):
    """U(q; e, t) with walls ``ew`` and step width 1/``iw`` (see the module docstring)."""
    u = q * q - 1.0
    ei = e if abs(q) < 1.0 else ew
    g, _ = step_g(q, iw)
    return ei * u * u - 0.5 * t * g


@njit(cache=True, error_model="numpy", inline="always")
def force(q, e, ew, t, iw):
    """F = -dU/dq."""
    u = q * q - 1.0
    ei = e if abs(q) < 1.0 else ew
    _, dg = step_g(q, iw)
    return -4.0 * ei * q * u + 0.5 * t * dg


@njit(cache=True, error_model="numpy", nogil=True, fastmath=False)
def run_chunk(q, xi, state, w, z, Eb, A, B, C, gs, gp, seg, fpar, W, Q, S, dU):
    """Advance one chunk of m elements through ``n_cycles`` cycles of one protocol grid.

    Parameters (m elements, n grid steps, n_seg segments, n_cycles cycles)
    ----------
    q, xi : float64 (m,)
        Coordinates and the previous normal of each element (the Leimkuhler-Matthews memory); updated.
    state : uint64 (4,)
        The chunk's xoshiro256++ stream; updated.
    w : rng.NoiseWork
        Scratch of the vectorised normal generator.
    z : float64 (m,)
        Scratch for the normals of one step.
    Eb, A, B, C : float64 (n + 1,)
        Barrier and tilt coefficients at the grid points.
    gs : float64 (Cs, m), Cs = 1 or n_cycles
        Signal channel (row c for cycle c, or row 0 for all).
    gp : float64 (m,)
        Prior channel.
    seg : int64 (n_seg + 1,)
        Grid steps where the segments start; seg[-1] = n.
    fpar : float64 (6,)
        [mu dt, sqrt(2 mu kT dt), wall height E_w, alpha, beta, 1/w].
    W, Q : float64 (n_cycles, m, n_seg)
        Work done on, and heat released by, each element in each segment of each cycle (written).
    S : int8 (n_cycles, m, n_seg)
        The well (q > 0) at the end of each segment (written).
    dU : float64 (n_cycles, m)
        U(q_end; lambda_n) - U(q_start; lambda_0) of each cycle, booked directly (written).
    """
    m = q.shape[0]
    mudt, c, ew, alpha, beta, iw = fpar[0], fpar[1], fpar[2], fpar[3], fpar[4], fpar[5]
    n_cycles = W.shape[0]
    n_seg = seg.shape[0] - 1
    wacc = np.empty(m)
    qacc = np.empty(m)
    ncs = gs.shape[0]
    for cyc in range(n_cycles):
        sig = gs[cyc if ncs > 1 else 0]
        for j in range(m):
            t0 = A[0] + B[0] * sig[j] + C[0] * gp[j]
            dU[cyc, j] = -potential(q[j], Eb[0], ew, t0, iw)
        for s in range(n_seg):
            wacc[:] = 0.0
            qacc[:] = 0.0
            for k in range(seg[s], seg[s + 1]):
                e0 = Eb[k]
                e1 = Eb[k + 1]
                a0 = A[k]
                da = A[k + 1] - a0
                b0 = B[k]
                db = B[k + 1] - b0
                c0 = C[k]
                dc = C[k + 1] - c0
                fill_noise_w(state, z, w)
                for j in range(m):
                    x = q[j]
                    gj = sig[j]
                    pj = gp[j]
                    t1 = a0 + da + (b0 + db) * gj + (c0 + dc) * pj
                    dt_ = da + db * gj + dc * pj
                    u = x * x - 1.0
                    inner = abs(x) < 1.0
                    ei0 = e0 if inner else ew
                    ei1 = e1 if inner else ew
                    uu = u * u
                    y = min(max(x * iw, -1.0), 1.0)
                    g = 0.5 * y * (3.0 - y * y)
                    dg = 1.5 * iw * (1.0 - y * y)
                    wacc[j] += (ei1 - ei0) * uu - 0.5 * dt_ * g
                    zj = z[j]
                    xn = x + mudt * (0.5 * t1 * dg - 4.0 * ei1 * x * u) + c * (alpha * zj + beta * xi[j])
                    xi[j] = zj
                    un = xn * xn - 1.0
                    en = e1 if abs(xn) < 1.0 else ew
                    yn = min(max(xn * iw, -1.0), 1.0)
                    gn = 0.5 * yn * (3.0 - yn * yn)
                    qacc[j] -= (en * un * un - 0.5 * t1 * gn) - (ei1 * uu - 0.5 * t1 * g)
                    q[j] = xn
            for j in range(m):
                W[cyc, j, s] = wacc[j]
                Q[cyc, j, s] = qacc[j]
                S[cyc, j, s] = 1 if q[j] > 0.0 else 0
        n = Eb.shape[0] - 1
        for j in range(m):
            t1 = A[n] + B[n] * sig[j] + C[n] * gp[j]
            dU[cyc, j] += potential(q[j], Eb[n], ew, t1, iw)


@njit(cache=True, error_model="numpy", nogil=True, fastmath=False)
def first_passage(q, state, e, ew, t, fpar, target, max_steps, out):
    """Steps until each element of a chunk first reaches q >= ``target`` (at fixed barrier ``e``,
    walls ``ew``, tilt ``t``), or -1 if it has not after ``max_steps``. Euler-Maruyama / LM noise as
    in :func:`run_chunk` (``fpar`` = [mu dt, sqrt(2 mu kT dt), -, alpha, beta, 1/w]); elements one after
    another, each on the chunk's stream in order. ``q`` is updated (the state at passage)."""
    mudt, c, alpha, beta, iw = fpar[0], fpar[1], fpar[3], fpar[4], fpar[5]
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    for j in range(q.shape[0]):
        x = q[j]
        zp, s0, s1, s2, s3 = normal_next(s0, s1, s2, s3)
        out[j] = -1
        for k in range(max_steps):
            zn, s0, s1, s2, s3 = normal_next(s0, s1, s2, s3)
            x = x + mudt * force(x, e, ew, t, iw) + c * (alpha * zn + beta * zp)
            zp = zn
            if x >= target:
                out[j] = k + 1
                break
        q[j] = x
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
