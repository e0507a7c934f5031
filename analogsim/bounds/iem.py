"""The IEM objective and the EIT-P losses of Chen & Chen, computed on any network state.

Papers: ``000`` = "Physics-Informed Intelligence Emergence" (IEM), ``001`` = "EIT-P". Definitions:

==================  ===========================================================  ======================
H(theta)            Shannon entropy of the histogram of the parameter values      000 Eq. 3, 001 Eq. 11
C                   |<psi|phi>|^2 / (<psi|psi><phi|phi>), output vs target        000 Eq. 5, 001 Eq. 9
IEM                 alpha * H * T * C                                             000 Eq. 2, 001 Eq. 2
E_min^IEM           kT ln 2 * H(theta)  (H in bits)                               001 Eq. 12, 22
L_coherence         ||R - I|| of the activations' correlation matrix R            001 Eq. 10
Lyapunov estimate   mean ln|f'(y)| over neurons and samples                       001 Eq. 5
P_emergence         1 / (1 + exp(-beta (H - H_crit)))                             001 Eq. 8
EIT-P loss          L_task + lambda_1 |E - E_min| + lambda_2 L_coherence          001 §4.2 (d), (g)
==================  ===========================================================  ======================

Choices where the papers are ambiguous (each configurable; see docs/bounds.md):

* H is the *discrete* (plug-in) entropy of a histogram with explicit binning: ``bins`` (count, default 64,
  or an array of edges) and ``range`` (default: the parameters' min and max). Values outside an explicit
  range are clipped into the edge bins (``outside="clip"``) or dropped (``outside="drop"``). The value
  depends on the binning: that is a property of the definition, so every record carries the binning.
* H is reported in bits and nats; IEM uses bits by default (``entropy_unit``), matching E_min = kT ln2 H.
* T is a temperature in natural units (an energy kT, k_B = 1); EIT-P's default is T = 1, alpha = 0.1.
* C is computed per sample (row) and averaged (``reduction="mean"``); ``"flatten"`` treats the whole batch
  as one vector. A zero vector has C = 0 (no alignment) instead of 0/0.
* ||.||_2 of a matrix: Frobenius (entrywise 2-norm, what ``torch.norm(R - I, 2)`` computes and smooth) by
  default; ``norm="spectral"`` gives the induced 2-norm. Units whose activation is constant over the batch
  have no correlation: their rows and columns of R - I are zero.
* Lyapunov: ln|f'| = -inf where f' = 0 (inactive ReLU); by default those entries are excluded and their
  fraction reported (``zero="exclude"``); ``"floor"`` uses ln(max(|f'|, eps)), ``"keep"`` returns -inf.
* E in |E - E_min| is the IEM energy alpha H T C of the current state unless a measured energy is passed
  (the papers do not say which energy; the mc^2 term of E = mc^2 + IEM is a constant in theta and is left out).

The torch loss (:class:`EITPLoss`, needs the torch extra) differentiates a *soft* histogram: each parameter
spreads its unit mass over the bins with sigmoid edges of width ``bandwidth`` x (smallest bin width); the
exact (hard) histogram entropy, which has zero gradient almost everywhere, is logged alongside.

Examples
--------
>>> import numpy as np
>>> from analogsim.bounds import iem
>>> theta = np.linspace(-1, 1, 1024, endpoint=False)
>>> round(iem.parameter_entropy(theta, bins=16).bits, 12)
4.0
>>> iem.coherence([1.0, 2.0], [2.0, 4.0])
1.0
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import check_array, check_scalar
from ..errors import torch_required
from .entropy import (  # noqa: F401  (re-exported: the histogram entropy is part of the IEM's API)
    _UNITS, DEFAULT_BINS, LN2, ParameterEntropy, _check_outside, _norm_kind, histogram_edges, histogram_entropy,
    parameter_entropy, parameter_histogram)


# ------------------------------------------------------------------------------------ coherence
def _state_pair(psi, phi):
    a, b = np.asarray(psi), np.asarray(phi)
    for name, x in (("psi", a), ("phi", b)):
        if x.dtype.kind not in "fiuc" or x.ndim not in (1, 2) or x.size == 0:
            raise ValueError(f"{name} must be a non-empty numeric 1-D or 2-D array, got dtype {x.dtype}, "
                             f"shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} must be finite, got NaN/inf values")
    if a.shape != b.shape:
        raise ValueError(f"psi and phi must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def coherence(psi, phi, reduction: str = "mean"):
    """C = |<psi|phi>|^2 / (<psi|psi><phi|phi>) (000 Eq. 5, 32; 001 Eq. 9, 13); 0 for a zero vector.

    Parameters
    ----------
    psi, phi : array, shape (n,) or (B, n)
        Current (network output) and target state; complex values allowed (<psi| is conjugated).
    reduction : {'mean', 'none', 'flatten'}
        For 2-D input: mean over rows of the per-row C, the per-row array, or C of the flattened batch.

    Examples
    --------
    >>> coherence([1.0, 0.0], [0.0, 3.0])
    0.0
    >>> coherence([[1.0, 1.0], [1.0, 0.0]], [[2.0, 2.0], [1.0, 1.0]])
    0.75
    """
    a, b = _state_pair(psi, phi)
    if reduction not in ("mean", "none", "flatten"):
        raise ValueError(f"reduction must be 'mean', 'none' or 'flatten', got {reduction!r}")
    if a.ndim == 1 or reduction == "flatten":
        a, b = a.reshape(1, -1), b.reshape(1, -1)
    num = np.abs(np.sum(np.conj(a) * b, axis=1)) ** 2
    den = np.sum(np.abs(a) ** 2, axis=1) * np.sum(np.abs(b) ** 2, axis=1)
    c = np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)
    if reduction == "none" and np.ndim(psi) == 2:
        return c
    return float(c.mean())


def iem(H, T=1.0, C=1.0, alpha=0.1) -> float:
    """IEM = alpha * H * T * C (000 Eq. 2; 001 Eq. 2). Defaults: EIT-P's alpha = 0.1, T = 1.

    Examples
    --------
    >>> iem(H=4.0, T=2.0, C=0.5, alpha=0.1)
    0.4
    """
    H = check_scalar(H, "H", low=0.0)
    T = check_scalar(T, "T", low=0.0, low_open=True)
    C = check_scalar(C, "C", low=0.0, high=1.0 + 1e-9)
    return float(check_scalar(alpha, "alpha") * H * T * C)


def e_min_iem(H_bits, T=1.0) -> float:
    """E_min^IEM = kT ln 2 * H(theta) with H in bits (001 Eq. 12, 22), in natural units (T is kT).

    For joules use ``analogsim.bounds.Energy(H_bits * ln 2, T_kelvin).joules``.

    Examples
    --------
    >>> e_min_iem(1.0, T=1.0) == LN2
    True
    """
    return float(check_scalar(T, "T", low=0.0, low_open=True) * LN2 * check_scalar(H_bits, "H_bits", low=0.0))


# ------------------------------------------------------------------------------ correlation loss
def correlation_matrix(activations) -> np.ndarray:
    """Pearson correlation matrix R (n, n) of activations (B, n) over the batch (B >= 2).

    Units constant over the batch (e.g. dead ReLUs) get R_ii = 1 and R_ij = 0: they carry no correlation.

    Examples
    --------
    >>> correlation_matrix([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]]).round(12).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    A = check_array(activations, "activations", ndim=2).astype(np.float64)
    if A.shape[0] < 2:
        raise ValueError(f"activations must have at least 2 rows (samples) for a correlation, got {A.shape}")
    Ac = A - A.mean(axis=0)
    std = np.sqrt((Ac ** 2).mean(axis=0))
    live = std > 1e-12 * (np.abs(A).max(axis=0) + np.finfo(np.float64).tiny)
    z = np.divide(Ac, std, out=np.zeros_like(Ac), where=live[None, :])
    R = z.T @ z / A.shape[0]
    np.fill_diagonal(R, 1.0)
    return R


