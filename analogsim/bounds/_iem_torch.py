"""Torch side of :mod:`analogsim.bounds.iem`: the differentiable EIT-P loss (soft histogram entropy, coherence,
correlation loss). Reached through ``analogsim.bounds.iem.EITPLoss`` etc.; torch is imported on first use and a
missing torch raises :func:`analogsim.errors.torch_required`.

Examples
--------
>>> import torch
>>> from analogsim.bounds.iem import EITPLoss
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).double()
>>> x, t = torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
>>> h = model[1](model[0](x))
>>> out = model[2](h)
>>> loss_fn = EITPLoss(lambda1=0.01, lambda2=0.01, bins=32)
>>> loss = loss_fn(((out - t) ** 2).mean(), model.parameters(), out, t, activations=h)
>>> loss.backward()
>>> sorted(loss_fn.last)[:3]
['C', 'E', 'E_min']
"""

from __future__ import annotations

import numpy as np

from .._checks import check_scalar
from .entropy import DEFAULT_BINS, LN2, _UNITS, _check_outside, _norm_kind, histogram_edges, parameter_entropy
from ..errors import torch_required


def _torch():
    try:
        import torch
    except ImportError:
        raise torch_required("the EIT-P torch loss (analogsim.bounds.iem.EITPLoss)") from None
    return torch


def _torch_flat(params):
    torch = _torch()
    if isinstance(params, torch.Tensor):
        return params.reshape(-1)
    ps = [p.reshape(-1) for p in params]
    if not ps:
        raise ValueError("params must hold at least one tensor, got none")
    return torch.cat(ps)


def torch_soft_entropy(theta, bins=DEFAULT_BINS, range=None, *, bandwidth: float = 0.5,
                       outside: str = "clip", unit: str = "bits"):
    """Differentiable H(theta) of a soft histogram (torch).

    Parameter j puts mass m_jb = [s((t_j - e_b)/w) - s((t_j - e_{b+1})/w)] / Z_j into bin b (s: logistic,
    w = bandwidth x smallest bin width, Z_j normalises to 1), p_b = mean_j m_jb, H = -sum p_b log p_b.
    As bandwidth -> 0 this is the hard histogram of :func:`parameter_entropy`. The edges come from
    ``bins``/``range`` (or from the detached min/max of theta) and carry no gradient. Memory O(N x bins).

    Examples
    --------
    >>> import torch
    >>> t = torch.linspace(-1, 1, 1001, dtype=torch.float64)[:-1] + 1e-3
    >>> round(float(torch_soft_entropy(t, 8, (-1, 1), bandwidth=1e-4)), 6)
    3.0
    """
    torch = _torch()
    _check_outside(outside)
    if unit not in _UNITS:
        raise ValueError(f"unit must be 'bits' or 'nats', got {unit!r}")
    bw = check_scalar(bandwidth, "bandwidth", low=0.0, low_open=True)
    t = _torch_flat(theta)
    if t.numel() == 0:
        raise ValueError("theta must hold at least one parameter, got an empty tensor")
    edges = torch.as_tensor(histogram_edges(t.detach().cpu().double().numpy(), bins, range),
                            dtype=t.dtype, device=t.device)
    w = bw * float((edges[1:] - edges[:-1]).min())
    if outside == "clip":
        t = t.clamp(float(edges[0]), float(edges[-1]))
        keep = None
    else:
        keep = ((t >= edges[0]) & (t <= edges[-1])).to(t.dtype).detach()
    cdf = torch.sigmoid((t[:, None] - edges[None, :]) / w)
    tiny = torch.finfo(t.dtype).tiny
    if keep is None:
        # sum_b m_jb telescopes to Z_j = cdf_j0 - cdf_jK, so p_b = (q_b - q_{b+1}) / N with q = sum_j cdf_j / Z_j:
        # one matrix-vector product instead of an (N, bins) difference and normalisation (same value)
        Z = (cdf[:, 0] - cdf[:, -1]).clamp_min(tiny)
        q = (1.0 / Z) @ cdf
        p = (q[:-1] - q[1:]) / t.numel()
    else:
        m = cdf[:, :-1] - cdf[:, 1:]
        m = m / m.sum(dim=1, keepdim=True).clamp_min(tiny) * keep[:, None]
        p = m.sum(dim=0) / keep.sum().clamp_min(1.0)
    h = -(p * torch.log(p.clamp_min(torch.finfo(t.dtype).tiny))).sum()
    return h / LN2 if unit == "bits" else h


def torch_coherence(psi, phi, reduction: str = "mean"):
    """Differentiable C of :func:`coherence` (real tensors; zero vectors give C = 0)."""
    torch = _torch()
    if reduction not in ("mean", "none", "flatten"):
        raise ValueError(f"reduction must be 'mean', 'none' or 'flatten', got {reduction!r}")
    if psi.shape != phi.shape:
        raise ValueError(f"psi and phi must have the same shape, got {tuple(psi.shape)} and {tuple(phi.shape)}")
    a, b = (psi.reshape(1, -1), phi.reshape(1, -1)) if psi.dim() == 1 or reduction == "flatten" else (psi, phi)
    num = (a * b).sum(dim=1) ** 2
    den = (a * a).sum(dim=1) * (b * b).sum(dim=1)
    c = num / den.clamp_min(torch.finfo(a.dtype).tiny)
    return c if reduction == "none" and psi.dim() == 2 else c.mean()


