r"""Langevin relaxation of a graph network's neurons, with Sekimoto's energy books (vectorised numpy).

Overdamped dynamics of B replicas, :math:`dx = -\Gamma\,\partial H/\partial x\,dt + \sqrt{2\Gamma kT}\,dW`, for
every non-input layer (and not the output under a hard clamp), integrated by Euler-Maruyama or MALA (the same
integrators as the dense chain: :mod:`analogsim.inference.integrators`). The clamped input may move along a protocol
(:class:`analogsim.inference.protocols.Ramp`, ``Sampled``, ``Constant``, or a plain array).

Books per step k (Sekimoto): the clamp moves first, lambda_k -> lambda_{k+1}, doing the work
``W_k = H(x_k; lambda_{k+1}) - H(x_k; lambda_k)``; then the neurons move at fixed clamp and absorb the heat
``Q_k = H(x_{k+1}; lambda_{k+1}) - H(x_k; lambda_{k+1})`` from the bath (negative: heat released). The first law
``H_end - H_start = W + Q`` then closes per step up to rounding; the residual is reported, never forced.

Examples
--------
>>> import numpy as np
>>> from analogsim.graph import GraphBuilder
>>> from analogsim.inference.graph import relax
>>> b = GraphBuilder((1, 4, 4)); _ = b.conv(b.input, 2, 3, padding=1, activation="tanh")
>>> net = b.build(seed=0)
>>> r = relax(net, np.zeros(16), kT=0.1, dt=0.02, n_steps=50, n_replicas=8, seed=0)
>>> r.work.shape, bool(np.abs(r.first_law_residual).max() < 1e-12)
((8,), True)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._checks import as_generator, check_kT, check_scalar
from ..errors import DivergenceError
from ..model.hamiltonian import OutputClamp
from .integrators import MALA, EulerMaruyama, get_integrator
from ..model.graph import energy as E

__all__ = ["relax", "GraphRelaxResult", "lambda_max"]

# Gamma dt lambda_max above which EM's predicted worst-layer equipartition bias exceeds 1 % (the measured constant of
# the dense chain's stability guard, docs/theory/langevin.md)
from .stability import EM_BIAS_WARN_DTL as EM_BIAS_WARN  # noqa: E402


@dataclass
class GraphRelaxResult:
    """Outcome of :func:`relax`.

    Attributes
    ----------
    xs : list of arrays
        Final state, each (B, n_l).
    work, heat : arrays (B,)
        Work done by the moving clamp and heat absorbed from the bath, per replica (energy units).
    energy_start, energy_end : arrays (B,)
    first_law_residual : array (B,)
        energy_end - energy_start - work - heat (rounding only).
    acceptance : float
        MALA's acceptance rate (1.0 for EM).
    dt_lambda : float
        Gamma dt lambda_max at the checked states (the worst replica).
    moments : array (B, L)
        Time average over the recorded steps of kappa_l |delta_l|^2 / n_l per replica and layer.
    n_recorded : int
    kT : float
    integrator : str

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> r = relax(net, np.zeros(16), kT=0.1, dt=0.02, n_steps=20, n_replicas=4, seed=0)
    >>> r.work.shape, r.integrator
    ((4,), 'euler_maruyama')
    """

    xs: list
    work: np.ndarray
    heat: np.ndarray
    energy_start: np.ndarray
    energy_end: np.ndarray
    first_law_residual: np.ndarray
    acceptance: float
    dt_lambda: float
    moments: np.ndarray
    n_recorded: int
    kT: float
    integrator: str

    def equipartition(self):
        """Per layer <kappa delta^2>/kT and its standard error across replicas (independent replicas)."""
        if self.n_recorded == 0 or self.kT <= 0:
            raise ValueError("equipartition needs kT > 0 and recorded steps (n_steps > burn_in)")
        e = self.moments / self.kT
        return e.mean(axis=0), e.std(axis=0, ddof=1) / np.sqrt(e.shape[0])


def lambda_max(net, xs, clamp=None, n_iter: int = 60, seed=0) -> float:
    """Largest eigenvalue of the x-Hessian over the free layers (power iteration, worst replica).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> xs = net.forward(np.ones((3, 16)))
    >>> bool(lambda_max(net, xs) >= 1.0)
    True
    """
    free = _free(net, clamp)
    rng = np.random.default_rng(seed)
    v = [np.zeros_like(x) for x in xs]
    for l in free:
        v[l] = rng.standard_normal(xs[l].shape)
    lam = np.zeros(xs[0].shape[0])
    for _ in range(n_iter):
        nrm = np.sqrt(sum(np.sum(v[l] * v[l], axis=1) for l in free))
        v = [a / nrm[:, None] for a in v]
        hv = E.hvp_x(net, xs, v, clamp)
        lam = sum(np.sum(v[l] * hv[l], axis=1) for l in free)
        v = [hv[l] if l in free else np.zeros_like(hv[l]) for l in range(len(hv))]
    return float(np.max(lam))


def _free(net, clamp):
    return [l for l in range(1, net.n_layers) if not (clamp is not None and clamp.hard and l == net.n_layers - 1)]


def _input_path(net, x0, n_steps, dt, B):
    """Clamp values at the n_steps + 1 grid times: array (n_steps + 1, B, n_0) (a view if constant)."""
    from .protocols import Protocol

    if isinstance(x0, Protocol):
        v = np.asarray(x0.value(np.arange(n_steps + 1) * dt), dtype=net.dtype)
        if v.ndim == 2:
            v = v[:, None, :]
        if v.shape[-1] != net.sizes[0] or v.shape[1] not in (1, B):
            raise ValueError(f"x0: the protocol must give {net.sizes[0]} values per row and 1 or {B} rows, "
                             f"got shape {v.shape[1:]}")
        return np.broadcast_to(v, (n_steps + 1, B, net.sizes[0])), True
    x = net.check_input(x0)
    if x.shape[0] not in (1, B):
        raise ValueError(f"x0 must have 1 or {B} rows, got {x.shape[0]}")
    return np.broadcast_to(x[None], (n_steps + 1, B, net.sizes[0])), False


def relax(net, x0, kT: float, dt: float, n_steps: int, *, integrator="em", gamma: float = 1.0,
          clamp: OutputClamp | None = None, n_replicas: int | None = None, x_init=None, seed=None,
          burn_in: int = 0, check_stability: bool = True, moments: bool = True) -> GraphRelaxResult:
    r"""Integrate the neurons' Langevin equation on a graph network and book work and heat.

    Parameters
    ----------
    net : GraphNetwork
    x0 : array or Protocol
        The clamped input: (n_0,) / (B, n_0) / input shape, or a protocol of the input over time t = k dt.
    kT : float
        Temperature (energy units; MALA needs kT > 0).
    dt : float
        Time step; stability needs Gamma dt lambda_max < 2 (checked at the start and the end of the protocol).
    n_steps : int
    integrator : 'em', 'mala' or an Integrator
        :class:`~analogsim.inference.integrators.EulerMaruyama` (biased by ~0.06 Gamma dt lambda_max; warns above 0.1) or
        :class:`~analogsim.inference.integrators.MALA` (exact stationary law).
    gamma : float
        Neuron mobility Gamma.
    clamp : OutputClamp, optional
        Output clamp (hard: x_L held; soft: a spring). Default: free output.
    n_replicas : int, optional
        Number of replicas B (default: the rows of x0 / x_init).
    x_init : list of arrays, optional
        Start state; default: an exact equilibrium sample at lambda_0 (free output) or its hard-clamped version.
    seed : int, SeedSequence or Generator, optional
    burn_in : int
        Steps before the equipartition moments are recorded.
    check_stability : bool
    moments : bool
        Record the equipartition moments (one extra forward pass per step); False for timing runs.

    Returns
    -------
    GraphRelaxResult

    Raises
    ------
    ValueError
        Bad arguments, or Gamma dt lambda_max >= 2 (names dt, lambda and 2/lambda).
    DivergenceError
        A non-finite state, naming the step.

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim.graph import GraphBuilder
    >>> b = GraphBuilder((1, 4, 4)); _ = b.dense(b.conv(b.input, 2, 3, activation="tanh"), 2)
    >>> net = b.build(seed=0)
    >>> r = relax(net, np.zeros(16), kT=0.1, dt=0.02, n_steps=50, integrator="mala",
    ...           n_replicas=8, seed=0)
    >>> 0 < r.acceptance <= 1
    True
    """
    integ = get_integrator(integrator)
    kT = check_kT(kT)
    dt = check_scalar(dt, "dt", low=0.0, low_open=True)
    gamma = check_scalar(gamma, "gamma", low=0.0, low_open=True)
    n_steps = check_scalar(n_steps, "n_steps", low=1, integer=True)
    burn_in = check_scalar(burn_in, "burn_in", low=0, integer=True)
    if isinstance(integ, MALA) and kT == 0:
        raise ValueError("MALA needs kT > 0 (its acceptance divides by kT); use integrator='em' at kT = 0")
    if not isinstance(integ, (EulerMaruyama, MALA)):
        raise ValueError(f"integrator must be EulerMaruyama or MALA on graphs, got {integ!r}")
    rng = as_generator(seed)
    if x_init is not None:
        xs = [np.array(a, dtype=net.dtype) for a in E.check_state(net, x_init, "x_init")]
        B = xs[0].shape[0]
    else:
        from .protocols import Protocol

        B = n_replicas
        if B is None:
            B = x0.rows() if isinstance(x0, Protocol) else net.check_input(x0).shape[0]
        B = check_scalar(B, "n_replicas", low=1, integer=True)
    path, moving = _input_path(net, x0, n_steps, dt, B)
    if x_init is None:
        from ..model.graph.equilibrium import sample_equilibrium

        xs = [np.array(a) for a in sample_equilibrium(net, np.ascontiguousarray(path[0]), kT, seed=rng).xs]
    xs[0] = np.array(path[0])
    if clamp is not None:
        clamp = OutputClamp(net.check_output(clamp.target, batch=B), clamp.stiffness)
        if clamp.hard:
            xs[-1] = np.array(clamp.target)
    free = _free(net, clamp)
    dtl = 0.0
    if check_stability:
        ends = [xs] + ([[np.array(path[-1])] + xs[1:]] if moving else [])
        lam = max(lambda_max(net, s, clamp) for s in ends)
        dtl = gamma * dt * lam
        if dtl >= 2:
            raise ValueError(f"dt = {dt} is unstable: Gamma dt lambda_max = {dtl:.3g} >= 2 (lambda_max = {lam:.4g}); "
                             f"use dt < {2 / (gamma * lam):.3g}")
        if isinstance(integ, EulerMaruyama) and dtl > EM_BIAS_WARN and kT > 0:
            warnings.warn(f"Euler-Maruyama at Gamma dt lambda_max = {dtl:.3g} > {EM_BIAS_WARN}: its equipartition "
                          f"bias is above ~1 %; use a smaller dt or integrator='mala'", stacklevel=2)
    noise = np.sqrt(2 * gamma * kT * dt)
    # the Langevin noise from the numba streams (a xoshiro256++ state drawn from the seed's generator; the
    # vectorised ziggurat / float32 Box-Muller of analogsim.kernels.rng), an EM step fused with its noise
    from ..kernels.rng import em_noise_w, fill_noise_w, noise_work

    state = rng.bit_generator.random_raw(4).astype(np.uint64)
    if not state.any():  # the one state xoshiro256++ cannot leave
        state[0] = 1
    nw = noise_work()
    H, g = E.energy_and_grad(net, xs, clamp, input_force=False)
    H_start = H.copy()
    work = np.zeros(B)
    heat = np.zeros(B)
    mom = np.zeros((B, net.depth))
    n_rec = 0
    n_acc = 0
    gdt = gamma * dt
    for k in range(n_steps):
        if moving:
            xs[0] = np.array(path[k + 1])
            H_new, g = E.energy_and_grad(net, xs, clamp, input_force=False)
            work += H_new - H
            H = H_new
        if isinstance(integ, EulerMaruyama):
            for l in free:  # x += -Gamma dt g + noise z, in place (xs[l] are this call's own arrays)
                em_noise_w(state, xs[l].reshape(-1), np.ascontiguousarray(g[l]).reshape(-1), gdt, noise, nw)
            H_new, g = E.energy_and_grad(net, xs, clamp, input_force=False)
        else:
            prop = list(xs)
            xi = {l: np.empty(xs[l].shape, dtype=xs[l].dtype) for l in free}
            for l in free:
                fill_noise_w(state, xi[l].reshape(-1), nw)
            for l in free:
                prop[l] = xs[l] - gdt * g[l] + noise * xi[l]
            Hp, gp = E.energy_and_grad(net, prop, clamp, input_force=False)
            # log q(x | x') - log q(x' | x) with q Gaussian of variance 2 Gamma kT dt
            fwd = sum(np.sum(xi[l] ** 2, axis=1) for l in free) / 2
            back = sum(np.sum((xs[l] - prop[l] + gdt * gp[l]) ** 2, axis=1) for l in free) / (
                4 * gamma * kT * dt)
            log_a = -(Hp - H) / kT - back + fwd
            acc = np.log(rng.random(B)) < log_a
            n_acc += int(acc.sum())
            for l in free:
                xs[l] = np.where(acc[:, None], prop[l], xs[l])
                g[l] = np.where(acc[:, None], gp[l], g[l])
            H_new = np.where(acc, Hp, H)
        heat += H_new - H
        H = H_new
        if not np.all(np.isfinite(H)):
            raise DivergenceError(f"relax: non-finite state at step {k + 1} (Gamma dt lambda_max = {dtl:.3g})",
                                  step=k + 1, cause="reduce dt")
        if moments and k + 1 > burn_in:
            d = E.residuals(net, xs)
            for l in range(net.depth):
                mom[:, l] += np.sum(net.kappa[l] * d[l] ** 2, axis=1) / net.sizes[l + 1]
            n_rec += 1
    H_end = E.energy(net, xs, clamp)
    return GraphRelaxResult(xs, work, heat, H_start, H_end, H_end - H_start - work - heat,
                            n_acc / (B * n_steps) if isinstance(integ, MALA) else 1.0, dtl,
                            mom / max(n_rec, 1), n_rec, kT, integ.name)