def coherence_loss(activations, norm: str = "fro") -> float:
    """L_coherence = ||R - I|| (001 Eq. 10); a list of layers gives the mean over layers.

    Parameters
    ----------
    activations : array (B, n) or list of arrays
    norm : {'fro', 'spectral'}
        Frobenius (default) or induced 2-norm (largest |eigenvalue - 1| of R).

    Examples
    --------
    >>> coherence_loss(np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
    0.0
    """
    kind = _norm_kind(norm)
    layers = activations if isinstance(activations, (list, tuple)) else [activations]
    if len(layers) == 0:
        raise ValueError("activations must hold at least one layer, got an empty list")
    out = []
    for a in layers:
        M = correlation_matrix(a) - np.eye(np.shape(a)[1])
        out.append(np.linalg.norm(M, "fro" if kind == "fro" else 2))
    return float(np.mean(out))


# ------------------------------------------------------------------------- chaos and emergence
def lyapunov_estimate(y, activation="relu", *, zero: str = "exclude", eps: float = 1e-12,
                      return_zero_fraction: bool = False):
    """lambda = mean ln|f'(y)| over all entries (001 Eq. 5), f' of the named activation at preactivations y.

    Parameters
    ----------
    y : array or list of arrays
        Preactivations (one array per layer when a list).
    activation : str, callable or list
        Activation name(s) of :mod:`analogsim.model.activations` (one per array), or a derivative f'(y).
    zero : {'exclude', 'floor', 'keep'}
        Entries with f' = 0: left out of the mean (default), floored at ``eps``, or kept (result -inf).
    return_zero_fraction : bool
        Also return the fraction of entries with f' = 0.

    Examples
    --------
    >>> lyapunov_estimate(np.array([-1.0, 2.0, 3.0]), "relu")
    0.0
    >>> round(lyapunov_estimate(np.zeros(3), "tanh"), 12)
    0.0
    """
    from ..model.activations import get_activation

    if zero not in ("exclude", "floor", "keep"):
        raise ValueError(f"zero must be 'exclude', 'floor' or 'keep', got {zero!r}")
    eps = check_scalar(eps, "eps", low=0.0, low_open=True)
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    acts = list(activation) if isinstance(activation, (list, tuple)) else [activation] * len(ys)
    if len(acts) != len(ys):
        raise ValueError(f"activation must be one name or one per array ({len(ys)}), got {len(acts)}")
    ds = []
    for i, (yi, act) in enumerate(zip(ys, acts)):
        a = check_array(yi, f"y[{i}]").astype(np.float64)
        df = act if callable(act) and not isinstance(act, str) else get_activation(act, "activation").df
        ds.append(np.abs(np.asarray(df(a), dtype=np.float64)).ravel())
    d = np.concatenate(ds)
    if d.size == 0:
        raise ValueError("y must hold at least one preactivation, got none")
    frac = float(np.mean(d == 0))
    if zero == "exclude":
        d = d[d > 0]
        lam = float(np.mean(np.log(d))) if d.size else -math.inf
    elif zero == "floor":
        lam = float(np.mean(np.log(np.maximum(d, eps))))
    else:
        with np.errstate(divide="ignore"):
            lam = float(np.mean(np.log(d)))
    return (lam, frac) if return_zero_fraction else lam


