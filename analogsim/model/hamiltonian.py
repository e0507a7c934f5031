r"""The Hamiltonian of Eq. 6 and its derivatives (numpy reference implementation).

.. math::  H = \sum_{l=1}^{L} \frac{\kappa_l}{2} |\delta_l|^2,\qquad
           \delta_l = x_l - f_l(y_l),\qquad y_l = W_l x_{l-1} + b_l

Conventions (docs/theory/model.md): the stress is :math:`\sigma_l = \partial H/\partial b_l =
-\kappa_l \delta_l f'(y_l)` (Eq. 8), :math:`\partial H/\partial W_l = \sigma_l x_{l-1}^T` (Eq. 9),
:math:`\partial H/\partial x_l = \kappa_l\delta_l + W_{l+1}^T\sigma_{l+1}` (no second term for l = L) and
:math:`\partial H/\partial x_0 = W_1^T\sigma_1` (the force on the clamped input).

Every function is batched: a state is a list ``xs = [x_0, ..., x_L]`` of arrays (B, n_l), one row per
sample or replica. An optional :class:`OutputClamp` adds a soft spring on the output layer.
These functions are the readable reference the numba kernels are tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_array, check_layer_states


@dataclass(frozen=True)
class OutputClamp:
    """Clamp of the output layer to ``target``.

    Parameters
    ----------
    target : array (n_L,) or (B, n_L)
    stiffness : float or None
        None: hard clamp (x_L is held at the target and is not a degree of freedom).
        A positive number k: soft clamp, adding ``k/2 |x_L - target|^2`` to H (x_L is free); k is an energy
        per squared unit of x, like kappa.

    Examples
    --------
    >>> from analogsim import Network, OutputClamp
    >>> from analogsim.model.hamiltonian import energy
    >>> net = Network.create([2, 3, 1], seed=0)
    >>> xs = net.forward([[1.0, 2.0]])
    >>> soft = OutputClamp(xs[-1][0] + 1.0, stiffness=2.0)     # the output sits 1 away from the target
    >>> float(energy(net, xs, soft)[0])                          # 2/2 * 1^2
    1.0
    >>> OutputClamp([0.5]).hard
    True
    """

    target: np.ndarray
    stiffness: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "target", check_array(self.target, "target", ndim=(1, 2)))
        if self.stiffness is not None:
            k = float(self.stiffness)
            if not np.isfinite(k) or k <= 0:
                raise ValueError(f"output stiffness must be > 0 (or None for a hard clamp), got {self.stiffness!r}")
            object.__setattr__(self, "stiffness", k)

    @property
    def hard(self) -> bool:
        return self.stiffness is None


def _check_layers(net, xs, name: str = "xs") -> list:
    """Shapes only (cheap: these functions run inside solver loops): a list of L+1 numeric (B, n_l) arrays.

    Returns the layers as arrays (nested lists are converted). Non-finite values are not rejected here;
    they propagate to non-finite results.
    """
    return check_layer_states(xs, net.sizes, name)


def layer_terms(net, xs):
    """Pre-activations y_l, residuals delta_l and f'(y_l) for l = 1..L (lists of length L).

    Parameters
    ----------
    net : Network
    xs : list of arrays
        The state [x_0, ..., x_L], each (B, n_l).

    Returns
    -------
    ys, deltas, fps : lists of L arrays (B, n_l)
        y_l = W_l x_{l-1} + b_l, delta_l = x_l - f_l(y_l) (Eq. 6) and f_l'(y_l).

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], activations=["tanh", "identity"], seed=0)
    >>> ys, deltas, fps = layer_terms(net, net.forward([[1.0, 2.0]]))
    >>> [d.shape for d in deltas], float(abs(deltas[0]).max())     # the forward pass has no residual
    ([(1, 3), (1, 1)], 0.0)
    """
    xs = _check_layers(net, xs)
    ys, deltas, fps = [], [], []
    for l in range(1, net.depth + 1):
        act = net.activations[l - 1]
        y = net.preactivation(l, xs[l - 1])
        ys.append(y)
        deltas.append(xs[l] - act.f(y))
        fps.append(act.df(y))
    return ys, deltas, fps


def residuals(net, xs):
    """delta_l = x_l - f(W_l x_{l-1} + b_l) for l = 1..L (Eq. 6); list of (B, n_l).

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], activations=["tanh", "identity"], seed=0)
    >>> xs = net.forward([[1.0, 2.0]])
    >>> xs[2] = xs[2] + 0.5                                         # push the output off its forward value
    >>> [round(float(d.sum()), 6) for d in residuals(net, xs)]
    [0.0, 0.5]
    """
    return layer_terms(net, xs)[1]


def energy(net, xs, clamp: OutputClamp | None = None, per_layer: bool = False):
    """H per sample, shape (B,); with ``per_layer`` the (B, L) layer terms kappa_l/2 |delta_l|^2.

    A soft clamp's spring energy is included in the total (not in ``per_layer``).

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], seed=0)
    >>> float(energy(net, net.forward([[1.0, 2.0]]))[0])
    0.0
    """
    return energy_of_residuals(net.kappa, residuals(net, xs), xs[-1], clamp, per_layer)


def energy_of_residuals(kappa, deltas, x_out, clamp=None, per_layer: bool = False):
    """H from the residuals delta_l of each layer (Eq. 6): sum_l kappa_l/2 |delta_l|^2 per row, plus a soft clamp's
    spring on the output ``x_out`` (the part of :func:`energy` that does not depend on how delta was computed;
    the graph network's energy uses it too).

    Examples
    --------
    >>> import numpy as np
    >>> energy_of_residuals([np.array([2.0])], [np.array([[0.5], [1.0]])], np.zeros((2, 1)))
    array([0.25, 1.  ])
    """
    terms = np.stack([0.5 * np.sum(k * d * d, axis=1) for k, d in zip(kappa, deltas)], axis=1)
    if per_layer:
        return terms
    H = terms.sum(axis=1)
    if clamp is not None and not clamp.hard:
        H = H + 0.5 * clamp.stiffness * np.sum((x_out - clamp.target) ** 2, axis=1)
    return H


def stress(net, xs):
    """sigma_l = dH/db_l = -kappa_l delta_l f'(y_l) (Eq. 8) for l = 1..L; list of (B, n_l).

    Units: energy per unit of x (kappa times a displacement).

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], activations=["tanh", "identity"], kappa=2.0, seed=0)
    >>> xs = net.forward([[1.0, 2.0]])
    >>> xs[2] = xs[2] + 0.5                       # output residual 0.5, identity activation (f' = 1)
    >>> float(stress(net, xs)[1][0, 0])          # -kappa delta f' = -2 * 0.5 * 1
    -1.0
    """
    _, deltas, fps = layer_terms(net, xs)
    return [-k * d * fp for k, d, fp in zip(net.kappa, deltas, fps)]


def grad_x(net, xs, clamp: OutputClamp | None = None):
    """dH/dx_l for l = 0..L (index 0: the force on the clamped input, W_1^T sigma_1); list of (B, n_l).

    dH/dx_l = kappa_l delta_l + W_{l+1}^T sigma_{l+1} (no second term for l = L); a soft ``clamp`` adds its
    spring force on x_L. The input force is what a moving input works against (Eq. 7).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], seed=0)
    >>> g = grad_x(net, net.forward([[1.0, 2.0]]))               # at H = 0 every force vanishes
    >>> [float(np.abs(a).max()) for a in g]
    [0.0, 0.0, 0.0]
    """
    _, deltas, fps = layer_terms(net, xs)
    sig = [-k * d * fp for k, d, fp in zip(net.kappa, deltas, fps)]
    g = [sig[0] @ net.weights[0]]
    for l in range(1, net.depth + 1):
        gl = net.kappa[l - 1] * deltas[l - 1]
        if l < net.depth:
            gl = gl + sig[l] @ net.weights[l]
        g.append(gl)
    if clamp is not None and not clamp.hard:
        g[-1] = g[-1] + clamp.stiffness * (xs[-1] - clamp.target)
    return g


def grad_params(net, xs, reduce: str = "sum") -> np.ndarray:
    """dH/dtheta in the flat layout of ``net.theta``.

    dH/db_l = sigma_l (Eq. 8) and dH/dW_l = sigma_l x_{l-1}^T (Eq. 9), W_l in C order then b_l per layer.

    Parameters
    ----------
    net : Network
    xs : list of arrays
        The state [x_0, ..., x_L], each (B, n_l).
    reduce : {'sum', 'mean', 'none'}
        Sum or average over the batch (shape (N,)), or per sample (shape (B, N)).

    Returns
    -------
    ndarray
        Energy per unit of parameter.

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], seed=0)
    >>> xs = net.forward([[1.0, 2.0], [0.5, -1.0]])
    >>> xs[2] = xs[2] + 0.1
    >>> grad_params(net, xs).shape, grad_params(net, xs, reduce="none").shape
    ((13,), (2, 13))
    """
    if reduce not in ("sum", "mean", "none"):
        raise ValueError(f"reduce must be 'sum', 'mean' or 'none', got {reduce!r}")
    out = params_from_stress(net, xs, stress(net, xs))
    if reduce == "sum":
        return out.sum(axis=0)
    if reduce == "mean":
        return out.mean(axis=0)
    return out


def params_from_stress(net, xs, sig) -> np.ndarray:
    """Per-sample dH/dtheta (B, N) in the layout of ``net.theta`` from the stresses: dH/db_l = sigma_l and
    dH/dW_l = sigma_l x_{l-1}^T (Eq. 9).

    Parameters
    ----------
    net : Network
    xs : list of arrays
        The state [x_0, ..., x_L], each (B, n_l).
    sig : list of arrays
        Stresses sigma_l, l = 1..L, each (B, n_l) (e.g. from :func:`stress` or a clamped minimum).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], seed=0)
    >>> xs = net.forward([[1.0, 2.0]])
    >>> xs[2] = xs[2] + 0.1
    >>> bool(np.allclose(params_from_stress(net, xs, stress(net, xs))[0], grad_params(net, xs)))
    True
    """
    B = xs[0].shape[0]
    out = np.empty((B, net.n_params), dtype=net.dtype)
    for l in range(net.depth):
        n_out, n_in = net.sizes[l + 1], net.sizes[l]
        w0, b0 = net.w_offsets[l], net.b_offsets[l]
        out[:, w0:w0 + n_out * n_in] = (sig[l][:, :, None] * xs[l][:, None, :]).reshape(B, -1)
        out[:, b0:b0 + n_out] = sig[l]
    return out


def hvp_x(net, xs, v, clamp: OutputClamp | None = None):
    """Hessian of H in the neuron variables applied to ``v`` (list like ``xs``), per sample.

    Includes the Gauss-Newton part J^T K J v and the curvature part from f''; x_0 is treated as a
    variable too (its block is needed for the input force's response); zero ``v[0]`` for a clamped input.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network.create([1, 1], activations="identity", kappa=3.0, seed=0)
    >>> xs = net.forward([[0.2]])
    >>> v = [np.zeros((1, 1)), np.ones((1, 1))]
    >>> float(hvp_x(net, xs, v)[1][0, 0])          # H = kappa/2 (x_1 - w x_0 - b)^2: d2H/dx_1^2 = kappa
    3.0
    """
    ys, deltas, fps = layer_terms(net, xs)
    v = _check_layers(net, v, "v")
    out = [np.zeros_like(x) for x in xs]
    for l in range(1, net.depth + 1):
        W, k = net.weights[l - 1], net.kappa[l - 1]
        act = net.activations[l - 1]
        wv = v[l - 1] @ W.T
        u = k * (v[l] - fps[l - 1] * wv)          # K (J v)_l
        out[l] += u
        curv = -k * deltas[l - 1] * act.d2f(ys[l - 1]) * wv
        out[l - 1] += (curv - fps[l - 1] * u) @ W
    if clamp is not None and not clamp.hard:
        out[-1] += clamp.stiffness * v[-1]
    return out


def power_lambda_max(net, xs, n_iter: int = 50, seed=0, clamp: OutputClamp | None = None) -> float:
    """Largest eigenvalue of the x-Hessian (input clamped) by power iteration, max over the batch.

    Uses the Gauss-Newton matrix J^T K J at ``xs`` plus the curvature term; at H's minimum the two agree.
    Euler-Maruyama is stable for Gamma dt lambda_max < 2 (see :func:`stability_bound` for a cheap bound).

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 3, 1], kappa=1.0, seed=0)
    >>> lam = power_lambda_max(net, net.forward([[1.0, 2.0]]))
    >>> bool(1.0 <= lam <= stability_bound(net))
    True
    """
    rng = np.random.default_rng(seed)
    v = [np.zeros_like(xs[0])] + [rng.standard_normal(x.shape).astype(net.dtype) for x in xs[1:]]
    lam = np.zeros(xs[0].shape[0])
    for _ in range(n_iter):
        nrm = np.sqrt(sum(np.sum(a * a, axis=1) for a in v[1:]))
        v = [a / nrm[:, None] for a in v]
        v[0] = np.zeros_like(v[0])
        hv = hvp_x(net, xs, v, clamp)
        hv[0] = np.zeros_like(hv[0])
        lam = sum(np.sum(a * b, axis=1) for a, b in zip(v[1:], hv[1:]))
        v = hv
    return float(np.max(lam))


def stability_bound(net) -> float:
    """The cheap upper bound B on lambda_max of docs/theory/langevin.md (valid for |f'| <= 1).

    B = max_m [kappa_m (1 + s_m) + kappa_{m+1} s_{m+1} (1 + s_{m+1})], s_l = ||W_l||_2;
    Euler-Maruyama with dt < 2/B has always been stable. Units: energy per squared unit of x (like kappa).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network([np.array([[2.0]])], activations="identity", kappa=1.0)
    >>> stability_bound(net)                       # kappa (1 + |w|) for one layer
    3.0
    """
    s = [float(np.linalg.norm(W.astype(np.float64), 2)) for W in net.weights]
    kmax = [float(np.max(k)) for k in net.kappa]
    L = net.depth
    best = 0.0
    for m in range(L):
        val = kmax[m] * (1 + s[m])
        if m + 1 < L:
            val += kmax[m + 1] * s[m + 1] * (1 + s[m + 1])
        best = max(best, val)
    return best
