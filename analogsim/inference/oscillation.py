r"""Runtime check of a finished Euler-Maruyama run: replicas caught in a bounded but wrong period-2 oscillation.

Above 2/lambda a tanh or relu mode can saturate into a 2-cycle of the EM map instead of diverging, so a run
can finish with finite energies and still be wrong. :func:`oscillation_check` finds such replicas from the
kernel's gradient at the final state and a few noise-free probe steps on copies; :func:`analogsim.inference.simulate.relax`
reports them on the result (status 'oscillating').
"""

from __future__ import annotations

import numpy as np

__all__ = ["oscillation_check", "OSC_THERMAL", "OSC_RETURN", "OSC_SUSTAIN", "OSC_PROBE"]

#: a replica is a suspect when its deterministic step |Gamma dt g|^2 exceeds OSC_THERMAL x the thermal scale
#: 2 Gamma dt kT (n + 10) (a stable mode in equilibrium gives at most 2 Gamma dt kT per neuron on average)
OSC_THERMAL = 2.0
#: period 2: |x_{k+2} - x_k| <= OSC_RETURN |x_{k+1} - x_k| (a linear mode: |2 - Gamma dt lambda|)
OSC_RETURN = 0.5
#: sustained: |x_{k+4} - x_{k+3}| >= OSC_SUSTAIN |x_{k+1} - x_k| (a stable linear mode decays as |1 - dt lambda|^3,
#: so with OSC_RETURN it is flagged only above Gamma dt lambda = 1.93, and only with a step far above thermal)
OSC_SUSTAIN = 0.8
#: probe steps taken (noise-free, on copies) from a suspect's final state
OSC_PROBE = 4


def oscillation_check(run, net, X):
    """Replicas whose final state sits on a bounded period-2 oscillation of the EM map (a mode with dt lambda >= 2).

    A run can "not blow up" and still be wrong: above 2/lambda a mode saturates into a 2-cycle. From the
    kernel's gradient at the final state, replicas whose deterministic step is far above the thermal scale
    are probed with :data:`OSC_PROBE` noise-free EM steps on copies (the run's state is not touched): a
    replica is flagged when the map returns near its start after two steps (period 2) and the step size
    does not decay. Cost without suspects: one pass over the kernel's gradient buffers.

    Returns
    -------
    dict or None
        ``replicas`` (list of int), ``cause`` (text), ``energy`` (H of each flagged replica), ``equipartition_energy``
        (n kT/2 for the moving neurons), ``return_ratio``, ``sustain_ratio``.

    Notes
    -----
    Energies are those of the Hamiltonian (Eq. 6, energy units, kT an energy). A replica is a suspect when its
    deterministic step |Gamma dt dH/dx|^2 exceeds :data:`OSC_THERMAL` times the thermal scale
    2 Gamma dt kT (n + 10); it is flagged when two probe steps return within :data:`OSC_RETURN` of a step and
    the step has not decayed below :data:`OSC_SUSTAIN` after :data:`OSC_PROBE` steps.

    Examples
    --------
    A stable run (Gamma dt lambda well below 2) relaxing from the minimum of H: nothing is flagged.
    :func:`analogsim.inference.simulate.relax` calls this after every Euler-Maruyama run and sets status 'oscillating'
    when it returns a dict.

    >>> import numpy as np
    >>> from analogsim import Network
    >>> from analogsim.inference.integrators import get_integrator
    >>> from analogsim.inference.langevin_run import LangevinRun
    >>> from analogsim.inference.protocols import Constant
    >>> net = Network.create([2, 4, 1], activations=["tanh", "identity"], seed=0)
    >>> X = np.zeros((8, 2))
    >>> run = LangevinRun(net, net.concat(net.forward(X)), kT=0.01, dt=0.05, integrator=get_integrator("em"),
    ...                   input_protocol=Constant(X), seed=1)
    >>> run.run(100)
    >>> oscillation_check(run, net, run.state()) is None
    True
    """
    from ..model.hamiltonian import OutputClamp, energy, grad_x

    a = run.gamma * run.dt
    nd = run._dyn_neurons()
    d1 = run.drift_sq()
    thermal = 2.0 * a * run.kT * (nd + 10)
    scale = 1e-20 * (1.0 + np.mean(X.astype(np.float64) ** 2)) * nd
    sus = np.where(d1 > OSC_THERMAL * thermal + scale)[0]
    if sus.size == 0:
        return None
    net64 = net if net.dtype == np.float64 else net.astype(np.float64)
    xs = [np.array(x, dtype=np.float64) for x in net64.split(X[sus].astype(np.float64))]
    clamp = None
    hard = run.hard
    if run.clamp is not None and not hard:
        tab, _ = run.target_protocol.tables(run.k, 0, run.dt, run.B, np.float64)
        A, D, s_, V = tab
        tgt = np.broadcast_to(A + s_[0] * D + (V[0] if V.shape[1] > 1 else V[0, 0][None, :]), (run.B, A.shape[1]))
        clamp = OutputClamp(np.array(tgt[sus]), run.clamp.stiffness)
    L = net64.depth
    dyn = range(1, L if hard else L + 1)
    traj = [np.concatenate([xs[l] for l in dyn], axis=1)]
    h0 = energy(net64, xs, clamp)
    for _ in range(OSC_PROBE):
        g = grad_x(net64, xs, clamp)
        for l in dyn:
            xs[l] = xs[l] - a * g[l]
        traj.append(np.concatenate([xs[l] for l in dyn], axis=1))
    n1 = np.linalg.norm(traj[1] - traj[0], axis=1)
    n2 = np.linalg.norm(traj[2] - traj[0], axis=1)
    n4 = np.linalg.norm(traj[OSC_PROBE] - traj[OSC_PROBE - 1], axis=1)
    ret = n2 / np.maximum(n1, 1e-300)
    sus_ = n4 / np.maximum(n1, 1e-300)
    bad = (ret <= OSC_RETURN) & (sus_ >= OSC_SUSTAIN)
    if not np.any(bad):
        return None
    idx = sus[bad]
    e_eq = 0.5 * nd * run.kT
    w = int(np.argmax(h0[bad]))
    cause = (f"period-2 oscillation of the Euler-Maruyama map (a mode with Gamma dt lambda >= 2 saturated instead of "
             f"diverging): replica {int(idx[w])} has H = {float(h0[bad][w]):.4g} against an equipartition energy "
             f"n kT/2 = {e_eq:.4g} of its moving neurons, its state returns to within "
             f"{float(ret[bad][w]):.2g} of a step after two steps and the step does not decay "
             f"({float(sus_[bad][w]):.2g} after {OSC_PROBE}); reduce dt (the stability guard, stability='auto', "
             f"computes a safe one) or use MALA()")
    return {"replicas": [int(i) for i in idx], "cause": cause, "energy": [float(v) for v in h0[bad]],
            "equipartition_energy": e_eq, "return_ratio": [float(v) for v in ret[bad]],
            "sustain_ratio": [float(v) for v in sus_[bad]]}
