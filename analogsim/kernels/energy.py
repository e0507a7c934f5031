r"""Energy and gradient passes of H (Eq. 6) over a chunk of replicas (numba).

Layouts (all C order):

* A chunk of ``Bc`` replicas keeps its state in one 1-D array ``X`` of layer blocks: layer l
  (0..L) occupies ``X[Bc*x_off[l] : Bc*x_off[l+1]]``, a (n_l, Bc) neuron-major block (replicas
  contiguous), so every layer is a C-ordered matrix for BLAS and the hand-written loops run over
  replicas.
* Per-neuron buffers of layers 1..L (gradient ``G``, stress ``S``, noise) use the same scheme with
  ``k_off`` (the offsets of :meth:`Network.kernel_args`).
* ``E`` (L+1, Bc) float64 holds the layer energies kappa_l/2 |delta_l|^2 per replica and, in the
  last row, the soft clamp's spring energy; ``H`` (Bc,) float64 their sum.

The net is passed as a :class:`KNet` named tuple (see :func:`analogsim.inference.simulate` for how it is
built). Activation codes follow :mod:`analogsim.model.activations`. ``tanh``, ``sigmoid`` and the
exponential behind them use branch-free polynomial/rational forms (Cephes) that LLVM vectorises and
that agree with numpy to a few ulp.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from .bits import _bits_f64, _f64_bits, _ux

IDENTITY, RELU, TANH, SIGMOID, SOFTPLUS = 0, 1, 2, 3, 4


KNet = namedtuple("KNet", "theta wt sizes w_off b_off acts kappa k_off x_off blas")
KNet.__doc__ = """Network arrays for the kernels.

theta : (N,) parameters (layout of Network.theta); wt : (N,) same, with each W_l stored transposed
(n_{l-1}, n_l) at w_off[l]; sizes : (L+1,) int64; w_off, b_off : (L,) int64; acts : (L,) int64
activation codes; kappa : (n_1+...+n_L,) stiffness; k_off : (L+1,) offsets into kappa;
x_off : (L+2,) offsets of layers 0..L in a flat state; blas : (L,) int64, 1 = use BLAS GEMM for
this layer's products (large layers), 0 = hand-written loops (small layers).
"""


# ----------------------------------------------------------------------------- elementary functions
_LOG2E = 1.4426950408889634
_C1 = 6.93145751953125e-1
_C2 = 1.42860682030941723212e-6
_MAGIC = 6755399441055744.0
#: fastmath flags of the passes: fused multiply-add only (no reassociation: the exp reduction and the
#: rounding trick depend on the order; no nnan/ninf: the divergence checks need NaN and inf)
_FM = {"contract"}  # 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits


@njit(cache=True, error_model="numpy", inline="always")
def exp_vec(v):
    """exp(v) for v in [-700, 700] (clamped), branch-free (Cephes Pade after Cody-Waite reduction)."""
    v = min(max(v, -700.0), 700.0)
    k = v * _LOG2E + _MAGIC
    n = k - _MAGIC                      # round(v / ln 2) as a float
    r = v - n * _C1 - n * _C2           # |r| <= ln2 / 2
    xx = r * r
    px = r * ((1.26177193074810590878e-4 * xx + 3.02994407707441961300e-2) * xx + 9.99999999999999999910e-1)
    qx = ((3.00198505138664455042e-6 * xx + 2.52448340349684104192e-3) * xx
          + 2.27265548208155028766e-1) * xx + 2.00000000000000000009e0
    e = 1.0 + 2.0 * px / (qx - px)
    scale = _bits_f64((_f64_bits(k) + 1023) << 52)  # 2^n from the integer in k's low bits
    return e * scale


@njit(cache=True, error_model="numpy", inline="always")
def tanh_vec(y):
    """tanh(y), branch-free with one division: Cephes rational form for |y| < 0.625, (e - 1)/(e + 1) with
    e = exp(2|y|) above (no cancellation there since e > 3.4)."""
    a = abs(y)
    z = y * y
    p = ((-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3)
    q = (((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3)
    e = exp_vec(2.0 * min(a, 22.0))
    sm = a < 0.625
    num = y * z * p if sm else e - 1.0
    den = q if sm else e + 1.0
    r = num / den
    if sm:
        return y + r
    return r if y >= 0.0 else -r


@njit(cache=True, error_model="numpy", inline="always")
def sigmoid_vec(y):
    e = exp_vec(-abs(y))
    s = 1.0 / (1.0 + e)
    return s if y >= 0.0 else e * s


@njit(cache=True, error_model="numpy", fastmath=_FM)
def activate(code, Y, FP, n):
    """In place over the first ``n`` entries of the 1-D arrays: Y <- f(Y), FP <- f'(Y) (activation ``code``)."""
    if code == RELU:
        for i in range(n):
            y = Y[i]
            pos = y > 0.0
            Y[i] = y if pos else 0.0
            FP[i] = 1.0 if pos else 0.0
    elif code == TANH:
        for i in range(n):
            t = tanh_vec(np.float64(Y[i]))
            Y[i] = t
            FP[i] = 1.0 - t * t
    elif code == IDENTITY:
        for i in range(n):
            FP[i] = 1.0
    elif code == SIGMOID:
        for i in range(n):
            s = sigmoid_vec(np.float64(Y[i]))
            Y[i] = s
            FP[i] = s * (1.0 - s)
    else:  # SOFTPLUS: log(1 + e^y) = max(y, 0) + log1p(e^-|y|); f' = sigmoid
        for i in range(n):
            y = np.float64(Y[i])
            Y[i] = max(y, 0.0) + math.log1p(exp_vec(-abs(y)))
            FP[i] = sigmoid_vec(y)


