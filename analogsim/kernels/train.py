"""numba kernels of physical training (Tkachenko Eq. 8-12): the shared pieces; plain functions over arrays.

This module holds the activations, the affine/back products, the clamped-minimum fixed point
(:func:`clamped_min`), the energies at the minimum and the full-batch objective. The training steps live in
:mod:`analogsim.kernels.train_step` (separated time scales, with the energy books of each substep) and
:mod:`analogsim.kernels.train_joint` (joint neuron + parameter Langevin dynamics, clamp ramps).

Conventions (see :mod:`analogsim.model.network` for the flat layouts):

* ``theta`` (N,), ``sizes`` (L+1,), ``w_off``/``b_off`` (L,), ``acts`` (L,), ``kappa`` (n_1+...+n_L,),
  ``k_off`` (L+1,) offsets of layer l = 1..L in ``kappa``; ``kout`` (n_L,) the *effective* output
  stiffness: kappa_L for a hard clamp, kappa_L kappa_out / (kappa_L + kappa_out) for a soft clamp
  (eliminating the free output neuron of a soft clamp exactly gives a hard clamp with this stiffness).
* Workspaces for a batch of B rows are flat 1-D float arrays in *layer-major* order: layer l occupies
  ``ws[B*k_off[l-1] : B*k_off[l]]`` viewed as (B, n_l), so every layer block is C-contiguous.
* Books (float64 ``acc``, indices ``A_*`` below): [n_presentations, W (Eq. 15 prediction), sum|g|^2, M2
  (Welford, summed over parameters), n_substeps, sum of F_alpha, max sweeps, sum of sweeps], then the
  measured energetics (Sekimoto): switching work, neuron heat, parameter heat (Stratonovich and Ito),
  the energy change, the first-law residual (signed, absolute, largest), the neuron heat of the switch
  phase, and the state carried from one presentation to the next (energy at its end, whether there is
  one, partial sums of the presentation in progress). ``gmean`` (N,) is the running mean of the
  presentation gradient (Welford); ``gacc`` (N,) accumulates substep gradients within a presentation.

Status codes returned by the chunk kernels: ``>= 0`` all presentations done; ``-1 - p`` the clamped
minimum of presentation p (relative to the chunk) did not converge (the caller finishes that substep
with the Newton reference and resumes); ``-(1 << 40) - p`` a non-finite gradient at presentation p.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .energy import activate

IDENTITY, RELU, TANH, SIGMOID, SOFTPLUS = 0, 1, 2, 3, 4
NONFINITE = 1 << 40
_GEMV_MIN = 8192  # layers with at least this many weights use BLAS gemv for a single row
# no nnan/ninf: finiteness checks must survive. No nsz: with it the code a process runs right after compiling
# these kernels and the code it writes to numba's cache differ in the last bit of f64 minibatch training (a
# fresh process and every later one gave different parameters); without it both are the same
# (tests/test_kernel_cache.py), at the same speed
_FM = {"reassoc", "contract", "arcp"}

# indices into the books accumulator
A_N, A_W, A_GSQ, A_M2, A_NSUB, A_F, A_MAXSW, A_SUMSW = 0, 1, 2, 3, 4, 5, 6, 7
# measured energetics (totals over presentations)
A_WSW, A_QX, A_QTH, A_QTHI, A_DH, A_RES, A_RESABS, A_RESMAX, A_QXSW = 8, 9, 10, 11, 12, 13, 14, 15, 16
# carried state: H at the end of the last presentation, 1 if there is one
A_HLAST, A_HAVE = 17, 18
# partial sums of the presentation in progress (substeps; reset at its start)
A_PW, A_PQX, A_PQTH, A_PQTHI, A_PH0, A_PHPOST, A_PDL = 19, 20, 21, 22, 23, 24, 25
N_ACC = 26


# Cephes tanh for |x| < 0.625: x + x z P(z)/Q(z), z = x^2 (relative error ~2 ulp in double precision)
_TP0, _TP1, _TP2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
_TQ0, _TQ1, _TQ2 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3


@njit(cache=True, error_model="numpy", inline="always")
def _tanh(x):
    """tanh within ~2 ulp of libm's (max relative error 4e-16 measured), about twice as fast: a rational
    approximation below |x| = 0.625 and 1 - 2/(exp(2|x|) + 1) above it (no cancellation there)."""
    a = abs(x)
    if a >= 0.625:
        t = 1.0 if a > 22.0 else 1.0 - 2.0 / (np.exp(2.0 * a) + 1.0)
        return t if x >= 0 else -t
    z = x * x
    return x + x * z * ((_TP0 * z + _TP1) * z + _TP2) / (((z + _TQ0) * z + _TQ1) * z + _TQ2)


@njit(cache=True, error_model="numpy", inline="always")
def _act(code, y):
    """f(y) and f'(y) for one pre-activation (codes as in analogsim.model.activations)."""
    if code == TANH:
        t = _tanh(y)
        return t, 1.0 - t * t
    if code == IDENTITY:
        return y, 1.0
    if code == RELU:
        if y > 0:
            return y, 1.0
        return 0.0 * y, 0.0
    if code == SIGMOID:
        if y >= 0:
            s = 1.0 / (1.0 + np.exp(-y))
        else:
            e = np.exp(y)
            s = e / (1.0 + e)
        return s, s * (1.0 - s)
    # softplus: log(1 + e^y), f' = sigmoid(y)
    if y >= 0:
        s = 1.0 / (1.0 + np.exp(-y))
        return y + np.log1p(np.exp(-y)), s
    e = np.exp(y)
    return np.log1p(e), e / (1.0 + e)


