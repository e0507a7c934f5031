r"""Figures of the measured training energy: the budget of a run and the 1/tau_switch law.

* :func:`plot_energy_budget`: cumulative switching work W_sw, neuron heat Q_x, parameter heat Q_theta and
  the energy change vs presentations (stacked: Q_x + Q_theta + delta_H = W_sw by the first law, whose
  largest residual is printed on the plot), with Eq. 15's prediction beside the measured Q_theta.
* :func:`plot_tau_switch_law`: neuron heat per switch vs tau_switch (log-log) with L^2/tau_switch, L^2 the
  thermodynamic length of the clamp path (Eq. 7 inside training).
* :func:`tau_switch_scan` runs the scan, :func:`energy_figure` draws both panels (``docs/figures``).

Examples
--------
>>> import numpy as np
>>> from analogsim.training.figures import plot_tau_switch_law
>>> ax = plot_tau_switch_law([8.0, 16.0, 32.0], [0.24, 0.12, 0.06], 1.92)
>>> ax.get_xscale()
'log'
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_energy_budget", "plot_tau_switch_law", "tau_switch_scan", "energy_figure"]


def _axes(ax):
    if ax is None:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5.5, 4))
    return ax


def plot_energy_budget(result, ax=None):
    """Stacked cumulative energy budget of a :class:`~analogsim.training.TrainResult` vs presentations.

    The heats Q_x (neurons) and Q_theta (parameters) and the energy change delta_H are stacked; their sum
    is the switching work W_sw (drawn as a line) up to the first-law residual, whose largest value per
    presentation is written on the axes (in red when it exceeds 1e-6 of the budget). Eq. 15's prediction
    W = mu tau <|grad F|^2> is drawn dashed beside the measured Q_theta. Energies in the units of H.

    Returns the axes. Raises ValueError if the run kept no energetics (``energetics=False``).

    Examples
    --------
    >>> from analogsim import Network
    >>> from analogsim.data import teacher_student
    >>> from analogsim.training import train
    >>> ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=0, seed=0)
    >>> net = Network.create([2, 3, 1], activations=["tanh", "identity"], seed=1)
    >>> r = train(net, ds, presentations=50, mu=0.3, kappa_out=0.1, fidelity="joint", neuron_mobility=10.0,
    ...           tau_switch=1.0, seed=2, eval_every=5)
    >>> ax = plot_energy_budget(r)
    >>> len(ax.lines) >= 1
    True
    """
    b = result.books
    if not b.energetics:
        raise ValueError("this run kept no energy books (energetics=False); train with energetics=True")
    rec = result.records
    s = np.asarray(rec["presentation"], dtype=float)
    qx = np.asarray(rec["Q_x"], dtype=float)
    qt = np.asarray(rec["Q_theta"], dtype=float)
    dh = np.asarray(rec["delta_H"], dtype=float)
    wsw = np.asarray(rec["W_sw"], dtype=float)
    ax = _axes(ax)
    ax.stackplot(s, qx, qt, dh, labels=["neuron heat $Q_x$", r"parameter heat $Q_\theta$", r"$\Delta H$"],
                 colors=["#8fb3d9", "#e3a36b", "#b9b9b9"], alpha=0.85)
    ax.plot(s, wsw, color="k", lw=1.5, label=r"switching work $W_{sw}$")
    # the parameter heat on its own scale (it is often orders of magnitude below the neuron heat)
    ins = ax.inset_axes([0.58, 0.1, 0.38, 0.33])
    ins.plot(s, qt, color="#a0522d", lw=1.2, label=r"$Q_\theta$ measured")
    ins.plot(s, np.asarray(rec["W"], dtype=float), color="#a0522d", lw=1.2, ls="--",
             label=r"Eq. 15: $\mu\tau\langle|\nabla F|^2\rangle$")
    ins.tick_params(labelsize=6)
    ins.legend(fontsize=6, loc="upper left")
    scale = max(abs(b.W_sw), abs(b.Q_x) + abs(b.Q_theta), 1e-300)
    bad = not np.isfinite(b.first_law_residual_max) or b.first_law_residual_max > 1e-6 * scale
    ax.text(0.02, 0.97, f"first law: max residual {b.first_law_residual_max:.1e}"
            + (" (LARGE: reduce dt)" if bad else ""), transform=ax.transAxes, va="top", fontsize=8,
            color="red" if bad else "0.3")
    ax.set_xlabel("presentations")
    ax.set_ylabel("cumulative energy")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, 0.9))
    return ax


def plot_tau_switch_law(taus, q_x, L2, ax=None):
    """Neuron heat per switch vs the ramp duration tau_switch (log-log) against L^2/tau_switch.

    Parameters
    ----------
    taus : sequence of float
        Ramp durations.
    q_x : sequence of float
        Measured neuron heat per switch at each duration.
    L2 : float
        Thermodynamic length of the clamp path (per switch), e.g. from
        :func:`analogsim.inference.protocols.thermodynamic_length`.

    Returns the axes (the fitted slope of the two longest ramps is written on it). Eq. 7 inside training: the
    heat of a ramp of duration tau falls as L^2/tau (energy units of H; tau in the time units of the dynamics).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> ax = plot_tau_switch_law([8.0, 16.0, 32.0], [0.24, 0.12, 0.06], 1.92)
    >>> ax.get_xscale(), ax.get_ylabel()
    ('log', 'neuron heat per switch')
    >>> plt.close(ax.figure)
    """
    taus = np.asarray(taus, dtype=float)
    q_x = np.asarray(q_x, dtype=float)
    ax = _axes(ax)
    ax.loglog(taus, q_x, "o-", label=r"measured $Q_x$ per switch")
    t = np.geomspace(taus.min(), taus.max(), 50)
    ax.loglog(t, L2 / t, "k--", label=r"$L^2/\tau_{switch}$ (T = 0 path)")
    if taus.size >= 2:
        slope = np.polyfit(np.log(taus[-2:]), np.log(q_x[-2:]), 1)[0]
        ax.text(0.05, 0.05, f"slope (two longest) {slope:.3f}; $\\tau Q_x/L^2$ = {taus[-1] * q_x[-1] / L2:.3f}",
                transform=ax.transAxes, fontsize=8)
    ax.set_xlabel(r"ramp duration $\tau_{switch}$")
    ax.set_ylabel("neuron heat per switch")
    ax.legend(fontsize=8)
    return ax


def tau_switch_scan(net, data, taus, *, presentations: int = 12, tau_inf: float = 2.0, kappa_out: float = 1e-3,
                    neuron_mobility: float = 1.0, order: str = "cyclic", seed: int = 0):
    """Neuron heat per switch for ramps of each duration (joint fidelity, T = 0, parameters held by mu = 1e-9)
    and the thermodynamic length of the same clamp path. Returns ``(q_x per switch, L^2 per switch)``.

    The heat is measured on the simulated ramps (Sekimoto books of :func:`~analogsim.training.train`) and
    compared with Eq. 7's prediction L^2/tau_switch: tau_switch Q_x / L^2 -> 1 for slow ramps. Energies in the
    units of H, durations in the time units of the dynamics.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> from analogsim.data import from_arrays
    >>> x = np.linspace(-1, 1, 8)[:, None]
    >>> net = Network.create([1, 4, 1], activations=["tanh", "identity"], kappa=1.0, seed=3)
    >>> q, L2 = tau_switch_scan(net, from_arrays(x, np.tanh(2 * x)), [8.0, 32.0], presentations=6)
    >>> bool(q[0] > q[1] > 0)                        # slower ramps dissipate less
    True
    >>> bool(0.9 < 32.0 * q[1] / L2 < 1.1)           # Eq. 7: Q_x -> L^2 / tau_switch
    True
    """
    from ..inference.protocols import thermodynamic_length
    from .config import presentation_order
    from .engine import coerce_data, train

    ds = coerce_data(data, net)
    idx = presentation_order(ds.n_train, presentations, order, seed)[:, 0]
    x = ds.x_train
    L2 = float(thermodynamic_length(net, x[idx[:-1]], x[idx[1:]], gamma=neuron_mobility).mean())
    q = []
    for tau in taus:
        b = train(net, ds, presentations=presentations, mu=1e-9, tau_inf=tau_inf, kappa_out=kappa_out, kT=0.0,
                  fidelity="joint", neuron_mobility=neuron_mobility, tau_switch=float(tau), order=order, seed=seed,
                  eval_every=presentations).books
        q.append(b.Q_x / (presentations - 1))
    return np.array(q), L2


def energy_figure(result, taus, q_x, L2, path=None):
    """Both panels side by side; saved to ``path`` (atomically) if given. Returns the figure.

    Left :func:`plot_energy_budget` of ``result`` (first law, Eq. 15 beside the measured Q_theta), right
    :func:`plot_tau_switch_law` of ``taus``, ``q_x``, ``L2`` (Eq. 7).

    Examples
    --------
    >>> import os, tempfile
    >>> import matplotlib.pyplot as plt
    >>> from analogsim import Network
    >>> from analogsim.data import teacher_student
    >>> from analogsim.training import train
    >>> ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=0, seed=0)
    >>> net = Network.create([2, 3, 1], activations=["tanh", "identity"], seed=1)
    >>> r = train(net, ds, presentations=50, mu=0.3, kappa_out=0.1, fidelity="joint", neuron_mobility=10.0,
    ...           tau_switch=1.0, seed=2, eval_every=5)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     fig = energy_figure(r, [8.0, 16.0, 32.0], [0.24, 0.12, 0.06], 1.92, path=os.path.join(d, "e.png"))
    ...     os.path.getsize(os.path.join(d, "e.png")) > 0
    True
    >>> fig.axes[0].get_title(), fig.axes[1].get_title().endswith("(Eq. 7)")
    ('energy budget of a training run', True)
    >>> plt.close(fig)
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    plot_energy_budget(result, a)
    a.set_title("energy budget of a training run")
    plot_tau_switch_law(taus, q_x, L2, b)
    b.set_title(r"neuron heat falls as $1/\tau_{switch}$ (Eq. 7)")
    fig.tight_layout()
    if path is not None:
        import io

        from .._io import atomic_write_bytes

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        atomic_write_bytes(path, buf.getvalue())
    return fig