# ----------------------------------------------------------------------------- dense products
# States are neuron-major inside a chunk: layer l is a (n_l, Bc) block, so the hand-written loops run
# over replicas (long, unit-stride, vectorised) and BLAS sees plain C-ordered products.
@njit(cache=True, error_model="numpy", inline="always", fastmath=_FM)
def block_product(M, m0, n_rows, n_cols, use_blas, X, xo, Y, yo, Tmp, Bc):
    """Y[yo:] as (n_rows, Bc) <- M[m0:] as a row-major (n_rows, n_cols) matrix @ X[xo:] as (n_cols, Bc);
    flat 1-D arrays, Y written (not added to).

    ``Tmp``: scratch of at least 4 Bc entries, not overlapping X or Y. Hand-written loops index the flat
    buffers directly (no per-row views, whose reference counting would cost more than the arithmetic on
    small layers); four output rows per sweep share the loads of each input row and accumulate in Tmp
    (a separate buffer, so the loop over replicas vectorises without aliasing checks failing).
    """
    if use_blas:
        np.dot(M[m0:m0 + n_rows * n_cols].reshape((n_rows, n_cols)), X[xo:xo + n_cols * Bc].reshape((n_cols, Bc)),
               Y[yo:yo + n_rows * Bc].reshape((n_rows, Bc)))
        return
    i = 0
    while i + 3 < n_rows:
        for q in range(4 * Bc):
            Tmp[q] = 0.0
        ma = m0 + i * n_cols
        for j in range(n_cols):
            w_0 = M[ma + j]
            w_1 = M[ma + n_cols + j]
            w_2 = M[ma + 2 * n_cols + j]
            w_3 = M[ma + 3 * n_cols + j]
            xj = xo + j * Bc
            for r in range(Bc):
                x = X[_ux(xj + r)]
                Tmp[r] += w_0 * x
                Tmp[_ux(Bc + r)] += w_1 * x
                Tmp[_ux(2 * Bc + r)] += w_2 * x
                Tmp[_ux(3 * Bc + r)] += w_3 * x
        ya = yo + i * Bc
        for q in range(4 * Bc):
            Y[_ux(ya + q)] = Tmp[q]
        i += 4
    while i < n_rows:
        ya = yo + i * Bc
        for r in range(Bc):
            Y[_ux(ya + r)] = 0.0
        ma = m0 + i * n_cols
        for j in range(n_cols):
            w = M[ma + j]
            xj = xo + j * Bc
            for r in range(Bc):
                Y[_ux(ya + r)] += w * X[_ux(xj + r)]
        i += 1


@njit(cache=True, error_model="numpy", inline="always", fastmath=_FM)
def layer_forward(net, l, X, xo, Y, yo, Tmp, Bc):
    """Y[yo:] as (n_l, Bc) = W_l @ X[xo:] as (n_{l-1}, Bc) for layer l (1-based; the bias is added by
    :func:`layer_post`)."""
    block_product(net.theta, net.w_off[l - 1], net.sizes[l], net.sizes[l - 1], net.blas[l - 1], X, xo, Y, yo,
                  Tmp, Bc)