@njit(cache=True, error_model="numpy", fastmath=False)
def _gemv(A, x, out):
    np.dot(A, x, out)


@njit(cache=True, error_model="numpy", fastmath=False)
def _vgemm(x, A, out):
    np.dot(x, A, out)


@njit(cache=True, error_model="numpy", fastmath=False)
def _gemm_nt(X, W, out):
    np.dot(X, W.T, out)


@njit(cache=True, error_model="numpy", fastmath=False)
def _gemm_nn(S, W, out):
    np.dot(S, W, out)


@njit(cache=True, error_model="numpy", fastmath=False)
def _gemm_tn(S, X, out):
    np.dot(S.T, X, out)


@njit(cache=True, error_model="numpy", inline="always", fastmath=_FM)
def _layer_input(l, x0, XS, k_off, B):
    """The rows feeding layer l and their offset: ``x0`` at 0 for l = 1, else ``XS`` at B * k_off[l - 2]."""
    if l == 1:
        return x0, 0
    return XS, B * k_off[l - 2]


@njit(cache=True, error_model="numpy", inline="always", fastmath=_FM)
def _affine(theta, w0, b0, n_out, n_in, xin, xo, B, out, oo):
    """out[oo + r*n_out + i] = sum_j W[i, j] xin[xo + r*n_in + j] + b[i] for r < B (W, b flat in theta)."""
    if B == 1 and n_in * n_out >= _GEMV_MIN:
        _gemv(theta[w0:w0 + n_out * n_in].reshape(n_out, n_in), xin[xo:xo + n_in], out[oo:oo + n_out])
        for i in range(n_out):
            out[oo + i] += theta[b0 + i]
        return
    if B >= 4 and n_in * n_out >= 256:
        X = xin[xo:xo + B * n_in].reshape(B, n_in)
        W = theta[w0:w0 + n_out * n_in].reshape(n_out, n_in)
        O = out[oo:oo + B * n_out].reshape(B, n_out)
        _gemm_nt(X, W, O)
        for r in range(B):
            for i in range(n_out):
                out[oo + r * n_out + i] += theta[b0 + i]
        return
    if B >= 4:
        # small layers of a batch: one 2-D view per operand (a view per row and neuron costs more than the
        # products of a short row: 30 % of the [4,16,16,1] forward pass)
        W = theta[w0:w0 + n_out * n_in].reshape(n_out, n_in)
        bv = theta[b0:b0 + n_out]
        X = xin[xo:xo + B * n_in].reshape(B, n_in)
        O = out[oo:oo + B * n_out].reshape(B, n_out)
        for r in range(B):
            for i in range(n_out):
                s = bv[i]
                for j in range(n_in):
                    s += W[i, j] * X[r, j]
                O[r, i] = s
        return
    for r in range(B):
        xv = xin[xo + r * n_in:xo + (r + 1) * n_in]
        ov = out[oo + r * n_out:oo + (r + 1) * n_out]
        for i in range(n_out):
            wr = theta[w0 + i * n_in:w0 + (i + 1) * n_in]  # views indexed by range variables: no
            s = theta[b0 + i]                              # negative-index checks, so LLVM vectorises
            for j in range(n_in):
                s += wr[j] * xv[j]
            ov[i] = s


