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
>>> from analogsim import iem
>>> theta = np.linspace(-1, 1, 1024, endpoint=False)
>>> round(iem.parameter_entropy(theta, bins=16).bits, 12)
4.0
>>> iem.coherence([1.0, 2.0], [2.0, 4.0])
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_array, check_scalar
from .errors import torch_required

LN2 = math.log(2.0)
DEFAULT_BINS = 64
_UNITS = ("bits", "nats")


# ------------------------------------------------------------------------------------ histogram
def _flat_theta(theta, name="theta") -> np.ndarray:
    if isinstance(theta, (list, tuple)) and theta and not np.isscalar(theta[0]):
        parts = [check_array(t, f"{name}[{i}]").ravel() for i, t in enumerate(theta)]
        a = np.concatenate(parts)
    else:
        a = check_array(theta, name).ravel()
    if a.size == 0:
        raise ValueError(f"{name} must hold at least one parameter, got an empty array")
    return a.astype(np.float64, copy=False)


def histogram_edges(theta, bins=DEFAULT_BINS, range=None) -> np.ndarray:
    """Bin edges for the parameter histogram.

    Parameters
    ----------
    theta : array or list of arrays
        Parameter values (flattened).
    bins : int or array
        Number of equal-width bins (>= 1), or the edges themselves (strictly increasing, >= 2 entries).
    range : (float, float), optional
        Lower and upper edge for ``bins`` as a count; default the min and max of theta (widened by
        +-0.5 when all values are equal, as numpy does).

    Examples
    --------
    >>> histogram_edges([0.0, 1.0], bins=4).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if np.ndim(bins) == 0:
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
            raise ValueError(f"bins must be a positive integer or an increasing array of edges, got {bins!r}")
        if range is None:
            a = _flat_theta(theta)
            lo, hi = float(a.min()), float(a.max())
            if lo == hi:
                lo, hi = lo - 0.5, hi + 0.5
        else:
            if np.ndim(range) != 1 or len(range) != 2:
                raise ValueError(f"range must be a pair (low, high), got {range!r}")
            lo = check_scalar(range[0], "range[0]")
            hi = check_scalar(range[1], "range[1]")
            if not lo < hi:
                raise ValueError(f"range must satisfy low < high, got {range!r}")
        return np.linspace(lo, hi, int(bins) + 1)
    if range is not None:
        raise ValueError("give range only with bins as a count; explicit edges already fix the range")
    e = check_array(bins, "bins", ndim=1).astype(np.float64)
    if e.size < 2 or not np.all(np.diff(e) > 0):
        raise ValueError(f"bins as edges must be strictly increasing with at least 2 entries (1 bin), "
                         f"got {e.size} value(s)")
    return e


def _check_outside(outside):
    if outside not in ("clip", "drop"):
        raise ValueError(f"outside must be 'clip' or 'drop', got {outside!r}")


def parameter_histogram(theta, bins=DEFAULT_BINS, range=None, outside: str = "clip"):
    """Counts of the parameter values in each bin: ``(counts, edges)``.

    Bins are [e_i, e_{i+1}) with the last one closed (numpy's convention). ``outside="clip"`` counts
    values beyond the edges in the first/last bin, ``"drop"`` ignores them.

    Examples
    --------
    >>> counts, edges = parameter_histogram([0.1, 0.2, 0.9, 5.0], bins=2, range=(0, 1))
    >>> counts.tolist()
    [2, 2]
    """
    _check_outside(outside)
    a = _flat_theta(theta)
    edges = histogram_edges(a, bins, range)
    if outside == "clip":
        a = np.clip(a, edges[0], edges[-1])
    counts, _ = np.histogram(a, bins=edges)
    return counts.astype(np.int64), edges


def histogram_entropy(counts, unit: str = "bits") -> float:
    """Shannon entropy -sum p_b log p_b of a histogram, p_b = counts_b / sum(counts).

    Parameters
    ----------
    counts : array
        Non-negative bin counts (weights), at least one bin, positive total.
    unit : {'bits', 'nats'}

    Examples
    --------
    >>> histogram_entropy([5, 5, 5, 5])
    2.0
    >>> histogram_entropy([3, 0, 0])
    0.0
    """
    if unit not in _UNITS:
        raise ValueError(f"unit must be 'bits' or 'nats', got {unit!r}")
    c = check_array(counts, "counts").ravel().astype(np.float64)
    if c.size == 0:
        raise ValueError("counts must have at least one bin, got 0 bins")
    if np.any(c < 0):
        raise ValueError(f"counts must be >= 0, got a negative count {float(c[c < 0][0])!r}")
    total = c.sum()
    if total <= 0:
        raise ValueError(f"counts must have a positive total, got {float(total)!r}")
    p = c[c > 0] / total
    h = float(-(p * np.log(p)).sum())
    h = h if h > 0.0 else 0.0  # also turns -0.0 into 0.0
    return h / LN2 if unit == "bits" else h


@dataclass(frozen=True)
class ParameterEntropy:
    """H(theta) of a parameter histogram with the binning that produced it (papers 000/001).

    Attributes
    ----------
    bits, nats : float
        The entropy in bits and in nats (the value depends on the binning: always report it).
    counts, edges : ndarray
        The histogram.
    n_outside : int
        Values outside the range (clipped into the edge bins or dropped, as asked).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.iem import parameter_entropy
    >>> e = parameter_entropy(np.array([0.0, 0.0, 1.0, 1.0]), bins=2)
    >>> e.as_dict()["bins"], e.bits
    (2, 1.0)
    """

    bits: float
    nats: float
    counts: np.ndarray = field(repr=False)
    edges: np.ndarray = field(repr=False)
    n_outside: int = 0

    def as_dict(self) -> dict:
        return {"H_bits": self.bits, "H_nats": self.nats, "bins": int(self.counts.size),
                "range": [float(self.edges[0]), float(self.edges[-1])], "n_outside": self.n_outside}


def parameter_entropy(theta, bins=DEFAULT_BINS, range=None, outside: str = "clip") -> ParameterEntropy:
    """H(theta): entropy of the histogram of the parameter values (000 Eq. 3; 001 Eq. 11), bits and nats.

    For N values spread evenly over B bins H = log2 B; a continuous density gives H ~ h_diff + log2(1/width),
    so H grows with the number of bins: always report the binning (:meth:`ParameterEntropy.as_dict`).

    Examples
    --------
    >>> e = parameter_entropy(np.array([0.0, 0.0, 1.0, 1.0]), bins=2)
    >>> e.bits, round(e.nats, 6)
    (1.0, 0.693147)
    """
    _check_outside(outside)
    a = _flat_theta(theta)
    edges = histogram_edges(a, bins, range)
    n_out = int(np.count_nonzero((a < edges[0]) | (a > edges[-1])))
    counts, _ = parameter_histogram(a, edges, outside=outside)
    if counts.sum() == 0:
        raise ValueError(f"no parameter lies inside range [{edges[0]:g}, {edges[-1]:g}] (outside='drop')")
    nats = histogram_entropy(counts, "nats")
    return ParameterEntropy(nats / LN2, nats, counts, edges, n_out)


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
def _norm_kind(norm):
    if norm in ("fro", "frobenius"):
        return "fro"
    if norm in ("spectral", 2):
        return "spectral"
    raise ValueError(f"norm must be 'fro' or 'spectral', got {norm!r}")


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
        Activation name(s) of :mod:`analogsim.activations` (one per array), or a derivative f'(y).
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
    from .activations import get_activation

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
    # the torch loss lives in analogsim._iem_torch; importing it imports torch (or raises torch_required)
    if name in _TORCH_NAMES:
        from . import _iem_torch

        return getattr(_iem_torch, name)
    raise AttributeError(f"module 'analogsim.iem' has no attribute {name!r}")