@njit(cache=True, error_model="numpy", inline="always", fastmath=_FM)
def layer_backward(net, l, S, so, G, go, Tmp, Bc):
    """G[go:] as (n_{l-1}, Bc) <- W_l^T @ S[so:] as (n_l, Bc): the force of layer l's stress on layer l-1
    (written, not added: :func:`layer_post` adds kappa delta afterwards). The same product as the forward
    one, with the stored transpose ``net.wt`` (contiguous: 4 % faster through BLAS than a transposed view).
    """
    block_product(net.wt, net.w_off[l - 1], net.sizes[l - 1], net.sizes[l], net.blas[l - 1], S, so, G, go,
                  Tmp, Bc)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def param_grad_add(net, X, S, out, Tmp, Bc):
    """out (N,) += sum over the chunk's replicas of dH/dtheta (Eq. 9: dH/dW_l = sigma_l x_{l-1}^T, dH/db_l = sigma_l).

    X: the chunk's state (layer blocks), S: its stresses (per-neuron blocks).
    """
    L = net.sizes.shape[0] - 1
    for l in range(1, L + 1):
        n_in = net.sizes[l - 1]
        n_out = net.sizes[l]
        Xin = X[Bc * net.x_off[l - 1]:Bc * net.x_off[l]].reshape((n_in, Bc))
        Sl = S[Bc * net.k_off[l - 1]:Bc * net.k_off[l]].reshape((n_out, Bc))
        w0 = net.w_off[l - 1]
        b0 = net.b_off[l - 1]
        dW = out[w0:w0 + n_out * n_in].reshape((n_out, n_in))
        if net.blas[l - 1]:
            T = Tmp[:n_out * n_in].reshape((n_out, n_in))
            np.dot(Sl, Xin.T, T)
            for i in range(n_out):
                for j in range(n_in):
                    dW[i, j] += T[i, j]
        else:
            for i in range(n_out):
                si = Sl[i]
                for j in range(n_in):
                    xj = Xin[j]
                    acc = 0.0
                    for r in range(Bc):
                        acc += si[r] * xj[r]
                    dW[i, j] += acc
        for i in range(n_out):
            si = Sl[i]
            acc = 0.0
            for r in range(Bc):
                acc += si[r]
            out[b0 + i] += acc


@njit(cache=True, error_model="numpy", fastmath=_FM)
def layer_post(code, yb, g, s, xl, kap, th, b0, e, n, Bc):
    """One fused pass per layer: y = yb + b; f, f' = act(y); g += kappa (x - f) (= kappa delta; g holds the
    force from the layer above, or zero); s <- -kappa delta f' (= sigma, Eq. 8); e[r] <- sum_i kappa_i
    delta_i^2 / 2. Blocks are (n, Bc); ``yb`` is the product W x_{l-1} (without bias).

    relu and identity run in the net's dtype (the energy is summed in float64); the transcendental
    activations in float64 (their branch-free forms are float64 bit tricks).
    """
    for r in range(Bc):
        e[r] = 0.0
    for i in range(n):
        k = np.float64(kap[i])
        bi = np.float64(th[b0 + i])
        o = i * Bc
        if code == RELU:  # in the net's dtype (float32 nets: 8-wide vectors; float64: the same arithmetic)
            kn = kap[i]
            bn = th[b0 + i]
            zero = kn - kn  # 0 in the net's dtype (kappa is finite)
            for r in range(Bc):
                y = yb[_ux(o + r)] + bn
                pos = y > zero
                d = xl[_ux(o + r)] - (y if pos else zero)
                kd = kn * d
                g[_ux(o + r)] += kd
                s[_ux(o + r)] = -kd if pos else zero
                e[r] += 0.5 * kd * d
        elif code == TANH:
            for r in range(Bc):
                t = tanh_vec(np.float64(yb[_ux(o + r)]) + bi)
                d = np.float64(xl[_ux(o + r)]) - t
                kd = k * d
                g[_ux(o + r)] += kd
                s[_ux(o + r)] = -kd * (1.0 - t * t)
                e[r] += 0.5 * kd * d
        elif code == IDENTITY:
            kn = kap[i]
            bn = th[b0 + i]
            for r in range(Bc):
                d = xl[_ux(o + r)] - (yb[_ux(o + r)] + bn)
                kd = kn * d
                g[_ux(o + r)] += kd
                s[_ux(o + r)] = -kd
                e[r] += 0.5 * kd * d
        elif code == SIGMOID:
            for r in range(Bc):
                sg = sigmoid_vec(np.float64(yb[_ux(o + r)]) + bi)
                d = np.float64(xl[_ux(o + r)]) - sg
                kd = k * d
                g[_ux(o + r)] += kd
                s[_ux(o + r)] = -kd * (sg * (1.0 - sg))
                e[r] += 0.5 * kd * d
        else:  # SOFTPLUS
            for r in range(Bc):
                y = np.float64(yb[_ux(o + r)]) + bi
                f = max(y, 0.0) + math.log1p(exp_vec(-abs(y)))
                d = np.float64(xl[_ux(o + r)]) - f
                kd = k * d
                g[_ux(o + r)] += kd
                s[_ux(o + r)] = -kd * sigmoid_vec(y)
                e[r] += 0.5 * kd * d


