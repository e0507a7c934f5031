r"""Full-batch quantities of the training energy: per-entry clamped-minimum energies F_alpha and
stress gradients, the mean objective and its deterministic minimiser.

The training energy of a network on a data set is

.. math::  \bar F(\theta) = \frac{1}{D}\sum_\alpha F_\alpha(\theta) + \frac{\lambda}{2}|\theta|^2,

with F_alpha the minimum of H over the hidden neurons with entry alpha clamped (output spring
kappa_out, see :func:`analogsim.training.effective_output_stiffness`); by the envelope theorem
dF_alpha/dtheta is the stress gradient dH/dtheta at that minimum (Eq. 9). At kT = 0 the parameter
dynamics of :func:`analogsim.training.train` descends this objective; its Gibbs measure at kT is
exp(-F̄/kT) in the small-step limit.
"""

from __future__ import annotations

import numpy as np

from ..model.network import Network
from .loss import _kernel_net, _Workspace, coerce_data, effective_output_stiffness
from .loss import mse_loss as _mse

__all__ = ["stress_gradients", "full_batch_objective", "minimize_objective", "mse_loss"]

_BLOCK = 64


def mse_loss(net: Network, data, which: str = "train") -> float:
    """Mean over entries of 0.5 |f(x) - t|^2 (zero-temperature forward pass) on the train or test part.

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 1], activations="identity", seed=0)
    >>> mse_loss(net, ([[0.0, 0.0]], [[1.0]]))
    0.5
    """
    ds = coerce_data(data, net)
    if which not in ("train", "test"):
        raise ValueError(f"which must be 'train' or 'test', got {which!r}")
    x, t = (ds.x_train, ds.t_train) if which == "train" else (ds.x_test, ds.t_test)
    return _mse(net, x, t)


def stress_gradients(net: Network, x, t, kappa_out=None, *, tol: float | None = None, max_sweeps: int = 60,
                     want_grad: bool = True):
    """Clamped-minimum energies and stress gradients for every row of (x, t).

    Returns
    -------
    energy : ndarray (D,)
        F_alpha = min over hidden x of H with x_0 = x_alpha, output clamped to t_alpha (soft spring
        ``kappa_out``, or hard if None).
    grad_sum : ndarray (N,)
        sum over alpha of dF_alpha/dtheta (zeros if not ``want_grad``).
    gsq : ndarray (D,)
        |dF_alpha/dtheta|^2 per entry.

    Rows where the fixed point does not converge are solved with the Newton reference
    (:func:`analogsim.model.equilibrium.clamped_minimum`).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network.create([3, 5, 2], activations=["tanh", "identity"], seed=0)
    >>> e, g, gsq = stress_gradients(net, np.ones((4, 3)), np.zeros((4, 2)), kappa_out=1e-3)
    >>> e.shape, g.shape
    ((4,), (32,))
    """
    from ..kernels.train import batch_objective

    x = net.check_input(x, "x")
    t = net.check_output(t, batch=x.shape[0], name="t")
    D = x.shape[0]
    tol = 8 * float(np.finfo(net.dtype).eps) if tol is None else float(tol)
    kout = effective_output_stiffness(net, kappa_out)
    B = min(_BLOCK, D)
    ws = _Workspace(net, B)
    theta, sizes, w_off, b_off, acts, kappa, k_off = _kernel_net(net)
    energy = np.zeros(D, np.float64)
    grad = np.zeros(net.n_params, np.float64)
    gsq = np.zeros(D, np.float64)
    conv = np.zeros(D, np.int64)
    batch_objective(theta, sizes, w_off, b_off, acts, kappa, k_off, kout, x, t, B, want_grad,
                    ws.x0, ws.tb, ws.Y, ws.FP, ws.DEL, ws.XS, ws.SIG, ws.FV, ws.YN, ws.scr, ws.relg, ws.hrow, tol,
                    max_sweeps, energy, grad, gsq, conv)
    bad = np.flatnonzero(conv == 0)
    if bad.size:
        from ..model.equilibrium import clamped_minimum

        m = clamped_minimum(net, x[bad], t[bad], output_stiffness=kappa_out, max_iter=200)
        energy[bad] = m.energy
        gt = m.grad_theta.astype(np.float64)
        if want_grad:
            grad += gt.sum(axis=0)
            gsq[bad] = np.sum(gt * gt, axis=1)
    return energy, grad, gsq


