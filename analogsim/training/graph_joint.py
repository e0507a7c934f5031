r"""The joint fidelity of graph-network training (:func:`analogsim.training.graph.train` with ``fidelity='joint'``).

Neurons (mobility Gamma, at kT, output hard-clamped) and parameters follow Euler-Maruyama Langevin dynamics
together for tau_inf per presentation (Eq. 11 for the parameters, the neurons' overdamped Langevin equation on H);
every neuron move books neuron heat and every parameter move parameter heat, as exact energy differences of
E = H + lambda/2 |theta|^2, so the first law ``Delta E = W_sw - Q_x - Q_theta`` closes per presentation.
"""

from __future__ import annotations

import numpy as np

from ..errors import DivergenceError
from ..model.graph import energy as E

__all__ = ["joint_presentation", "check_joint_dt"]


def check_joint_dt(net, xs, clamp, gam: float, dt: float) -> None:
    """Raise ValueError where the neurons' Euler-Maruyama step is unstable: Gamma dt lambda_max >= 2.

    lambda_max is the largest eigenvalue of the Hessian of H in the hidden neurons at ``xs`` (rows (B, n_l)).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> from analogsim.model.hamiltonian import OutputClamp
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> xs = net.forward(np.ones((2, 16)))
    >>> check_joint_dt(net, xs, OutputClamp(xs[-1]), 1.0, 0.1)
    """
    from ..inference.graph import lambda_max

    dtl = gam * dt * lambda_max(net, xs, clamp)
    if dtl >= 2:
        raise ValueError(f"dt = {dt} is unstable for the neurons: Gamma dt lambda_max = {dtl:.3g} >= 2; "
                         f"use dt < {2 * dt / dtl:.3g}")


def joint_presentation(net, xs, clamp, e_cur, n_sub, dt, gam, mu, kT, lam, rng, energy_of, s):
    """n_sub joint Euler-Maruyama steps (step dt) of the neurons, then the parameters, with their books.

    ``xs``: states as rows (B, n_l), modified in place (hidden layers); ``net.theta`` is updated in place;
    ``e_cur``: E at the start (energy units); ``energy_of(xs, clamp)``: E of a state; ``s``: the presentation
    (for the error message). Returns (mean g over the steps (N,), sum over steps of |g|^2, E at the end,
    neuron heat Q_x, parameter heat Q_theta); raises :class:`analogsim.errors.DivergenceError` on a non-finite
    state.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> from analogsim.model.hamiltonian import OutputClamp
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> xs = net.forward(np.ones((2, 16))); clamp = OutputClamp(np.zeros((2, 2))); xs[-1] = np.zeros((2, 2))
    >>> en = lambda xs, c: float(np.mean(E.energy(net, xs, c)))
    >>> e0 = en(xs, clamp)
    >>> g, gg, e1, qx, qth = joint_presentation(net, xs, clamp, e0, 5, 0.1, 1.0, 1.0, 1e-6, 0.0,
    ...                                         np.random.default_rng(0), en, 1)
    >>> bool(abs((e1 - e0) + qx + qth) < 1e-12)
    True
    """
    B = xs[0].shape[0]
    L = net.n_layers - 1
    sx, sth = np.sqrt(2 * gam * kT * dt), np.sqrt(2 * kT * mu * dt)
    q_x = q_th = gsq = 0.0
    g_acc = np.zeros(net.n_params)
    for _ in range(n_sub):
        _, gx = E.energy_and_grad(net, xs, clamp, input_force=False)
        for l in range(1, L):
            xs[l] = xs[l] - gam * dt * gx[l] + sx * rng.standard_normal(xs[l].shape)
        e = energy_of(xs, clamp)
        q_x += e_cur - e
        e_cur = e
        g = E.params_from_stress(net, xs, E.stress(net, xs), per_sample=False) / B + lam * net.theta
        net.theta += -mu * dt * g + sth * rng.standard_normal(net.n_params)
        if not np.all(np.isfinite(net.theta)) or not all(np.all(np.isfinite(x)) for x in xs):
            raise DivergenceError(f"train: non-finite state at presentation {s}", step=s,
                                  cause="reduce dt, mu or kT")
        e = energy_of(xs, clamp)
        q_th += e_cur - e
        e_cur = e
        g_acc += g
        gsq += float(g @ g)
    return g_acc / n_sub, gsq, e_cur, q_x, q_th