# ----------------------------------------------------------------------------- the pass
@njit(cache=True, error_model="numpy", fastmath=_FM)
def grad_pass(net, X, G, S, E, H, FY1, FP1, l1_fixed, target, k_out, Tmp, Bc):
    r"""Energies and dH/dx of the chunk state ``X`` (neuron-major layer blocks, Bc replicas).

    Writes, for layers l = 1..L: ``G`` = dH/dx_l = kappa_l delta_l + W_{l+1}^T sigma_{l+1}
    (plus k_out (x_L - target) on the output for a soft clamp, k_out > 0); ``S`` = sigma_l =
    -kappa_l delta_l f'(y_l) (Eq. 8); ``E[l-1]`` (Bc,) = kappa_l/2 |delta_l|^2; ``E[L]`` = the spring
    energy; ``H`` = the column sums of E. A hard clamp is the caller's business: it keeps the target in
    x_L's block (the gradient of layer L is then computed but not used).

    Order: all forward products W_l x_{l-1} into ``Tmp`` (per-neuron layout, like G); then from the top
    down, the backward product W_{l+1}^T sigma_{l+1} is *written* into G_l and :func:`layer_post` adds
    kappa_l delta_l to it while computing sigma_l, so no pass over G only adds.

    ``l1_fixed``: layer 1's f(y_1) and f'(y_1) are taken from ``FY1``/``FP1`` (n_1, Bc) (fixed input),
    saving its product; otherwise they are computed from the input block of X.
    ``Tmp``: scratch of at least Bc * (n_1 + ... + n_L) and 4 Bc entries (dtype of X). ``E`` is (L+1, Bc).
    """
    L = net.sizes.shape[0] - 1
    # the blocked small products accumulate here: a fresh allocation, which LLVM knows aliases nothing, so
    # their loops over replicas vectorise without run-time overlap checks
    acc = np.empty(4 * Bc, dtype=Tmp.dtype)
    for l in range(1 if not l1_fixed else 2, L + 1):
        layer_forward(net, l, X, Bc * net.x_off[l - 1], Tmp, Bc * net.k_off[l - 1], acc, Bc)
    grad_back(net, X, G, S, E, H, FY1, FP1, l1_fixed, target, k_out, Tmp, Bc)


# inlined at numba's IR level: as a separate function called from grad_pass every step it cost ~3 % of a
# small net's Langevin step (measured against the undivided grad_pass of 0.1, benchmarks/ab_dense.py)
@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def grad_back(net, X, G, S, E, H, FY1, FP1, l1_fixed, target, k_out, Tmp, Bc):
    """The second half of :func:`grad_pass`: ``Tmp`` already holds the forward products W_l x_{l-1} (layers
    2..L, and 1 unless ``l1_fixed``); walks down writing G, S, E and H."""
    L = net.sizes.shape[0] - 1
    acc = np.empty(4 * Bc, dtype=Tmp.dtype)
    # output layer: G_L starts at the soft clamp's spring force (or zero)
    n = net.sizes[L]
    xL = X[Bc * net.x_off[L]:Bc * net.x_off[L + 1]]
    gL = G[Bc * net.k_off[L - 1]:Bc * net.k_off[L]]
    eL = E[L]
    for r in range(Bc):
        eL[r] = 0.0
    if k_out > 0.0:
        for i in range(n):
            for r in range(Bc):
                q = _ux(i * Bc + r)
                d = np.float64(xL[q]) - np.float64(target[q])
                gL[q] = k_out * d
                eL[r] += 0.5 * k_out * d * d
    else:
        for q in range(n * Bc):
            gL[q] = 0.0
    for l in range(L, 0, -1):
        if l < L:
            layer_backward(net, l + 1, S, Bc * net.k_off[l], G, Bc * net.k_off[l - 1], acc, Bc)
        n = net.sizes[l]
        xl = X[Bc * net.x_off[l]:Bc * net.x_off[l + 1]]
        g = G[Bc * net.k_off[l - 1]:Bc * net.k_off[l]]
        s = S[Bc * net.k_off[l - 1]:Bc * net.k_off[l]]
        kap = net.kappa[net.k_off[l - 1]:net.k_off[l]]
        e = E[l - 1]
        if l == 1 and l1_fixed:  # f(y_1), f'(y_1) cached (fixed input)
            for r in range(Bc):
                e[r] = 0.0
            for i in range(n):
                k = kap[i]  # the net's dtype
                o = i * Bc
                for r in range(Bc):
                    d = xl[_ux(o + r)] - FY1[_ux(o + r)]
                    kd = k * d
                    g[_ux(o + r)] += kd
                    s[_ux(o + r)] = -kd * FP1[_ux(o + r)]
                    e[r] += 0.5 * kd * d
        else:
            yb = Tmp[Bc * net.k_off[l - 1]:Bc * net.k_off[l]]
            layer_post(net.acts[l - 1], yb, g, s, xl, kap, net.theta, net.b_off[l - 1], e, n, Bc)
    for r in range(Bc):
        H[r] = 0.0
    for l in range(L + 1):
        el = E[l]
        for r in range(Bc):
            H[r] += el[r]


