"""numba kernels of graph networks: the row gather (im2col) and scatter-add (col2im) of a convolution.

Column layout: a layer's state for a batch of B samples is an array (n, B), one row per neuron (the layer
flattened in C order), so that a convolution's gathered columns (G * C_in/G * K * P, B) are the matrix
(G, C_in/G * K, P * B) of one BLAS product per group, and the product's result (C_out * P, B) is the target
layer's state in the same layout. ``idx`` holds, per gathered row, the source neuron or ``n`` (the source's
size) where the kernel reads the zero padding.

No validation here: :meth:`analogsim.model.graph.operators.Conv.forward_cols` and its adjoint check nothing either;
the graph network validated the operator's shapes when it was built.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, fastmath=False)
def gather_rows(x, idx, out):
    """out[i] = x[idx[i]] (a zero row where idx[i] >= x.shape[0]); x (n, B), idx (M,), out (M, B).

    Examples
    --------
    >>> import numpy as np
    >>> out = np.empty((3, 2)); gather_rows(np.arange(4.0).reshape(2, 2), np.array([1, 2, 0]), out)
    >>> out.tolist()
    [[2.0, 3.0], [0.0, 0.0], [0.0, 1.0]]
    """
    n = x.shape[0]
    B = x.shape[1]
    for i in range(idx.shape[0]):
        r = idx[i]
        if r < n:
            for b in range(B):
                out[i, b] = x[r, b]
        else:
            for b in range(B):
                out[i, b] = 0.0


@njit(cache=True, fastmath=False)
def scatter_add_rows(vals, idx, out):
    """out[idx[i]] += vals[i] for every i with idx[i] < out.shape[0] (in order of i); vals (M, B), out (n, B).

    Examples
    --------
    >>> import numpy as np
    >>> out = np.zeros((2, 1)); scatter_add_rows(np.array([[1.0], [2.0], [4.0]]), np.array([1, 2, 1]), out)
    >>> out.ravel().tolist()
    [0.0, 5.0]
    """
    n = out.shape[0]
    B = out.shape[1]
    for i in range(idx.shape[0]):
        r = idx[i]
        if r < n:
            for b in range(B):
                out[r, b] += vals[i, b]


@njit(cache=True, fastmath=False)
def residual_update(acc, kap, fp, delta, sig, with_sig, step):
    """One Gauss-Seidel residual update of a hidden layer (column layout), in place, in one pass.

    delta_new = -acc / kappa (acc = sum_l A_{l,m}^T sigma_l); step[b] = max(step[b], |kappa (delta_new -
    delta_old)|_b); delta <- delta_new; with ``with_sig`` also sigma = -kappa delta_new f'(y). acc, fp, delta,
    sig (n, B); kap (n,); step (B,).

    Examples
    --------
    >>> import numpy as np
    >>> d = np.zeros((2, 1)); s = np.zeros((2, 1)); st = np.zeros(1)
    >>> residual_update(np.array([[2.0], [0.0]]), np.array([2.0, 1.0]), np.ones((2, 1)), d, s, True, st)
    >>> d.ravel().tolist(), s.ravel().tolist(), st.tolist()
    ([-1.0, -0.0], [2.0, 0.0], [2.0])
    """
    n = acc.shape[0]
    B = acc.shape[1]
    tmp = np.zeros(B)
    for i in range(n):
        k = kap[i]
        for b in range(B):
            v = -acc[i, b] / k
            e = k * (v - delta[i, b])
            tmp[b] += e * e
            delta[i, b] = v
        if with_sig:
            for b in range(B):
                sig[i, b] = -k * delta[i, b] * fp[i, b]
    for b in range(B):
        r = np.sqrt(tmp[b])
        if r > step[b]:
            step[b] = r


@njit(cache=True, fastmath=False)
def energy_terms(x, f, fp, kap, kd, sig, H, with_sig):
    """A layer's share of H and its stress (column layout), in one pass.

    kd = kappa (x - f); H[b] += sum_i kd (x - f) / 2; with ``with_sig`` sigma = -kd f'. x, f, fp, kd, sig (n, B);
    kap (n,); H (B,).

    Examples
    --------
    >>> import numpy as np
    >>> kd = np.empty((1, 2)); s = np.empty((1, 2)); H = np.zeros(2)
    >>> energy_terms(np.array([[1.0, 2.0]]), np.zeros((1, 2)), np.ones((1, 2)), np.array([2.0]), kd, s, H, True)
    >>> H.tolist(), s.tolist()
    ([1.0, 4.0], [[-2.0, -4.0]])
    """
    n = x.shape[0]
    B = x.shape[1]
    for i in range(n):
        k = kap[i]
        for b in range(B):
            r = x[i, b] - f[i, b]
            v = k * r
            kd[i, b] = v
            H[b] += 0.5 * v * r
        if with_sig:
            for b in range(B):
                sig[i, b] = -kd[i, b] * fp[i, b]


@njit(cache=True, fastmath=False)
def grad_norms(kd, back, x, kap, gsq, big):
    """dH/dx = kd + back of a hidden layer (column layout) into per-sample sums: gsq[b] += |g_b|^2 and
    big[b] = max(big[b], max_i |x_ib| kappa_i) (the rounding floor's scale). kd, back, x (n, B); kap (n,).

    Examples
    --------
    >>> import numpy as np
    >>> gsq = np.zeros(1); big = np.zeros(1)
    >>> grad_norms(np.array([[1.0], [2.0]]), np.array([[2.0], [2.0]]), np.array([[-3.0], [1.0]]), np.ones(2), gsq, big)
    >>> gsq.tolist(), big.tolist()
    ([25.0], [3.0])
    """
    n = x.shape[0]
    B = x.shape[1]
    for i in range(n):
        k = kap[i]
        for b in range(B):
            g = kd[i, b] + back[i, b]
            gsq[b] += g * g
            a = abs(x[i, b]) * k
            if a > big[b]:
                big[b] = a