@njit(cache=True, error_model="numpy", inline="always", fastmath=_FM)
def _backmul(theta, w0, n_out, n_in, sig, so, B, out, uo):
    """out[uo + r*n_in + j] = sum_i sig[so + r*n_out + i] W[i, j] (u = W^T sigma per row)."""
    if B == 1 and n_in * n_out >= _GEMV_MIN:
        _vgemm(sig[so:so + n_out], theta[w0:w0 + n_out * n_in].reshape(n_out, n_in), out[uo:uo + n_in])
        return
    if B >= 4 and n_in * n_out >= 256:
        S = sig[so:so + B * n_out].reshape(B, n_out)
        W = theta[w0:w0 + n_out * n_in].reshape(n_out, n_in)
        O = out[uo:uo + B * n_in].reshape(B, n_in)
        _gemm_nn(S, W, O)
        return
    for r in range(B):
        ov = out[uo + r * n_in:uo + (r + 1) * n_in]
        sv = sig[so + r * n_out:so + (r + 1) * n_out]
        for j in range(n_in):
            ov[j] = 0.0
        for i in range(n_out):
            s = sv[i]
            if s != 0.0:
                wr = theta[w0 + i * n_in:w0 + (i + 1) * n_in]
                for j in range(n_in):
                    ov[j] += s * wr[j]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _act_block(code, yv, fv, pv):
    """fv = f(yv), pv = f'(yv) over a block by the Langevin kernels' activation pass
    (:func:`analogsim.kernels.energy.activate`: tanh and sigmoid branch-free and vectorised, 1.5 ns per element
    against 8 ns for :func:`_act`'s libm exponential, within 4e-16 of it). A function of its own with that
    module's flags (contract only): the exponential's rounding trick must not be reassociated."""
    m = yv.shape[0]
    for q in range(m):
        fv[q] = yv[q]
    activate(code, fv, pv, m)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _moved_block(code, nv, yv, fv, pv, dmax):
    """The later sweeps' update of f and f' for a block whose pre-activations moved from yv to nv: when every
    |nv - yv| <= d_max (checked first, one vectorised pass) the second-order Taylor step of
    :func:`clamped_min` for all of them in one branch-free pass, yv <- nv, and True; else False with
    nothing written (the caller goes element by element)."""
    m = yv.shape[0]
    if code != TANH and code != SIGMOID:
        return False
    nbig = 0
    for q in range(m):  # a count, not a max: an integer sum vectorises, a max of floats does not here
        if not abs(nv[q] - yv[q]) <= dmax:  # also a move that is not finite
            nbig += 1
    if nbig > 0:
        return False
    if code == TANH:
        for q in range(m):
            y = nv[q]
            d = y - yv[q]
            yv[q] = y
            f0 = fv[q]
            f = f0 + pv[q] * d * (1.0 - f0 * d)
            fv[q] = f
            pv[q] = 1.0 - f * f
    else:
        for q in range(m):
            y = nv[q]
            d = y - yv[q]
            yv[q] = y
            f0 = fv[q]
            f = f0 + pv[q] * d * (1.0 + 0.5 * (1.0 - 2.0 * f0) * d)
            fv[q] = f
            pv[q] = f * (1.0 - f)
    return True