def emergence_probability(H, H_crit, beta=1.0) -> float:
    """P = 1 / (1 + exp(-beta (H - H_crit))) (001 Eq. 8); H and H_crit in the same unit (bits by default).

    Examples
    --------
    >>> emergence_probability(3.0, 3.0)
    0.5
    """
    from scipy.special import expit

    x = check_scalar(beta, "beta") * (check_scalar(H, "H") - check_scalar(H_crit, "H_crit"))
    return float(expit(x))


# ------------------------------------------------------------------------------ all terms at once
def iem_terms(theta, activations=None, outputs=None, targets=None, *, preactivations=None,
              activation="relu", alpha=0.1, T=1.0, bins=DEFAULT_BINS, range=None, outside="clip",
              entropy_unit="bits", reduction="mean", norm="fro", zero="exclude", H_crit=None, beta=1.0,
              energy=None, task_loss=None, lambda1=1e-2, lambda2=1e-2) -> dict:
    """Every IEM/EIT-P term of one network state, as a flat JSON-ready record (for logging each step).

    Parameters
    ----------
    theta : array or list of arrays
        Network parameters.
    activations : array (B, n) or list, optional
        Hidden activations for L_coherence.
    outputs, targets : array, optional
        Output state psi and target phi for C (both or neither; C = None without them and IEM uses C = 1).
    preactivations : array or list, optional
        For the Lyapunov estimate, with ``activation`` (name or one per array).
    alpha, T, bins, range, outside, entropy_unit, reduction, norm, zero, H_crit, beta
        As in the single-term functions.
    energy : float, optional
        E in |E - E_min|; default the IEM value of this state.
    task_loss, lambda1, lambda2 : float, optional
        With ``task_loss`` the record includes the EIT-P total L_task + l1 |E - E_min| + l2 L_coherence.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = iem_terms(rng.normal(size=500), rng.normal(size=(32, 8)), np.ones((4, 3)), np.ones((4, 3)))
    >>> r["C"], r["bins"], r["H_bits"] <= 6.0
    (1.0, 64, True)
    """
    if entropy_unit not in _UNITS:
        raise ValueError(f"entropy_unit must be 'bits' or 'nats', got {entropy_unit!r}")
    if (outputs is None) != (targets is None):
        raise ValueError("give both outputs and targets (for C) or neither")
    pe = parameter_entropy(theta, bins, range, outside)
    H = pe.bits if entropy_unit == "bits" else pe.nats
    T = check_scalar(T, "T", low=0.0, low_open=True)
    C = None if outputs is None else coherence(outputs, targets, reduction)
    I = iem(H, T, 1.0 if C is None else min(C, 1.0), alpha)
    Emin = e_min_iem(pe.bits, T)
    E = I if energy is None else check_scalar(energy, "energy")
    rec = {**pe.as_dict(), "n_params": int(pe.counts.sum() + (pe.n_outside if outside == "drop" else 0)),
           "entropy_unit": entropy_unit, "alpha": float(alpha), "T": T, "C": C, "reduction": reduction,
           "IEM": I, "E_min": Emin, "E": E, "energy_source": "iem" if energy is None else "given",
           "L_thermo": abs(E - Emin), "norm": _norm_kind(norm),
           "L_coherence": None if activations is None else coherence_loss(activations, norm)}
    if preactivations is not None:
        lam, frac = lyapunov_estimate(preactivations, activation, zero=zero, return_zero_fraction=True)
        rec.update(lyapunov=lam, lyapunov_zero_fraction=frac, lyapunov_zero=zero)
    if H_crit is not None:
        rec.update(H_crit=float(H_crit), beta=float(beta), P_emergence=emergence_probability(H, H_crit, beta))
    if task_loss is not None:
        Lc = rec["L_coherence"] or 0.0
        rec.update(L_task=float(task_loss), lambda1=float(lambda1), lambda2=float(lambda2),
                   L_total=float(task_loss) + lambda1 * rec["L_thermo"] + lambda2 * Lc)
    return rec


