"""numba kernel of joint neuron + parameter Langevin dynamics during training, with measured energy books.

Neurons (mobility Gamma) and parameters (mobility mu) follow Euler-Maruyama Langevin dynamics together;
the clamps (input x_0 and output target) switch from one entry to the next abruptly or along a linear ramp
of ``n_sw`` steps (duration tau_switch), during which the parameters are held. Books (Sekimoto; indices
``A_*`` of :mod:`analogsim.kernels.train`): the work of each clamp move at fixed state, and the
Stratonovich heat of every move (trapezoid rule, -1/2 (g_k + g_{k+1}) . dz_k, split into the neuron part
and the parameter part), so that the first law dH = W_sw - Q_x - Q_theta + residual closes per
presentation up to the discretisation error of the trapezoid rule.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .rng import fill_normal
from .train import (_FM, A_F, A_GSQ, A_HAVE, A_HLAST, A_N, A_NSUB, A_PDL, A_PH0, A_PHPOST, A_PQTH, A_PQTHI,
                    A_PQX, A_PW, A_QXSW, A_W, NONFINITE, _act, _affine, _backmul)
from .train_step import _welford, close_presentation

__all__ = ["joint_chunk", "joint_energy"]


@njit(cache=True, error_model="numpy", fastmath=_FM)
def joint_energy(theta, sizes, w_off, b_off, acts, kappa, k_off, kout_soft, hard, x0, tgt, X, Y, FP, DEL, SIG, U):
    """At the state X (layers 1..L flat; the output block is the target for a hard clamp) with the clamps
    (x0, tgt): residuals DEL, f' in FP, stresses SIG = -kappa delta f', dH/dx of the free neurons in U.
    Returns H (the output spring kout_soft/2 |x_L - t|^2 included for a soft clamp; no weight decay)."""
    L = sizes.shape[0] - 1
    nL = sizes[L]
    n_free_layers = L - 1 if hard else L
    e = 0.0
    for l in range(1, L + 1):
        n_out, n_in = sizes[l], sizes[l - 1]
        k0 = k_off[l - 1]
        if l == 1:
            _affine(theta, w_off[0], b_off[0], n_out, n_in, x0, 0, 1, Y, k0)
        else:
            _affine(theta, w_off[l - 1], b_off[l - 1], n_out, n_in, X, k_off[l - 2], 1, Y, k0)
        for i in range(n_out):
            f, fp = _act(acts[l - 1], Y[k0 + i])
            d = X[k0 + i] - f
            DEL[k0 + i] = d
            FP[k0 + i] = fp
            SIG[k0 + i] = -kappa[k0 + i] * d * fp
            e += 0.5 * kappa[k0 + i] * d * d
    for l in range(1, n_free_layers + 1):
        k0 = k_off[l - 1]
        n = sizes[l]
        if l < L:
            _backmul(theta, w_off[l], sizes[l + 1], n, SIG, k_off[l], 1, U, k0)
            for i in range(n):
                U[k0 + i] += kappa[k0 + i] * DEL[k0 + i]
        else:
            for i in range(n):
                U[k0 + i] = kappa[k0 + i] * DEL[k0 + i] + kout_soft[i] * (X[k0 + i] - tgt[i])
    if not hard:
        o = k_off[L - 1]
        for i in range(nL):
            d = X[o + i] - tgt[i]
            e += 0.5 * kout_soft[i] * d * d
    return e


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _set_clamps(Xd, Td, a, x0, tgt, X, hard, o, c_old, s):
    """Clamps at the fraction s of the way from c_old (x0 then target) to entry a (s = 1: the entry)."""
    n0 = x0.shape[0]
    nL = tgt.shape[0]
    for j in range(n0):
        x0[j] = c_old[j] + s * (Xd[a, j] - c_old[j]) if s < 1.0 else Xd[a, j]
    for i in range(nL):
        tgt[i] = c_old[n0 + i] + s * (Td[a, i] - c_old[n0 + i]) if s < 1.0 else Td[a, i]
        if hard:
            X[o + i] = tgt[i]


@njit(cache=True, error_model="numpy", fastmath=_FM)
def joint_chunk(theta, sizes, w_off, b_off, acts, kappa, k_off, kout_soft, hard, Xd, Td, idx, n_sub, dt,
                gamma, mu, lam, cx, cth, rng, nbuf, has_noise, books, acc, gmean, gacc, X, Y, FP, DEL, SIG, U, x0,
                tgt, energetics, n_sw, dt_sw, cx_sw, c_old, dx, dth):
    """Joint Langevin dynamics of neurons and parameters (Euler-Maruyama, step dt, n_sub steps per entry).

    For each presentation p the clamps move to entry ``idx[p]`` (input Xd[a], output Td[a]: hard clamp, or
    a spring of stiffness ``kout_soft`` on a free output): abruptly (``n_sw`` = 0) or along a linear ramp
    of n_sw steps of ``dt_sw`` during which only the neurons move (noise ``cx_sw[p]``). Then n_sub steps
    at the entry, at the current (x, theta):
    dx = -gamma dH/dx dt + cx[p] xi, dtheta = -mu (dH/dtheta + lam theta) dt + cth[p] xi'
    (cx = sqrt(2 gamma kT dt), cth = sqrt(2 mu kT dt)); with ``has_noise`` each step draws n_free neuron
    normals then N parameter normals into ``nbuf`` from the stream ``rng`` (ramp steps: n_free only).
    The neuron state X (layers 1..L, flat) and the clamps (``x0`` (n_0,), ``tgt`` (n_L,)) carry over from
    one presentation (and call) to the next. Books as in ``separated_chunk`` with W summing mu dt |g|^2
    over steps; with ``energetics`` the work of every clamp move and the Stratonovich heats (module
    docstring) are booked per presentation (``dx`` (n_free,), ``dth`` (N,), ``c_old`` (n_0+n_L,) scratch).
    """
    P = idx.shape[0]
    L = sizes.shape[0] - 1
    n0 = sizes[0]
    n_free_layers = L - 1 if hard else L
    nf = k_off[n_free_layers]
    o = k_off[L - 1]
    for p in range(P):
        a = idx[p]
        w_p = 0.0
        qx_p = 0.0
        qxs_p = 0.0
        qt_p = 0.0
        qti_p = 0.0
        dl_p = 0.0
        if acc[A_HAVE] == 0.0:  # the first presentation of a run: the clamps are set, nothing switches
            _set_clamps(Xd, Td, a, x0, tgt, X, hard, o, c_old, 1.0)
            hcur = joint_energy(theta, sizes, w_off, b_off, acts, kappa, k_off, kout_soft, hard, x0, tgt, X, Y,
                                FP, DEL, SIG, U)
            h0 = hcur
            ramp = 0
        else:
            h0 = acc[A_HLAST]
            hcur = h0
            for j in range(n0):
                c_old[j] = x0[j]
            for i in range(tgt.shape[0]):
                c_old[n0 + i] = tgt[i]
            ramp = n_sw
            if n_sw == 0:
                _set_clamps(Xd, Td, a, x0, tgt, X, hard, o, c_old, 1.0)
                h = joint_energy(theta, sizes, w_off, b_off, acts, kappa, k_off, kout_soft, hard, x0, tgt, X, Y,
                                 FP, DEL, SIG, U)
                w_p += h - hcur
                hcur = h
        # ramp: clamp move (work at fixed state), then a neuron step at the new clamps (parameters held)
        for k in range(ramp):
            _set_clamps(Xd, Td, a, x0, tgt, X, hard, o, c_old, (k + 1.0) / ramp)
            h = joint_energy(theta, sizes, w_off, b_off, acts, kappa, k_off, kout_soft, hard, x0, tgt, X, Y,
                             FP, DEL, SIG, U)
            w_p += h - hcur
            if has_noise:
                fill_normal(rng, nbuf[:nf])
            q1 = 0.0
            for q in range(nf):
                d = -gamma * dt_sw * U[q]
                if has_noise:
                    d += cx_sw[p] * nbuf[q]
                v = X[q] + d
                dx[q] = v - X[q]
                q1 += U[q] * dx[q]
                X[q] = v
            hcur = joint_energy(theta, sizes, w_off, b_off, acts, kappa, k_off, kout_soft, hard, x0, tgt, X, Y,
                                FP, DEL, SIG, U)
            if not np.isfinite(hcur):
                return -NONFINITE - p
            q2 = 0.0
            for q in range(nf):
                q2 += U[q] * dx[q]
            qx_p -= 0.5 * (q1 + q2)
            qxs_p -= 0.5 * (q1 + q2)
        for s in range(n_sub):
            if has_noise:
                fill_normal(rng, nbuf)
            # parameter step at the current x (simultaneous update), gradient from SIG and x
            gsq = 0.0
            q1 = 0.0
            for l in range(1, L + 1):
                n_out, n_in = sizes[l], sizes[l - 1]
                w0 = w_off[l - 1]
                b0 = b_off[l - 1]
                k0 = k_off[l - 1]
                for i in range(n_out):
                    sg = SIG[k0 + i]
                    base = w0 + i * n_in
                    for j in range(n_in):
                        xj = x0[j] if l == 1 else X[k_off[l - 2] + j]
                        k = base + j
                        g = sg * xj + lam * theta[k]
                        gsq += g * g
                        if books:
                            gacc[k] += g
                        v = theta[k] - mu * dt * g
                        if has_noise:
                            v += cth[p] * nbuf[nf + k]
                        if energetics:
                            d = v - theta[k]
                            dth[k] = d
                            q1 += g * d
                            dl_p += (theta[k] + 0.5 * d) * d
                        theta[k] = v
                    k = b0 + i
                    g = sg + lam * theta[k]
                    gsq += g * g
                    if books:
                        gacc[k] += g
                    v = theta[k] - mu * dt * g
                    if has_noise:
                        v += cth[p] * nbuf[nf + k]
                    if energetics:
                        d = v - theta[k]
                        dth[k] = d
                        q1 += g * d
                        dl_p += (theta[k] + 0.5 * d) * d
                    theta[k] = v
            qx1 = 0.0
            for q in range(nf):
                v = X[q] - gamma * dt * U[q]
                if has_noise:
                    v += cx[p] * nbuf[q]
                if energetics:
                    dx[q] = v - X[q]
                    qx1 += U[q] * dx[q]
                X[q] = v
            acc[A_W] += mu * dt * gsq
            acc[A_GSQ] += gsq
            acc[A_NSUB] += 1.0
            if not np.isfinite(gsq):
                return -NONFINITE - p
            hcur = joint_energy(theta, sizes, w_off, b_off, acts, kappa, k_off, kout_soft, hard, x0, tgt, X, Y,
                                FP, DEL, SIG, U)
            if energetics:
                # close the trapezoids with the gradients at the new state (same clamps)
                qx2 = 0.0
                for q in range(nf):
                    qx2 += U[q] * dx[q]
                q2 = 0.0
                for l in range(1, L + 1):
                    n_out, n_in = sizes[l], sizes[l - 1]
                    w0 = w_off[l - 1]
                    b0 = b_off[l - 1]
                    k0 = k_off[l - 1]
                    for i in range(n_out):
                        sg = SIG[k0 + i]
                        base = w0 + i * n_in
                        for j in range(n_in):
                            xj = x0[j] if l == 1 else X[k_off[l - 2] + j]
                            q2 += (sg * xj + lam * theta[base + j]) * dth[base + j]
                        q2 += (sg + lam * theta[b0 + i]) * dth[b0 + i]
                qx_p -= 0.5 * (qx1 + qx2)
                qt_p -= 0.5 * (q1 + q2)
                qti_p -= q1
        acc[A_F] += hcur
        if books:
            _welford(acc, gmean, gacc, 1.0 / n_sub)
        else:
            acc[A_N] += 1.0
        if energetics:
            acc[A_PW] = w_p
            acc[A_PQX] = qx_p
            acc[A_PQTH] = qt_p
            acc[A_PQTHI] = qti_p
            acc[A_PDL] = lam * dl_p
            acc[A_PH0] = h0
            acc[A_PHPOST] = hcur
            acc[A_QXSW] += qxs_p
            close_presentation(acc)
        else:
            acc[A_HLAST] = hcur
            acc[A_HAVE] = 1.0
    return P