def torch_coherence_loss(activations, norm: str = "fro", eps: float = 1e-12):
    """Differentiable L_coherence = ||R - I|| (mean over layers for a list); R from z = (a - mean)/sqrt(var + eps)."""
    torch = _torch()
    kind = _norm_kind(norm)
    layers = activations if isinstance(activations, (list, tuple)) else [activations]
    out = []
    for a in layers:
        if a.dim() != 2 or a.shape[0] < 2:
            raise ValueError(f"activations must be (B >= 2, n) tensors, got shape {tuple(a.shape)}")
        ac = a - a.mean(dim=0, keepdim=True)
        z = ac / torch.sqrt((ac * ac).mean(dim=0, keepdim=True) + eps)
        R = z.T @ z / a.shape[0]
        M = R * (1.0 - torch.eye(R.shape[0], dtype=R.dtype, device=R.device))  # R - I off the diagonal
        out.append(torch.linalg.matrix_norm(M, ord="fro" if kind == "fro" else 2))
    return torch.stack(out).mean()


_EITP = None


def _f(v) -> float:
    return float(v.detach()) if hasattr(v, "detach") else float(v)


def _eitp_class():
    global _EITP
    if _EITP is not None:
        return _EITP
    torch = _torch()

    class EITPLoss(torch.nn.Module):
        """EIT-P total loss L = L_task + lambda1 |E - E_min| + lambda2 L_coherence (001 §4.2).

        E_min = T ln2 H(theta) and, unless ``energy`` is given, E = IEM = alpha H T C; H is the soft
        (differentiable) histogram entropy, the exact one is logged in :attr:`last`. See
        :mod:`analogsim.bounds.iem` for the choices. ``forward(task_loss, params, outputs, targets,
        activations=None, energy=None)`` returns the scalar total; :attr:`last` holds every term as floats.
        """

        def __init__(self, lambda1=1e-2, lambda2=1e-2, *, alpha=0.1, T=1.0, bins=DEFAULT_BINS, range=None,
                     bandwidth=0.5, outside="clip", entropy_unit="bits", reduction="mean", norm="fro",
                     corr_eps=1e-12, log_exact=True):
            super().__init__()
            self.lambda1 = check_scalar(lambda1, "lambda1", low=0.0)
            self.lambda2 = check_scalar(lambda2, "lambda2", low=0.0)
            self.alpha = check_scalar(alpha, "alpha")
            self.T = check_scalar(T, "T", low=0.0, low_open=True)
            if np.ndim(bins) == 0:
                histogram_edges([0.0, 1.0], bins, range)  # validate now
            self.bins, self.range = bins, range
            self.bandwidth = check_scalar(bandwidth, "bandwidth", low=0.0, low_open=True)
            _check_outside(outside)
            if entropy_unit not in _UNITS:
                raise ValueError(f"entropy_unit must be 'bits' or 'nats', got {entropy_unit!r}")
            self.outside, self.entropy_unit, self.reduction = outside, entropy_unit, reduction
            self.norm, self.corr_eps, self.log_exact = _norm_kind(norm), float(corr_eps), bool(log_exact)
            self.last: dict = {}

        def forward(self, task_loss, params, outputs, targets, activations=None, energy=None):
            theta = _torch_flat(params)
            H_bits = torch_soft_entropy(theta, self.bins, self.range, bandwidth=self.bandwidth,
                                        outside=self.outside, unit="bits")
            H = H_bits if self.entropy_unit == "bits" else H_bits * LN2
            C = torch_coherence(outputs, targets, self.reduction)
            I = self.alpha * H * self.T * C
            Emin = self.T * LN2 * H_bits
            E = I if energy is None else torch.as_tensor(energy, dtype=I.dtype, device=I.device)
            L_thermo = (E - Emin).abs()
            L_coh = (torch_coherence_loss(activations, self.norm, self.corr_eps) if activations is not None
                     else torch.zeros((), dtype=I.dtype, device=I.device))
            total = task_loss + self.lambda1 * L_thermo + self.lambda2 * L_coh
            self.last = {k: _f(v) for k, v in (("L_total", total), ("L_task", task_loss), ("H_soft", H),
                                                  ("C", C), ("IEM", I), ("E", E), ("E_min", Emin),
                                                  ("L_thermo", L_thermo), ("L_coherence", L_coh))}
            if self.log_exact:
                pe = parameter_entropy(theta.detach().cpu().double().numpy(), self.bins, self.range,
                                       self.outside)
                self.last.update(H_exact_bits=pe.bits, H_exact_nats=pe.nats)
            return total

    _EITP = EITPLoss
    return _EITP


def __getattr__(name):
    if name == "EITPLoss":
        return _eitp_class()
    raise AttributeError(f"module 'analogsim.bounds._iem_torch' has no attribute {name!r}")