def docs_figure(path):
    """The figure of ``docs/training.md``: the budget of a joint-fidelity run ([2,4,1] tanh net, 400
    presentations, Gamma/mu = 100, tau_switch = 2, kT = 1e-4) and the tau_switch scan on a [1,4,4,1] tanh net
    (tau_switch = 4 .. 512). About 20 s on one core. Returns the figure.

    Energies in the units of H; the right panel tests Eq. 7 (neuron heat L^2/tau_switch), the left one the
    first law and Eq. 15. The sizes are fixed (they are the documentation's), so the call below takes several
    seconds and is not run as a doctest; :func:`energy_figure` shows the same panels on a tiny run.

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:                     # doctest: +SKIP
    ...     fig = docs_figure(os.path.join(d, "training_energy.png"))
    >>> len(fig.axes)                                                # doctest: +SKIP
    2
    """
    from ..data import from_arrays, teacher_student
    from ..model.network import Network
    from .engine import train

    ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=0, teacher_hidden=(3,), seed=0)
    net = Network.create([2, 4, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)
    r = train(net, ds, presentations=400, mu=0.3, kappa_out=0.1, kT=1e-4, fidelity="joint", neuron_mobility=30.0,
              tau_switch=2.0, seed=2, eval_every=10)
    x = np.linspace(-1, 1, 8)[:, None]
    ds1 = from_arrays(x, np.tanh(2 * x))
    n0 = Network.create([1, 4, 4, 1], activations=["tanh", "tanh", "identity"], kappa=1.0, seed=3)
    taus = [4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]
    q, L2 = tau_switch_scan(n0.with_theta(0.5 * n0.theta), ds1, taus)
    return energy_figure(r, taus, q, L2, path)