def full_batch_objective(net: Network, data, kappa_out=None, weight_decay: float = 0.0, theta=None):
    r"""F̄(theta) = mean_alpha F_alpha + (lambda/2)|theta|^2 and its gradient on the training entries.

    Returns ``(value, grad)`` in float64 (``theta`` defaults to ``net.theta``).

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([2, 1], activations="identity", kappa=1.0, seed=0)
    >>> v, g = full_batch_objective(net, ([[0.0, 0.0]], [[1.0]]), kappa_out=1.0)
    >>> round(v, 12)   # kout = 1*1/(1+1) = 0.5; F = 0.5/2 * 1^2
    0.25
    """
    ds = coerce_data(data, net)
    work = net if theta is None else net.with_theta(theta)
    e, g, _ = stress_gradients(work, ds.x_train, ds.t_train, kappa_out)
    D = ds.n_train
    th = work.theta.astype(np.float64)
    value = float(np.mean(e)) + 0.5 * weight_decay * float(th @ th)
    return value, g / D + weight_decay * th


def gradient_variance(net: Network, data, kappa_out=None) -> float:
    """Sum over parameters of the variance over the training entries of dF_alpha/dtheta (at net.theta).

    This is the var(grad F) of Eq. 16 (the presentation noise); rho = <|g|^2>/var g uses it.

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.data import teacher_student
    >>> ds = teacher_student(n_in=2, n_out=1, n_train=32, n_test=8, seed=0)
    >>> net = Network.create([2, 4, 1], activations=["tanh", "identity"], seed=1)
    >>> gradient_variance(net, ds, kappa_out=1e-3) > 0
    True
    """
    ds = coerce_data(data, net)
    _, g, gsq = stress_gradients(net, ds.x_train, ds.t_train, kappa_out)
    D = ds.n_train
    gm = g / D
    return float(np.mean(gsq) - gm @ gm) * D / max(D - 1, 1)


def minimize_objective(net: Network, data, kappa_out=None, weight_decay: float = 0.0, *, gtol: float = 1e-10,
                       maxiter: int = 20000):
    """Deterministic minimiser of the full-batch training energy F̄ (L-BFGS on float64 parameters).

    Starts at ``net.theta``; returns ``(net_opt, info)`` with ``info`` = {value, grad_norm, n_iter,
    success, message}. Use it to find the optimum from which the T* chains start.

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.data import teacher_student
    >>> ds = teacher_student(n_in=3, n_out=1, n_train=50, n_test=0, teacher_hidden=(), seed=0)
    >>> net = Network.create([3, 1], activations="identity", seed=1)
    >>> opt, info = minimize_objective(net, ds, kappa_out=1e-3)
    >>> info["grad_norm"] < 1e-9
    True
    """
    from scipy.optimize import minimize

    ds = coerce_data(data, net)
    work = net.astype("float64")
    ds64 = ds.astype(np.float64)

    def fun(th):
        work.theta[...] = th
        v, g = full_batch_objective(work, ds64, kappa_out, weight_decay)
        return v, g

    th0 = work.theta.copy()
    _, g0 = fun(th0)
    scale = max(float(np.linalg.norm(g0)), 1e-300)  # optimise F̄/scale so that the initial gradient has norm 1

    def scaled(th):
        v, g = fun(th)
        return v / scale, g / scale

    res = minimize(scaled, th0, jac=True, method="L-BFGS-B",
                   options={"maxiter": int(maxiter), "gtol": gtol / scale, "ftol": 0.0, "maxcor": 30})
    work.theta[...] = res.x
    v, g = fun(res.x)
    opt = net.with_theta(res.x.astype(net.dtype))
    return opt, {"value": v, "grad_norm": float(np.linalg.norm(g)), "n_iter": int(res.nit),
                 "success": bool(res.success), "message": str(res.message)}