@njit(cache=True, error_model="numpy", fastmath=_FM)
def clamped_min(theta, sizes, w_off, b_off, acts, kappa, k_off, kout, x0, t, B,
                Y, FP, DEL, XS, SIG, FV, YN, scr, relg, tol, max_sweeps):
    """Minimise H over the hidden neurons of a batch of B rows, input x0 and output clamped to t.

    Flat layouts: x0 (B*n_0,) and t (B*n_L,) row-major; the workspaces Y, FP, DEL, XS, SIG are
    layer-major: layer l (1-based), row r, neuron i at B*k_off[l-1] + r*n_l + i.

    Fixed-point iteration in residual coordinates: forward pass with the current hidden residuals
    delta (x_l = f(y_l) + delta_l), output stress sigma_L = kout (f(y_L) - t) f'(y_L), backward
    recursion u_l = W_{l+1}^T sigma_{l+1}, new delta_l = -u_l / kappa_l and sigma_l = f'(y_l) u_l
    (Eq. 10). At a state with residuals delta the hidden gradient is dH/dx_l = kappa_l (delta_l - delta_l^new),
    so its relative norm (scaled by |kappa delta| + |u|, per row) is known after each sweep. Each sweep
    costs one forward and one backward pass; the error contracts by ~C r per sweep (r = kout/kappa).

    A row counts as converged when its relative gradient is <= tol * max(1, A/E), where
    A/E = sum |kout f'| (|f| + |t|) / sum |kout f'| |f - t| is the rounding floor set by the output error
    f - t (a well-fitted entry cannot be resolved beyond it), or, from the second sweep on, when the state the
    sweep evaluated is at the minimum to solver precision: the sweep moved the residuals by |d delta| and
    the contraction is c ~ 2 x (relative gradient), so that state is within |d delta| / (1 - c) of the
    minimum (accepted below tol |x|) and its stress within ~c^2 (accepted below tol sqrt(n_max) times the
    floor, the rounding of the product that forms it). At small r this accepts the second sweep (the
    relative gradient left is O(r)) where the gradient test needs a third. When the iteration stops contracting it is
    accepted if every row is within 16x of that floor, else it gives up (the caller uses Newton). From the second sweep on, a tanh or sigmoid whose pre-activation moved by |d| <= d_max
    is updated by its second-order Taylor step from the previous value (error <= max|f3| d^3/6 with f3
    the third derivative, kept below tol by d_max = 0.2 (3 tol/8)^(1/3)); f' is then recomputed from the
    new value exactly. FV (f values) and YN (new pre-activations) are workspaces like Y.
    On return XS holds x_1..x_{L-1} and, in the output block, f(y_L); SIG the stresses (Eq. 10
    recursion); DEL the last hidden residuals; relg (B,) the relative gradients; scr (>= 4B) is scratch
    (on return scr[2B + r] = 1 where row r passed the test).
    Returns (sweeps, converged).
    """
    L = sizes.shape[0] - 1
    nL = sizes[L]
    nh = B * k_off[L - 1]
    for k in range(nh):
        DEL[k] = 0.0
    sweeps = 0
    converged = False
    prev = 1e300
    dmax = 0.2 * (3.0 * tol / 8.0) ** (1.0 / 3.0)
    nmax = 1
    for l in range(1, L + 1):
        nmax = max(nmax, sizes[l])
    rn = np.sqrt(float(nmax))
    while sweeps < max_sweeps:
        sweeps += 1
        for l in range(1, L + 1):
            n_out, n_in = sizes[l], sizes[l - 1]
            yo = B * k_off[l - 1]
            m = B * n_out
            tgt = Y if sweeps == 1 else YN
            xin, xo = _layer_input(l, x0, XS, k_off, B)
            _affine(theta, w_off[l - 1], b_off[l - 1], n_out, n_in, xin, xo, B, tgt, yo)
            code = acts[l - 1]
            yv = Y[yo:yo + m]
            nv = YN[yo:yo + m]
            fv = FV[yo:yo + m]
            pv = FP[yo:yo + m]
            if code == IDENTITY:  # the usual output layer: no call (one costs more than a short block's work)
                for q in range(m):
                    y = yv[q] if sweeps == 1 else nv[q]
                    yv[q] = y
                    fv[q] = y
                    pv[q] = 1.0
            elif sweeps == 1:
                _act_block(code, yv, fv, pv)
            elif not _moved_block(code, nv, yv, fv, pv, dmax):
                # some pre-activation moved by more than d_max (or another activation): element by element
                for q in range(m):
                    y = nv[q]
                    d = y - yv[q]
                    yv[q] = y
                    if (code == TANH or code == SIGMOID) and abs(d) <= dmax:
                        f0 = fv[q]
                        fp0 = pv[q]
                        if code == TANH:
                            f = f0 + fp0 * d * (1.0 - f0 * d)
                            fv[q] = f
                            pv[q] = 1.0 - f * f
                        else:
                            f = f0 + fp0 * d * (1.0 + 0.5 * (1.0 - 2.0 * f0) * d)
                            fv[q] = f
                            pv[q] = f * (1.0 - f)
                        continue
                    f, fp = _act(code, y)
                    fv[q] = f
                    pv[q] = fp
            xv = XS[yo:yo + m]
            if l < L:
                dv = DEL[yo:yo + m]
                for q in range(m):
                    xv[q] = fv[q] + dv[q]
            else:
                for r in range(B):
                    se = 0.0
                    sa = 0.0
                    for i in range(n_out):
                        q = r * n_out + i
                        f = fv[q]
                        fp = pv[q]
                        tv = t[r * nL + i]
                        e = f - tv
                        xv[q] = f
                        SIG[yo + q] = kout[i] * e * fp
                        w = abs(kout[i] * fp)
                        se += w * abs(e)
                        sa += w * (abs(f) + abs(tv))
                    scr[B + r] = sa / se if se > 0 else 1e300
        if L == 1:
            for r in range(B):
                relg[r] = 0.0
            converged = True
            break
        for r in range(B):
            relg[r] = 0.0
            scr[r] = 0.0
            scr[2 * B + r] = 0.0
            scr[3 * B + r] = 0.0
        for l in range(L - 1, 0, -1):
            n_out, n_in = sizes[l + 1], sizes[l]
            uo = B * k_off[l - 1]
            _backmul(theta, w_off[l], n_out, n_in, SIG, B * k_off[l], B, SIG, uo)
            kv = kappa[k_off[l - 1]:k_off[l]]
            for r in range(B):
                num = 0.0
                den = 0.0
                stp = 0.0
                xx = 0.0
                a0 = uo + r * n_in
                sv = SIG[a0:a0 + n_in]
                dv = DEL[a0:a0 + n_in]
                fv = FP[a0:a0 + n_in]
                xv = XS[a0:a0 + n_in]
                for i in range(n_in):
                    kap = kv[i]
                    u = sv[i]
                    d = dv[i]
                    g = kap * d + u
                    a = abs(kap * d) + abs(u)
                    num += g * g
                    den += a * a
                    dn = -u / kap
                    stp += (d - dn) * (d - dn)
                    xx += xv[i] * xv[i]
                    dv[i] = dn
                    sv[i] = fv[i] * u
                relg[r] += num
                scr[r] += den
                scr[2 * B + r] += stp
                scr[3 * B + r] += xx
        done = True
        near = True
        worst = 0.0
        for r in range(B):
            den = scr[r]
            v = np.sqrt(relg[r] / den) if den > 0 else 0.0
            relg[r] = v
            lim = tol * max(1.0, scr[B + r])
            # state-error test (sweeps >= 2): the sweep moved the residuals by |d delta| = scr[2B + r]; with the
            # contraction c ~ 2v the state it evaluated is off the minimum by |d delta| / (1 - c), and the stress
            # (u = W^T sigma) by c |d delta| / (1 - c) relative to |delta| ~ c^2 / (1 - c). Accept when the state
            # is within tol of |x| and the stress within lim sqrt(n) (the rounding of the n-term product that
            # forms it): the gradient is then exact to solver precision (at small r: 2 sweeps, not 3).
            c = 2.0 * v
            acc_r = v <= lim or (sweeps > 1 and c <= 0.5 and c * c <= lim * rn * (1.0 - c)
                                 and np.sqrt(scr[2 * B + r]) <= tol * (1.0 - c) * np.sqrt(scr[3 * B + r]))
            scr[2 * B + r] = 1.0 if acc_r else 0.0
            if not acc_r:
                done = False
            if v > 16.0 * lim:
                near = False
            if v > worst:
                worst = v
        if sweeps > 1 and done:
            converged = True
            break
        if sweeps >= 4 and worst > 0.9 * prev:
            # not contracting any more: at the rounding floor (within 16x of the estimate) that is the
            # minimum; otherwise the caller falls back to Newton
            converged = near
            break
        prev = worst
    return sweeps, converged


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _energy_rows(sizes, kappa, k_off, kout, t, XS, DEL, B, out):
    """H at the clamped minimum per row: hidden springs + the effective output spring kout/2 |f - t|^2."""
    L = sizes.shape[0] - 1
    nL = sizes[L]
    for r in range(B):
        out[r] = 0.0
    for l in range(1, L):
        n = sizes[l]
        o = B * k_off[l - 1]
        k0 = k_off[l - 1]
        for r in range(B):
            s = 0.0
            for i in range(n):
                d = DEL[o + r * n + i]
                s += 0.5 * kappa[k0 + i] * d * d
            out[r] += s
    o = B * k_off[L - 1]
    for r in range(B):
        s = 0.0
        for i in range(nL):
            e = XS[o + r * nL + i] - t[r * nL + i]
            s += 0.5 * kout[i] * e * e
        out[r] += s