def network_iem_terms(net, X, targets=None, **kwargs) -> dict:
    """:func:`iem_terms` of an :class:`analogsim.Network` on inputs X (zero-temperature forward pass).

    theta = net.theta, activations = hidden layers x_1..x_{L-1}, outputs = x_L, preactivations y_1..y_L
    with each layer's activation.

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([4, 8, 8, 2], activations="relu", seed=0)
    >>> r = network_iem_terms(net, np.random.default_rng(1).normal(size=(16, 4)), np.ones((16, 2)))
    >>> sorted(k for k in ("C", "lyapunov", "L_coherence") if r[k] is not None)
    ['C', 'L_coherence', 'lyapunov']
    """
    xs = net.forward(net.check_input(X, "X"))
    ys = [net.preactivation(l, xs[l - 1]) for l in range(1, net.depth + 1)]
    hidden = xs[1:-1] if net.depth > 1 else None
    if hidden is not None and xs[0].shape[0] < 2:
        hidden = None
    return iem_terms(net.theta, hidden, xs[-1] if targets is not None else None,
                     None if targets is None else net.check_output(targets, xs[0].shape[0]),
                     preactivations=ys, activation=list(net.activation_names), **kwargs)


# ------------------------------------------------------------------------------------- torch
_TORCH_NAMES = ("EITPLoss", "torch_soft_entropy", "torch_coherence", "torch_coherence_loss")


def __getattr__(name):
    # the torch loss lives in analogsim.bounds._iem_torch; importing it imports torch (or raises torch_required)
    if name in _TORCH_NAMES:
        from . import _iem_torch

        return getattr(_iem_torch, name)
    raise AttributeError(f"module 'analogsim.bounds.iem' has no attribute {name!r}")
