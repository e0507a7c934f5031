"""numba kernels of one training step at separated time scales, with its measured energy books.

A substep solves the clamped minimum (:func:`analogsim.kernels.train.clamped_min`), moves the parameters by
the stress (:func:`apply_substep`) and, with energetics on, books what the machine spends (Sekimoto;
``docs/training.md``): the switching work of moving the clamps at
fixed state, the neuron heat (drop of H to the clamped minimum), the parameter heat of the move
(Stratonovich, and Ito for comparison), and the first-law residual of each presentation. Indices into
the books accumulator ``acc`` are the ``A_*`` constants of :mod:`analogsim.kernels.train`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .rng import fill_normal
from .train import (_FM, A_DH, A_F, A_GSQ, A_HAVE, A_HLAST, A_M2, A_MAXSW, A_N, A_NSUB, A_PDL, A_PH0, A_PHPOST,
                    A_PQTH, A_PQTHI, A_PQX, A_PW, A_QTH, A_QTHI, A_QX, A_RES, A_RESABS, A_RESMAX, A_SUMSW, A_W,
                    A_WSW, IDENTITY, NONFINITE, SIGMOID, TANH, _act, _affine, _energy_rows, _gemm_tn, _layer_input,
                    _tanh, clamped_min)

__all__ = ["apply_substep", "separated_chunk", "state_forward", "heat_pass", "switch_energy",
           "energetics_substep", "close_presentation", "prev_size", "load_rows"]


@njit(cache=True, error_model="numpy", fastmath=False)
def _step_value(th, s, x, lam, eta, c, z, has_noise):
    """g = s x + lam th and v = th - eta g (+ c z): one parameter's update, compiled *without* fastmath so
    that every update function rounds it the same way (the books never change the parameters).

    ``fastmath=False`` is written out: left unset, it is inherited from the caller that first compiles this,
    and the compiling process booked other last bits than later ones (tests/test_kernel_cache.py)."""
    g = s * x + lam * th
    v = th - eta * g
    if has_noise:
        v = v + c * z
    return g, v


@njit(cache=True, error_model="numpy", inline="always", fastmath=_FM)
def _f_moved(code, y1, y0, f0, fp0, dmax):
    """f(y1) from f0 = f(y0), fp0 = f'(y0): identity exactly; tanh/sigmoid by the second-order Taylor step
    when |y1 - y0| <= dmax (error below the fixed point's tolerance, as in :func:`clamped_min`); tanh by the
    addition theorem tanh(y0 + d) = (f0 + tanh d)/(1 + f0 tanh d) for |d| < 0.5 (no exponential: tanh d is
    the rational branch of :func:`_tanh`); else exactly."""
    if code == IDENTITY:
        return y1
    d = y1 - y0
    ad = abs(d)
    if ad <= dmax:
        if code == TANH:
            return f0 + fp0 * d * (1.0 - f0 * d)
        if code == SIGMOID:
            return f0 + fp0 * d * (1.0 + 0.5 * (1.0 - 2.0 * f0) * d)
    elif code == TANH and ad < 0.5:
        td = _tanh(d)
        return (f0 + td) / (1.0 + f0 * td)
    f, _ = _act(code, y1)
    return f


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _grad_update(theta, sizes, w_off, b_off, k_off, x0, XS, SIG, B, eta, lam, cnoise, noise, no, has_noise,
                 gacc, gbuf, accumulate, eo, store):
    """theta -= eta * (mean_r dH_r/dtheta + lam * theta) + cnoise * noise[no:no+N]; returns |g|^2.

    g uses the parameters *before* the update (Euler step with the stress held fixed). With
    ``accumulate`` the gradient is added to ``gacc`` (presentation average over substeps). With ``store``
    (energy books) eo[0] = g . noise and eo[1] = |theta_new|^2 - |theta_old|^2 (from the realised change).
    """
    gxi = 0.0
    dsq = 0.0
    L = sizes.shape[0] - 1
    gsq = 0.0
    invB = 1.0 / B
    for l in range(1, L + 1):
        n_out, n_in = sizes[l], sizes[l - 1]
        w0 = w_off[l - 1]
        b0 = b_off[l - 1]
        so = B * k_off[l - 1]
        xin, xo = _layer_input(l, x0, XS, k_off, B)
        # the single-row and the batch update in two loops of their own: one loop holding both branches
        # is not vectorised (the batch update 55 us slower on [64,256,256,10] x 64)
        if B == 1:
            xv = xin[xo:xo + n_in]
            for i in range(n_out):
                base = w0 + i * n_in
                th = theta[base:base + n_in]
                ga = gacc[base:base + n_in]
                nz = noise[no + base:no + base + n_in] if has_noise else noise[0:0]
                s = SIG[so + i]
                for j in range(n_in):
                    g, v = _step_value(th[j], s, xv[j], lam, eta, cnoise, nz[j] if has_noise else 0.0, has_noise)
                    gsq += g * g
                    if accumulate:
                        ga[j] += g
                    if store:
                        if lam != 0.0:
                            d = v - th[j]
                            dsq += (2.0 * th[j] + d) * d
                        if has_noise:
                            gxi += g * nz[j]
                    th[j] = v
        else:
            G = gbuf[:n_out * n_in].reshape(n_out, n_in)
            S = SIG[so:so + B * n_out].reshape(B, n_out)
            X = xin[xo:xo + B * n_in].reshape(B, n_in)
            _gemm_tn(S, X, G)
            for i in range(n_out):
                base = w0 + i * n_in
                th = theta[base:base + n_in]
                ga = gacc[base:base + n_in]
                nz = noise[no + base:no + base + n_in] if has_noise else noise[0:0]
                # the same bookkeeping as above, written out on purpose: shared through an inlined helper
                # returning (dsq, gxi) it kept LLVM from vectorising this loop (a batch presentation 1.9-2.5x
                # slower on [64,256,256,10]; benchmarks/ab_dense.py)
                gr = gbuf[i * n_in:(i + 1) * n_in]
                for j in range(n_in):
                    g, v = _step_value(th[j], gr[j], invB, lam, eta, cnoise, nz[j] if has_noise else 0.0,
                                       has_noise)
                    gsq += g * g
                    if accumulate:
                        ga[j] += g
                    if store:
                        if lam != 0.0:
                            d = v - th[j]
                            dsq += (2.0 * th[j] + d) * d
                        if has_noise:
                            gxi += g * nz[j]
                    th[j] = v
        if B > 1:
            # the bias gradient sum_r sigma_ri row by row into gbuf (free again): unit stride and one
            # independent sum per neuron (a sum per neuron over a strided column is a chain of dependent
            # additions: 15 % of the update on [64,256,256,10] x 64); the same order of terms per neuron
            bsum = gbuf[0:n_out]
            for i in range(n_out):
                bsum[i] = SIG[so + i]
            for r in range(1, B):
                sr = SIG[so + r * n_out:so + (r + 1) * n_out]
                for i in range(n_out):
                    bsum[i] += sr[i]
        for i in range(n_out):
            s = SIG[so + i] if B == 1 else gbuf[i]
            k = b0 + i
            g, v = _step_value(theta[k], s, invB, lam, eta, cnoise, noise[no + k] if has_noise else 0.0, has_noise)
            gsq += g * g
            if accumulate:
                gacc[k] += g
            if store:
                d = v - theta[k]
                dsq += (2.0 * theta[k] + d) * d
                if has_noise:
                    gxi += g * noise[no + k]
            theta[k] = v
    if store:
        eo[0] = gxi
        eo[1] = dsq
    return gsq


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _grad_update_fwd(theta, sizes, w_off, b_off, acts, k_off, x0, XS, SIG, eta, lam, cnoise, noise, has_noise, gacc,
                     accumulate, eo, Y, FV, FP, DEL, YN, XN, dmax, B):
    """One row (B = 1): the update of :func:`_grad_update` (same arithmetic, so the same numbers) fused with
    the forward pass at the new parameters that the energy books need (:func:`heat_pass`): while a row of
    W_l' is written, y'_l = W'_l x'_{l-1} + b'_l is accumulated, and x'_l = f(y'_l) + delta_l (hidden layers,
    into XN) before the next layer. Returns |g|^2; eo as in :func:`_grad_update`."""
    gxi = 0.0
    dsq = 0.0
    L = sizes.shape[0] - 1
    gsq = 0.0
    invB = 1.0 / B
    for l in range(1, L + 1):
        n_out, n_in = sizes[l], sizes[l - 1]
        w0 = w_off[l - 1]
        b0 = b_off[l - 1]
        k0 = k_off[l - 1]
        if l == 1:
            xv = x0[0:n_in]
            xn = x0[0:n_in]
        else:
            xv = XS[k_off[l - 2]:k_off[l - 2] + n_in]
            xn = XN[k_off[l - 2]:k_off[l - 2] + n_in]
        for i in range(n_out):
            base = w0 + i * n_in
            th = theta[base:base + n_in]
            ga = gacc[base:base + n_in]
            nz = noise[base:base + n_in] if has_noise else noise[0:0]
            s = SIG[k0 + i]
            ya = 0.0
            for j in range(n_in):
                g, v = _step_value(th[j], s, xv[j], lam, eta, cnoise, nz[j] if has_noise else 0.0, has_noise)
                gsq += g * g
                if accumulate:
                    ga[j] += g
                if has_noise:
                    gxi += g * nz[j]
                if lam != 0.0:
                    d = v - th[j]
                    dsq += (2.0 * th[j] + d) * d
                th[j] = v
                ya += v * xn[j]
            YN[k0 + i] = ya
        code = acts[l - 1]
        for i in range(n_out):
            k = b0 + i
            s = 0.0
            s += SIG[k0 + i]
            g, v = _step_value(theta[k], s, invB, lam, eta, cnoise, noise[k] if has_noise else 0.0, has_noise)
            gsq += g * g
            if accumulate:
                gacc[k] += g
            if has_noise:
                gxi += g * noise[k]
            if lam != 0.0:
                d = v - theta[k]
                dsq += (2.0 * theta[k] + d) * d
            theta[k] = v
            q = k0 + i
            YN[q] += v
            if l < L:
                XN[q] = _f_moved(code, YN[q], Y[q], FV[q], FP[q], dmax) + DEL[q]
    eo[0] = gxi
    eo[1] = dsq
    return gsq


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _welford(acc, gmean, gacc, scale):
    """Fold the presentation gradient gacc * scale into the running mean / summed M2; zero gacc."""
    acc[A_N] += 1.0
    inv = 1.0 / acc[A_N]
    m2 = 0.0
    for k in range(gmean.shape[0]):
        g = gacc[k] * scale
        d = g - gmean[k]
        gmean[k] += d * inv
        m2 += d * (g - gmean[k])
        gacc[k] = 0.0
    acc[A_M2] += m2


@njit(cache=True, error_model="numpy", fastmath=_FM)
def apply_substep(theta, sizes, w_off, b_off, k_off, x0, XS, SIG, B, eta_sub, lam, cnoise, noise, no,
                  has_noise, books, acc, gmean, gacc, gbuf, energy_mean, sweeps, last_substep, n_sub, eo, store):
    """One parameter step from a solved clamped minimum (stress in SIG, state in x0/XS) plus its books
    (Eq. 15's W, <|g|^2>, the Welford variance); with ``store`` eo (2,) gets g . noise and the change of |theta|^2."""
    gsq = _grad_update(theta, sizes, w_off, b_off, k_off, x0, XS, SIG, B, eta_sub, lam, cnoise, noise, no,
                       has_noise, gacc, gbuf, books, eo, store)
    _substep_books(acc, gmean, gacc, eta_sub, gsq, energy_mean, sweeps, last_substep, n_sub, books)
    return gsq


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _substep_books(acc, gmean, gacc, eta_sub, gsq, energy_mean, sweeps, last_substep, n_sub, books):
    """Eq. 15's W, <|g|^2>, energy and sweep counters of one substep; the Welford fold at a presentation's end."""
    acc[A_W] += eta_sub * gsq
    acc[A_GSQ] += gsq
    acc[A_NSUB] += 1.0
    acc[A_F] += energy_mean
    acc[A_SUMSW] += sweeps
    if sweeps > acc[A_MAXSW]:
        acc[A_MAXSW] = sweeps
    if last_substep:
        if books:
            _welford(acc, gmean, gacc, 1.0 / n_sub)
        else:
            acc[A_N] += 1.0


@njit(cache=True, error_model="numpy", inline="always", fastmath=_FM)
def load_rows(Xd, Td, idx, p, B, x0, tb):
    """Copy the rows idx[p, :B] of the data into the flat batch buffers."""
    n0 = Xd.shape[1]
    nL = Td.shape[1]
    for r in range(B):
        a = idx[p, r]
        for j in range(n0):
            x0[r * n0 + j] = Xd[a, j]
        for j in range(nL):
            tb[r * nL + j] = Td[a, j]


# ----------------------------------------------------------------------------- measured energetics
@njit(cache=True, error_model="numpy", fastmath=_FM)
def _prev_offsets(sizes, B):
    """Offsets in the carried-state buffer ``prev`` (see :func:`heat_pass`)."""
    L = sizes.shape[0] - 1
    n1, nL = sizes[1], sizes[L]
    o_xL = B * n1
    o_fL = o_xL + B * nL
    o_t = o_fL + B * nL
    o_E1 = o_t + B * nL
    return o_xL, o_fL, o_t, o_E1, o_E1 + B, o_E1 + 2 * B


def prev_size(sizes, B: int) -> int:
    """Length of the carried-state buffer ``prev`` for a batch of B rows (host helper)."""
    return int(B * (sizes[1] + 3 * sizes[-1]) + 3 * B)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def state_forward(theta, sizes, w_off, b_off, acts, k_off, x0, XS, B, Y, FV, FP, DEL):
    """For a given neuron state (x0, XS layer-major): y_l = W_l x_{l-1} + b_l, f(y), f'(y) and the hidden
    residuals DEL = x_l - f(y_l) (the layout :func:`clamped_min` leaves behind; used after a Newton solve)."""
    L = sizes.shape[0] - 1
    for l in range(1, L + 1):
        n_out, n_in = sizes[l], sizes[l - 1]
        yo = B * k_off[l - 1]
        if l == 1:
            _affine(theta, w_off[0], b_off[0], n_out, n_in, x0, 0, B, Y, yo)
        else:
            _affine(theta, w_off[l - 1], b_off[l - 1], n_out, n_in, XS, B * k_off[l - 2], B, Y, yo)
        for q in range(yo, yo + B * n_out):
            f, fp = _act(acts[l - 1], Y[q])
            FV[q] = f
            FP[q] = fp
            if l < L:
                DEL[q] = XS[q] - f


_T3, _T5, _T7 = -1.0 / 3.0, 2.0 / 15.0, -17.0 / 315.0  # tanh d = d (1 + T3 d^2 + T5 d^4 + T7 d^6 + O(d^8))
_S8MAX = 0.02 ** 8  # sum of d^8 below which every |d| < 0.02: tanh(y + d) from its series (error < 1.1e-17)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _hidden_moved(code, yn, y, fv, fp, dl, xn, dmax):
    """xn = f(yn) + dl for one hidden block, from f(y) in fv and f'(y) in fp (contiguous views).

    tanh: one branch-free, division-free pass, tanh(y + d) = f + t f' / (1 + f t) with t = tanh d =
    d (1 + T3 d^2 + T5 d^4 + T7 d^6) and 1/(1 + a), a = f t (|a| <= |d|), as (1 - a)(1 + a^2)(1 + a^4)(1 + a^8)
    (= the geometric series to a^15); both truncations are below 1.1e-17 for |d| < 0.02. The same pass sums
    d^8: if that sum reaches 0.02^8 some |d| may be >= 0.02 (or is not finite) and the block is redone element
    by element through :func:`_f_moved` (as is any other activation)."""
    m = yn.shape[0]
    if code == TANH:
        # in float64 whatever the block's dtype: in float32 the powers of a small move (d^8 ~ 1e-40) would be
        # subnormal numbers, which the CPU computes ~100x slower
        s8 = 0.0
        for q in range(m):
            d = np.float64(yn[q]) - np.float64(y[q])
            d2 = d * d
            d4 = d2 * d2
            s8 += d4 * d4
            t = d * (1.0 + d2 * (_T3 + d2 * (_T5 + d2 * _T7)))
            f0 = np.float64(fv[q])
            a = f0 * t
            a2 = a * a
            a4 = a2 * a2
            xn[q] = f0 + t * (1.0 - f0 * f0) * ((1.0 - a) * (1.0 + a2) * (1.0 + a4) * (1.0 + a4 * a4)) + dl[q]
        if s8 < _S8MAX:
            return
    for q in range(m):
        xn[q] = _f_moved(code, yn[q], y[q], fv[q], fp[q], dmax) + dl[q]


# inlined, as are switch_energy and close_presentation: as calls they cost 0.2 us of a 4.6 us 1-row presentation
@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def heat_pass(theta, sizes, w_off, b_off, acts, kappa, k_off, kout, kos, hard, x0, tb, Y, FV, FP, DEL, YN, XN, B,
              hrow, tol, prev, save, res, fused):
    r"""Energy after a parameter move theta -> theta' (``theta`` holds theta') at fixed clamps, neurons
    following to the clamped minimum (separated time scales).

    In residual coordinates the clamped minimum moves with the parameters while the residuals delta (O(r),
    r = kappa_out/kappa_hidden) barely change: one forward pass at theta' with the residuals ``DEL`` of the
    old minimum, x'_l = f(W'_l x'_{l-1} + b'_l) + delta_l, gives F_alpha(theta') up to
    O(kappa |d delta|^2) (second order: the energy is stationary in the neurons). The hidden terms cancel
    in the difference, so the parameter heat released is exactly the drop of the output term,

        Q_theta = kout/2 (|f_L - t|^2 - |f'_L - t|^2)        (mean over the B rows; no weight decay here),

    the heat E(theta) - E(theta') of a discrete parameter move, the noise included. ``hrow`` (B,) holds
    F_alpha(theta) per row (:func:`_energy_rows`). res[0] = F_alpha(theta) and res[1] = F_alpha(theta')
    (means; no weight decay), res[2] = that heat. With ``save`` the state a clamp switch acts on is stored in ``prev`` (per row: x'_1,
    the free output x'_L, f'_L, t, the layer-1 and output energies and F_alpha(theta'); offsets
    :func:`_prev_offsets`). ``YN``, ``XN``: workspaces like Y; f(y') reuses f(y) in FV, f'(y) in FP by a
    Taylor step where that is exact to ``tol``. ``fused``: y' and the hidden x' are already in YN, XN
    (:func:`_grad_update_fwd`).
    """
    L = sizes.shape[0] - 1
    n1, nL = sizes[1], sizes[L]
    o_xL, o_fL, o_t, o_E1, o_EL, o_H = _prev_offsets(sizes, B)
    dmax = 0.2 * (3.0 * tol / 8.0) ** (1.0 / 3.0)
    e0 = 0.0
    e1 = 0.0
    for l in range(1, L + 1):
        n_out, n_in = sizes[l], sizes[l - 1]
        yo = B * k_off[l - 1]
        if not fused:
            if l == 1:
                _affine(theta, w_off[0], b_off[0], n_out, n_in, x0, 0, B, YN, yo)
            else:
                _affine(theta, w_off[l - 1], b_off[l - 1], n_out, n_in, XN, B * k_off[l - 2], B, YN, yo)
        code = acts[l - 1]
        k0 = k_off[l - 1]
        if l < L:
            m = B * n_out
            if not fused:
                _hidden_moved(code, YN[yo:yo + m], Y[yo:yo + m], FV[yo:yo + m], FP[yo:yo + m], DEL[yo:yo + m],
                              XN[yo:yo + m], dmax)
            if save and l == 1:
                kv = kappa[0:n1]
                for r in range(B):
                    dv = DEL[r * n1:(r + 1) * n1]
                    eh = 0.0
                    for i in range(n1):
                        eh += kv[i] * dv[i] * dv[i]
                    prev[o_E1 + r] = 0.5 * eh
                pv = prev[0:B * n1]
                xv = XN[0:B * n1]
                for q in range(B * n1):
                    pv[q] = xv[q]
        else:
            for r in range(B):
                a0 = 0.0
                a1 = 0.0
                for i in range(n_out):
                    q = yo + r * n_out + i
                    f0 = FV[q]
                    f1 = _f_moved(code, YN[q], Y[q], f0, FP[q], dmax)
                    tv = tb[r * nL + i]
                    kk = kout[i]
                    a0 += 0.5 * kk * (f0 - tv) * (f0 - tv)
                    a1 += 0.5 * kk * (f1 - tv) * (f1 - tv)
                    if save:
                        if hard:
                            xl = tv
                        else:
                            kap = kappa[k0 + i]
                            xl = (kap * f1 + kos[i] * tv) / (kap + kos[i])
                        prev[o_xL + r * nL + i] = xl
                        prev[o_fL + r * nL + i] = f1
                        prev[o_t + r * nL + i] = tv
                e0 += a0
                e1 += a1
                if save:
                    prev[o_EL + r] = a1
                    prev[o_H + r] = hrow[r] - a0 + a1
    invB = 1.0 / B
    fm = 0.0
    for r in range(B):
        fm += hrow[r]
    fm *= invB
    res[0] = fm
    res[1] = fm + (e1 - e0) * invB
    res[2] = (e0 - e1) * invB


@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def switch_energy(sizes, kappa, k_off, kos, hard, tb, FV, B, prev):
    """Mean over rows of H(neurons left by the last presentation; new clamps; current theta).

    Only the layer-1 residual (new input, f(y_1) of the new minimum in FV's first block) and the output
    terms (new target) change when the clamps move at fixed neurons and parameters (Sekimoto's work)."""
    L = sizes.shape[0] - 1
    n1, nL = sizes[1], sizes[L]
    o_xL, o_fL, o_t, o_E1, o_EL, o_H = _prev_offsets(sizes, B)
    kL0 = k_off[L - 1]
    tot = 0.0
    P1 = prev[0:B * n1].reshape(B, n1)  # 2-D views: range indices, no per-row views
    F1 = FV[0:B * n1].reshape(B, n1)
    k1 = kappa[0:n1]
    for r in range(B):
        h = prev[o_H + r]
        if L > 1:
            e1 = 0.0
            for i in range(n1):
                d = P1[r, i] - F1[r, i]
                e1 += k1[i] * d * d
            h += 0.5 * e1 - prev[o_E1 + r]
        el = 0.0
        for i in range(nL):
            tv = tb[r * nL + i]
            kap = kappa[kL0 + i]
            f = FV[r * nL + i] if L == 1 else prev[o_fL + r * nL + i]
            if hard:
                d = tv - f
                el += 0.5 * kap * d * d
            else:
                x = prev[o_xL + r * nL + i]
                d = x - f
                e = x - tv
                el += 0.5 * kap * d * d + 0.5 * kos[i] * e * e
        h += el - prev[o_EL + r]
        tot += h
    return tot / B


@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def close_presentation(acc):
    """Fold the presentation's partial sums into the totals (first law: dH = W_sw - Q_x - Q_theta + residual)."""
    dH = acc[A_PHPOST] - acc[A_PH0] + acc[A_PDL]
    rr = dH - (acc[A_PW] - acc[A_PQX] - acc[A_PQTH])
    acc[A_WSW] += acc[A_PW]
    acc[A_QX] += acc[A_PQX]
    acc[A_QTH] += acc[A_PQTH]
    acc[A_QTHI] += acc[A_PQTHI]
    acc[A_DH] += dH
    acc[A_RES] += rr
    acc[A_RESABS] += abs(rr)
    if abs(rr) > acc[A_RESMAX]:
        acc[A_RESMAX] = abs(rr)
    acc[A_HLAST] = acc[A_PHPOST]
    acc[A_HAVE] = 1.0


@njit(cache=True, error_model="numpy", fastmath=_FM)
def energetics_substep(theta, sizes, w_off, b_off, acts, kappa, k_off, kout, kos, hard, x0, tb, Y, FV, FP, DEL, YN,
                       XN, B, hrow, tol, prev, acc, j, n_sub, gsq, gxi, dsq, eta_sub, cnoise, lam, res, fused):
    """Books of substep j (after its parameter move; separated time scales).

    At j = 0 the clamps jump to the new entries at fixed neurons (work W_sw = H(neurons left by the last
    presentation; new clamps) - H at its end) and the neurons drop to the clamped minimum (neuron heat =
    the drop of H). The parameter move releases E(theta) - E(theta') (:func:`heat_pass`, plus the weight
    decay's lam/2 (|theta|^2 - |theta'|^2), ``dsq`` = |theta'|^2 - |theta|^2). The Ito sum is
    eta_sub |g|^2 - cnoise g . xi (``gsq``, ``gxi`` from the update). The first presentation of a run starts
    at its clamped minimum (no switch)."""
    if j == 0:
        hsw = switch_energy(sizes, kappa, k_off, kos, hard, tb, FV, B, prev) if acc[A_HAVE] > 0 else 0.0
    heat_pass(theta, sizes, w_off, b_off, acts, kappa, k_off, kout, kos, hard, x0, tb, Y, FV, FP, DEL, YN, XN, B,
              hrow, tol, prev, j == n_sub - 1, res, fused)
    if j == 0:
        acc[A_PQTH] = 0.0
        acc[A_PQTHI] = 0.0
        acc[A_PDL] = 0.0
        if acc[A_HAVE] > 0:
            acc[A_PW] = hsw - acc[A_HLAST]
            acc[A_PQX] = hsw - res[0]
            acc[A_PH0] = acc[A_HLAST]
        else:
            acc[A_PW] = 0.0
            acc[A_PQX] = 0.0
            acc[A_PH0] = res[0]
    else:
        acc[A_PQX] += acc[A_PHPOST] - res[0]
    acc[A_PQTH] += res[2] - 0.5 * lam * dsq
    acc[A_PQTHI] += eta_sub * gsq - cnoise * gxi
    acc[A_PDL] += 0.5 * lam * dsq
    acc[A_PHPOST] = res[1]
    if j == n_sub - 1:
        close_presentation(acc)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def separated_chunk(theta, sizes, w_off, b_off, acts, kappa, k_off, kout, Xd, Td, idx, p_start, j_start,
                    n_sub, eta, lam, cnoise, rng, nbuf, has_noise, books, acc, gmean, gacc,
                    x0, tb, Y, FP, DEL, XS, SIG, FV, YN, scr, relg, hrow, gbuf, tol, max_sweeps,
                    energetics, kos, hard, DY, prev, eres):
    """Separated time scales: for each presentation p (rows ``idx[p]`` of the data), n_sub substeps of
    [clamped minimum at the current theta -> theta -= eta/n_sub (grad + lam theta) + cnoise[p] * noise].

    ``eta`` = mu tau_inf; ``cnoise[p]`` = sqrt(2 kT_p mu tau_inf / n_sub); with ``has_noise`` each substep
    draws N standard normals into ``nbuf`` from the xoshiro256++ stream ``rng`` (uint64[4], updated;
    analogsim.kernels.rng), so the stream position depends only on the substeps done. With ``energetics``
    each substep is booked by :func:`energetics_substep` (``kos``, ``hard``: the output clamp; ``DY``
    (like Y), ``prev`` (:func:`prev_size`), ``eres`` (5,) float64 workspaces). The books never
    change the dynamics.
    Starts at presentation p_start, substep j_start. Returns (P, 0) when done, else a status (see module).
    """
    P = idx.shape[0]
    B = idx.shape[1]
    eta_sub = eta / n_sub
    fused = energetics and B == 1
    dmax = 0.2 * (3.0 * tol / 8.0) ** (1.0 / 3.0)
    # the books use g . noise only with noise and the change of |theta|^2 only with weight decay: without
    # either the update runs its plain loop (eo stays 0)
    store = energetics and (lam != 0.0 or has_noise)
    eres[3] = 0.0
    eres[4] = 0.0
    for p in range(p_start, P):
        load_rows(Xd, Td, idx, p, B, x0, tb)
        js = j_start if p == p_start else 0
        for j in range(js, n_sub):
            sw, ok = clamped_min(theta, sizes, w_off, b_off, acts, kappa, k_off, kout, x0, tb, B,
                                 Y, FP, DEL, XS, SIG, FV, YN, scr, relg, tol, max_sweeps)
            if not ok:
                return -1 - p, j
            _energy_rows(sizes, kappa, k_off, kout, tb, XS, DEL, B, hrow)
            es = 0.0
            for r in range(B):
                es += hrow[r]
            es /= B
            if has_noise:
                fill_normal(rng, nbuf)
            if fused:
                gsq = _grad_update_fwd(theta, sizes, w_off, b_off, acts, k_off, x0, XS, SIG, eta_sub, lam,
                                       cnoise[p], nbuf, has_noise, gacc, books, eres[3:], Y, FV, FP, DEL, YN, DY,
                                       dmax, B)
                _substep_books(acc, gmean, gacc, eta_sub, gsq, es, sw, j == n_sub - 1, n_sub, books)
            else:
                gsq = apply_substep(theta, sizes, w_off, b_off, k_off, x0, XS, SIG, B, eta_sub, lam, cnoise[p],
                                    nbuf, 0, has_noise, books, acc, gmean, gacc, gbuf, es, sw, j == n_sub - 1,
                                    n_sub, eres[3:], store)
            if not np.isfinite(gsq):
                return -NONFINITE - p, j
            if energetics:
                energetics_substep(theta, sizes, w_off, b_off, acts, kappa, k_off, kout, kos, hard, x0, tb, Y, FV, FP,
                                   DEL, YN, DY, B, hrow, tol, prev, acc, j, n_sub, gsq, eres[3], eres[4], eta_sub,
                                   cnoise[p], lam, eres, fused)
    return P, 0