@njit(cache=True, error_model="numpy", fastmath=_FM)
def batch_objective(theta, sizes, w_off, b_off, acts, kappa, k_off, kout, Xd, Td, block, want_grad,
                    x0, tb, Y, FP, DEL, XS, SIG, FV, YN, scr, relg, hrow, tol, max_sweeps, energy, grad, gsq,
                    conv):
    """Clamped-minimum energy F_alpha of every entry (``energy`` (D,)), the *sum* of dF_alpha/dtheta
    (``grad`` (N,), if want_grad), |dF_alpha/dtheta|^2 per entry (``gsq`` (D,), if want_grad) and
    per-entry convergence flags (``conv``), in blocks of ``block`` rows. Entries that did not converge
    get conv = 0 and are left out of ``grad`` (the caller redoes them)."""
    D = Xd.shape[0]
    n0 = sizes[0]
    L = sizes.shape[0] - 1
    nL = sizes[L]
    if want_grad:
        for k in range(grad.shape[0]):
            grad[k] = 0.0
    start = 0
    while start < D:
        B = min(block, D - start)
        for r in range(B):
            for j in range(n0):
                x0[r * n0 + j] = Xd[start + r, j]
            for j in range(nL):
                tb[r * nL + j] = Td[start + r, j]
        sw, ok = clamped_min(theta, sizes, w_off, b_off, acts, kappa, k_off, kout, x0, tb, B,
                             Y, FP, DEL, XS, SIG, FV, YN, scr, relg, tol, max_sweeps)
        _energy_rows(sizes, kappa, k_off, kout, tb, XS, DEL, B, hrow)
        for r in range(B):
            energy[start + r] = hrow[r]
            conv[start + r] = 1 if (ok or relg[r] <= tol * max(1.0, scr[B + r]) or scr[2 * B + r] > 0) else 0
        if want_grad:
            for r in range(B):
                gsq[start + r] = 0.0
            for l in range(1, L + 1):
                n_out, n_in = sizes[l], sizes[l - 1]
                w0 = w_off[l - 1]
                b0 = b_off[l - 1]
                so = B * k_off[l - 1]
                xin, xo = _layer_input(l, x0, XS, k_off, B)
                for r in range(B):
                    if conv[start + r] == 0:
                        continue
                    xx = 1.0
                    for j in range(n_in):
                        xx += xin[xo + r * n_in + j] ** 2
                    ss = 0.0
                    for i in range(n_out):
                        s = SIG[so + r * n_out + i]
                        ss += s * s
                        base = w0 + i * n_in
                        for j in range(n_in):
                            grad[base + j] += s * xin[xo + r * n_in + j]
                        grad[b0 + i] += s
                    gsq[start + r] += ss * xx
        start += B