@njit(cache=True, error_model="numpy", fastmath=False)
def layer1_cache(net, X, FY1, FP1, Tmp, Bc):
    """f(y_1) and f'(y_1) of the chunk's (fixed) input block, for :func:`grad_pass` with l1_fixed."""
    n = net.sizes[1]
    acc = np.empty(max(4 * Bc, Tmp.shape[0]), dtype=Tmp.dtype)
    layer_forward(net, 1, X, 0, FY1, 0, acc, Bc)
    b0 = net.b_off[0]
    for i in range(n):
        bi = net.theta[b0 + i]
        for r in range(Bc):
            FY1[_ux(i * Bc + r)] += bi
    activate(net.acts[0], FY1, FP1, Bc * n)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def equilibrium_build(net, X, FY1, l1_fixed, Tmp, Bc):
    """Exact equilibrium sample in place (with the input clamped the residuals are independent Gaussians, so
    forward propagation of drawn residuals is exact): X's blocks of layers 1..L hold delta_l on entry and
    x_l = f(W_l x_{l-1} + b_l) + delta_l on exit, layer after layer. The products W_l x_{l-1} are left in ``Tmp``
    exactly as :func:`grad_pass` computes them, so :func:`grad_back` completes the sample's gradient (one forward
    pass for the draw and the gradient together). ``l1_fixed``: f(y_1) is taken from ``FY1``. f is computed as
    :func:`layer_post` computes it, so the residual the gradient sees is x_l - f(y_l).
    """
    L = net.sizes.shape[0] - 1
    acc = np.empty(4 * Bc, dtype=Tmp.dtype)
    for l in range(1, L + 1):
        n = net.sizes[l]
        xl = X[Bc * net.x_off[l]:Bc * net.x_off[l + 1]]
        if l == 1 and l1_fixed:
            for q in range(n * Bc):
                xl[q] = FY1[q] + xl[q]
            continue
        layer_forward(net, l, X, Bc * net.x_off[l - 1], Tmp, Bc * net.k_off[l - 1], acc, Bc)
        yb = Tmp[Bc * net.k_off[l - 1]:Bc * net.k_off[l]]
        code = net.acts[l - 1]
        b0 = net.b_off[l - 1]
        for i in range(n):
            o = i * Bc
            bn = net.theta[b0 + i]
            bi = np.float64(bn)
            if code == RELU:
                zero = bn - bn
                for r in range(Bc):
                    y = yb[_ux(o + r)] + bn
                    xl[_ux(o + r)] = (y if y > zero else zero) + xl[_ux(o + r)]
            elif code == TANH:
                for r in range(Bc):
                    xl[_ux(o + r)] = tanh_vec(np.float64(yb[_ux(o + r)]) + bi) + xl[_ux(o + r)]
            elif code == IDENTITY:
                for r in range(Bc):
                    xl[_ux(o + r)] = (yb[_ux(o + r)] + bn) + xl[_ux(o + r)]
            elif code == SIGMOID:
                for r in range(Bc):
                    xl[_ux(o + r)] = sigmoid_vec(np.float64(yb[_ux(o + r)]) + bi) + xl[_ux(o + r)]
            else:  # SOFTPLUS
                for r in range(Bc):
                    y = np.float64(yb[_ux(o + r)]) + bi
                    xl[_ux(o + r)] = (max(y, 0.0) + math.log1p(exp_vec(-abs(y)))) + xl[_ux(o + r)]
