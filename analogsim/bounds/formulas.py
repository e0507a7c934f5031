"""Thermodynamic bounds on the energy of inference and training (Tkachenko, Eq. 5, 7, 16, 17, 19, 20).

Every bound is computed in natural units (multiples of kT, k_B = 1) and carried by an :class:`Energy`,
which converts to joules at a temperature T (kelvin, default 300 K, ``scipy.constants.k``) and to bits
(negentropy, Eq. 20: ``E / (kT ln 2)``). Table I of the paper is recomputed in :mod:`analogsim.bounds.table_i`.

Examples
--------
>>> from analogsim import bounds
>>> e = bounds.training_bound(N=671e9, S=1)        # Eq. 16 per presentation (token)
>>> round(e.nat), f"{e.joules:.2e}"
(1342000000000, '5.56e-09')
>>> bounds.inference_dynamic(nu=100, nu_a=50).bits   # p = 1/2: one bit per neuron
100.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._checks import check_scalar
# The constants, kT in joules and the Energy value type live in analogsim.bounds.units (one definition).
from .units import K_B, LN2, T_ROOM, Energy, check_temperature, kT_joules  # noqa: F401


def landauer(bits, T=T_ROOM) -> Energy:
    """Landauer's bound for erasing ``bits`` bits: bits * kT ln 2.

    Examples
    --------
    >>> f"{landauer(16).joules:.2e}"   # one 16-bit FLOP at 300 K ("~5e-20 J" in the paper's text)
    '4.59e-20'
    """
    return Energy(check_scalar(bits, "bits", low=0.0) * LN2, check_temperature(T))


def negentropy_bits(F, kT=1.0) -> float:
    """Negentropy J = F / (kT ln 2) in bits (Eq. 20) for a free energy F in the same units as ``kT``.

    Examples
    --------
    >>> negentropy_bits(LN2 * 0.5, kT=0.5)
    1.0
    """
    kT = check_scalar(kT, "kT", low=0.0, low_open=True)
    return check_scalar(F, "F") / (kT * LN2)


# ------------------------------------------------------------------------ Eq. 5: dynamic inference
def binary_entropy(p) -> float:
    """-p ln p - (1-p) ln(1-p) in nats, for 0 < p < 1.

    Examples
    --------
    >>> binary_entropy(0.5) == LN2
    True
    """
    p = check_scalar(p, "p")
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in the open interval (0, 1), got {p!r}")
    return float(-(p * math.log(p) + (1.0 - p) * math.log1p(-p)))


def _nu_pair(nu, nu_a, p):
    nu = check_scalar(nu, "nu", low=0.0, low_open=True)
    if (nu_a is None) == (p is None):
        raise TypeError("give exactly one of nu_a (mean active neurons) or p (activation probability)")
    if p is not None:
        p = check_scalar(p, "p")
        if not 0.0 < p < 1.0:
            raise ValueError(f"p must be in the open interval (0, 1), got {p!r}")
        return nu, p * nu, p
    nu_a = check_scalar(nu_a, "nu_a", low=0.0)
    if not 0.0 < nu_a < nu:
        raise ValueError(f"nu_a must satisfy 0 < nu_a < nu = {nu:g} (so that p = nu_a/nu is in (0, 1)), "
                         f"got {nu_a!r}")
    return nu, nu_a, nu_a / nu


def inference_dynamic(nu, nu_a=None, *, p=None, form: str = "exact", T=T_ROOM) -> Energy:
    """Eq. 5: the reset cost of one inference on a dynamic analog (neuromorphic) machine.

    ``form="exact"``:   E = kT nu H2(p),  H2(p) = -p ln p - (1-p) ln(1-p), p = nu_a / nu;
    ``form="small_p"``: E = kT nu_a (1 + ln(nu / nu_a)), the p << 1 expansion (error O(nu p^2)).
    p = 1/2 gives Landauer's kT nu ln 2.

    Parameters
    ----------
    nu : float
        Number of neurons that can switch (> 0).
    nu_a : float, optional
        Mean number of active neurons per inference (0 < nu_a < nu). Give ``nu_a`` or ``p``.
    p : float, optional
        Activation probability in (0, 1).
    form : {'exact', 'small_p'}
    T : float
        Temperature in kelvin (for joules).

    Examples
    --------
    >>> round(inference_dynamic(1000, 10).nat, 3), round(inference_dynamic(1000, 10, form="small_p").nat, 3)
    (56.002, 56.052)
    >>> round(inference_dynamic(1000, p=0.5).bits, 9)   # Landauer: one bit per neuron
    1000.0
    """
    nu, nu_a, p = _nu_pair(nu, nu_a, p)
    if form == "exact":
        e = nu * binary_entropy(p)
    elif form == "small_p":
        e = nu_a * (1.0 + math.log(nu / nu_a))
    else:
        raise ValueError(f"form must be 'exact' or 'small_p', got {form!r}")
    return Energy(e, check_temperature(T))


def inference_dynamic_record(nu, nu_a=None, *, p=None, T=T_ROOM) -> dict:
    """Eq. 5 in both forms plus the p = 1/2 Landauer value, as one JSON-ready record.

    Examples
    --------
    >>> r = inference_dynamic_record(1e6, 1e4)
    >>> r["p"], r["exact"]["kT"] < r["landauer_p_half"]["kT"]
    (0.01, True)
    """
    nu, nu_a, p = _nu_pair(nu, nu_a, p)
    T = check_temperature(T)
    return {"equation": "5", "nu": nu, "nu_a": nu_a, "p": p, "T_K": T,
            "exact": inference_dynamic(nu, nu_a, T=T).as_dict(),
            "small_p": inference_dynamic(nu, nu_a, form="small_p", T=T).as_dict(),
            "small_p_rel_error": inference_dynamic(nu, nu_a, form="small_p").nat
            / inference_dynamic(nu, nu_a).nat - 1.0,
            "landauer_p_half": Energy(nu * LN2, T).as_dict()}


@dataclass(frozen=True)
class ActivityRecord:
    """Measured ReLU activity of a network on a data set (the nu, nu_a of Eq. 5).

    Attributes
    ----------
    nu : int
        Neurons in the relu layers counted (hidden and output).
    nu_a : float
        Mean number of active neurons (y > 0) per inference.
    nu_a_se : float
        Standard error of ``nu_a`` over the samples.
    p : float
        nu_a / nu.
    n_samples : int
    per_layer : tuple of dict
        ``{"layer": l, "n": n_l, "nu_a": ..., "p": ...}`` for each relu layer l (1-based).
    counts : ndarray
        Active neurons per sample, shape (n_samples,).

    Examples
    --------
    >>> import numpy as np
    >>> from analogsim import Network
    >>> from analogsim.bounds import measure_activity
    >>> net = Network.create([4, 8, 3], activations="relu", seed=0)
    >>> rec = measure_activity(net, np.eye(4))
    >>> rec.n_samples, rec.counts.shape, rec.nu
    (4, (4,), 11)
    """

    nu: int
    nu_a: float
    nu_a_se: float
    p: float
    n_samples: int
    per_layer: tuple
    counts: np.ndarray = field(repr=False)

    def bound(self, form: str = "exact", T=T_ROOM) -> Energy:
        """Eq. 5 evaluated at the measured (nu, nu_a)."""
        return inference_dynamic(self.nu, self.nu_a, form=form, T=T)

    def as_dict(self, T=T_ROOM) -> dict:
        d = {"nu": self.nu, "nu_a": self.nu_a, "nu_a_se": self.nu_a_se, "p": self.p,
             "n_samples": self.n_samples, "per_layer": list(self.per_layer)}
        if 0 < self.nu_a < self.nu:
            d["bound"] = inference_dynamic_record(self.nu, self.nu_a, T=T)
        return d


def measure_activity(net, X, *, batch_size: int = 4096) -> ActivityRecord:
    """Count active ReLU neurons (y > 0) per inference of ``net`` on the rows of ``X``.

    Only layers whose activation is relu count (hidden and output); y_l = W_l x_{l-1} + b_l is
    recomputed from the zero-temperature forward pass ``net.forward``.

    Parameters
    ----------
    net : analogsim.Network
    X : array, shape (B, n_0)
    batch_size : int
        Rows per forward pass (memory only; the result does not depend on it).

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([4, 8, 3], activations="relu", seed=0)
    >>> rec = measure_activity(net, np.eye(4))
    >>> rec.nu, 0 <= rec.p <= 1
    (11, True)
    """
    relu = [l for l in range(1, net.depth + 1) if net.activations[l - 1].name == "relu"]
    return _relu_activity(net, X, batch_size, relu, lambda l, xs: net.preactivation(l, xs[l - 1]))


def _relu_activity(net, X, batch_size, relu, preactivation, names=None) -> ActivityRecord:
    """The count behind ``measure_activity`` for the chain and the graph network.

    ``relu``: the indices of the relu layers; ``preactivation(l, xs)``: y_l from the forward pass ``xs`` of a
    batch; ``names``: layer names to add to the per-layer entries (None: none).
    """
    if not relu:
        raise ValueError(f"net has no relu layer (activations {list(net.activation_names)}); "
                         "Eq. 5 counts relu neurons (s_i = Theta(y_i))")
    batch_size = check_scalar(batch_size, "batch_size", low=1, integer=True)
    X = net.check_input(X, "X")
    B = X.shape[0]
    if B == 0:
        raise ValueError(f"X must hold at least one input row (one inference), got shape {X.shape}")
    per = np.zeros((B, len(relu)), dtype=np.int64)
    for start in range(0, B, batch_size):
        xs = net.forward(X[start:start + batch_size])
        for j, l in enumerate(relu):
            per[start:start + batch_size, j] = np.count_nonzero(preactivation(l, xs) > 0, axis=1)
    counts = per.sum(axis=1)
    nu = int(sum(net.sizes[l] for l in relu))
    nu_a = float(counts.mean())
    se = float(counts.std(ddof=1) / math.sqrt(B)) if B > 1 else float("nan")
    layers = []
    for j, l in enumerate(relu):
        entry = {"layer": l} if names is None else {"layer": l, "name": names[l]}
        entry.update(n=int(net.sizes[l]), nu_a=float(per[:, j].mean()), p=float(per[:, j].mean() / net.sizes[l]))
        layers.append(entry)
    return ActivityRecord(nu, nu_a, se, nu_a / nu, B, tuple(layers), counts)


# --------------------------------------------------------------------- Eq. 7: quasi-static inference
def inference_quasistatic(T=T_ROOM) -> Energy:
    """Eq. 7: thermodynamics puts no lower bound on quasi-static inference, E_inf^min = 0.

    The free energy F = (kT/2) sum ln(kappa_i / 2 pi kT) does not depend on weights or input, so a
    slow (tau -> infinity) input change costs <W> -> 0. Compare a measured finite-time work with
    :func:`quasistatic_work_record`.

    Examples
    --------
    >>> inference_quasistatic().joules
    0.0
    """
    return Energy(0.0, check_temperature(T))


def quasistatic_work_record(mean_work, se, *, kT=1.0, n_se: float = 3.0, tau=None, T=T_ROOM) -> dict:
    """Compare a measured mean work of a finite-time protocol with the Eq. 7 bound (0).

    Parameters
    ----------
    mean_work, se : float
        Mean work <W> and its standard error, in the engine's energy units (those of ``kT``).
    kT : float
        The engine's temperature (energy, > 0).
    n_se : float
        Significance in standard errors for the verdicts.
    tau : float, optional
        Protocol duration; if given, ``tau_W`` = tau <W> (approaches the thermodynamic length L^2).
    T : float
        Kelvin, for converting W/kT to joules.

    Returns
    -------
    dict
        ``bound`` (0), ``W``, ``se``, ``W_kT`` (<W>/kT), ``W_bits``, ``W_joules`` (at T), ``z`` (<W>/se),
        ``above_bound`` (<W> > n_se se: dissipation resolved), ``violates_bound`` (<W> < -n_se se:
        would contradict the second law) and ``tau_W`` when tau is given.

    Examples
    --------
    >>> r = quasistatic_work_record(0.025, 0.005, kT=0.125)
    >>> r["W_kT"], r["above_bound"], r["violates_bound"]
    (0.2, True, False)
    """
    W = check_scalar(mean_work, "mean_work")
    se = check_scalar(se, "se", low=0.0)
    kT = check_scalar(kT, "kT", low=0.0, low_open=True)
    n_se = check_scalar(n_se, "n_se", low=0.0)
    E = Energy(W / kT, check_temperature(T))
    z = W / se if se > 0 else (math.copysign(math.inf, W) if W else 0.0)
    rec = {"equation": "7", "bound": 0.0, "W": W, "se": se, "kT": kT, "W_kT": W / kT, "W_bits": E.bits,
           "W_joules": E.joules, "T_K": E.T, "z": z, "n_se": n_se,
           "above_bound": bool(W > n_se * se), "violates_bound": bool(W < -n_se * se)}
    if tau is not None:
        rec["tau"] = check_scalar(tau, "tau", low=0.0, low_open=True)
        rec["tau_W"] = rec["tau"] * W
    return rec


# ----------------------------------------------------------------------------- Eq. 16: training
def training_bound(N, S, *, rho=1.0, T=T_ROOM) -> Energy:
    """Eq. 16: the thermodynamic lower bound on quasi-static analog training, E >~ 2 N S rho kT.

    ``S`` is the number of presentations (the paper's D; epochs x data-set size, see docs/theory/training-bound.md),
    ``rho = <|grad F|^2> / var(grad F)`` (the paper's "~ 1"). Per presentation (per token): S = 1.

    Examples
    --------
    >>> training_bound(1e6, 1e4).nat
    20000000000.0
    """
    N = check_scalar(N, "N", low=0.0, low_open=True)
    S = check_scalar(S, "S", low=0.0, low_open=True)
    rho = check_scalar(rho, "rho", low=0.0, low_open=True)
    return Energy(2.0 * N * S * rho, check_temperature(T))


def training_gamma(W, N, S, kT, rho=1.0) -> dict:
    """Measured training work against Eq. 16: Gamma = W / (2 N S rho kT).

    Parameters
    ----------
    W : float
        Total dissipated work of training, in the engine's energy units (those of ``kT``), >= 0.
    N, S : float
        Parameters and presentations.
    kT : float
        The temperature the bound uses (e.g. the threshold temperature kT*), > 0.
    rho : float
        <|grad F|^2> / var(grad F) measured along the run (1 in the paper's approximation).

    Examples
    --------
    >>> training_gamma(W=4.0, N=10, S=100, kT=0.001)["Gamma"]
    2.0
    """
    W = check_scalar(W, "W", low=0.0)
    kT = check_scalar(kT, "kT", low=0.0, low_open=True)
    b = training_bound(N, S, rho=rho)
    bound = b.nat * kT
    return {"equation": "16", "W": W, "N": float(N), "S": float(S), "rho": float(rho), "kT": kT,
            "bound": bound, "W_kT": W / kT, "bound_kT": b.nat, "Gamma": W / bound}


# -------------------------------------------------------------------- Eq. 17: digital (Landauer)
@dataclass(frozen=True)
class DigitalCost:
    """FLOPs, bits erased and the Landauer energy of a digital computation (Eq. 17).

    Attributes
    ----------
    flops : float
    bits : float
        Bits erased (flops x bits per FLOP).
    energy : Energy
        bits x kT ln 2, in kT (``nat``), joules and bits.

    Examples
    --------
    >>> from analogsim.bounds import digital_training
    >>> c = digital_training(1e9, 1)                  # 6 N_a D FLOPs of 16 bits
    >>> c.bits, c.as_dict()["flops"]
    (96000000000.0, 6000000000.0)
    """

    flops: float
    bits: float
    energy: Energy

    def as_dict(self) -> dict:
        return {"flops": self.flops, "bits": self.bits, **self.energy.as_dict()}


def digital_training(N_a, D, *, flops_per_param: float = 6.0, bits_per_flop: float = 16.0,
                     T=T_ROOM) -> DigitalCost:
    """Eq. 17: digital training costs flops_per_param * N_a * D FLOPs, each erasing bits_per_flop bits.

    E = 6 N_a D x 16 x kT ln 2 = 66.5 N_a D kT with the defaults (the paper rounds to 10^2 N_a D kT).
    N_a: active parameters per token (MoE); D: training tokens.

    Examples
    --------
    >>> c = digital_training(1e9, 1)
    >>> c.flops, round(c.energy.nat / 1e9, 2)
    (6000000000.0, 66.54)
    """
    N_a = check_scalar(N_a, "N_a", low=0.0, low_open=True)
    D = check_scalar(D, "D", low=0.0, low_open=True)
    fpp = check_scalar(flops_per_param, "flops_per_param", low=0.0, low_open=True)
    bpf = check_scalar(bits_per_flop, "bits_per_flop", low=0.0, low_open=True)
    flops = fpp * N_a * D
    return DigitalCost(flops, flops * bpf, landauer(flops * bpf, T))


def digital_inference(N, tokens=1, *, flops_per_param: float = 2.0, bits_per_flop: float = 16.0,
                      T=T_ROOM) -> DigitalCost:
    """Landauer energy of digital inference: 2 N FLOPs per token (forward pass), bits_per_flop bits each.

    Examples
    --------
    >>> f"{digital_inference(65e9).energy.joules:.2e}"
    '5.97e-09'
    """
    return digital_training(N, tokens, flops_per_param=flops_per_param, bits_per_flop=bits_per_flop, T=T)


# ------------------------------------------------------------------------------ Eq. 18-19: cooling
def cooling(E_cold, T_cold, T=T_ROOM) -> dict:
    """Eq. 18-19: the energy of operating at T* = ``T_cold`` < T once the heat E is pumped out to T.

    The second law, (W + E)/T - E/T* >= 0, gives the pump work W = (T/T* - 1) E and the total
    E(T) = W + E = (T/T*) E. A bound proportional to kT* therefore costs the same as at T: cooling
    does not beat the bounds.

    Parameters
    ----------
    E_cold : float
        Energy dissipated at T* (joules, >= 0).
    T_cold : float
        Operating temperature T* in kelvin, 0 < T* <= T.
    T : float
        Ambient temperature in kelvin.

    Examples
    --------
    >>> r = cooling(1.0, 30.0, 300.0)
    >>> r["ratio"], r["pump_work_J"], r["total_J"]
    (10.0, 9.0, 10.0)
    """
    E = check_scalar(E_cold, "E_cold", low=0.0)
    T = check_temperature(T)
    Tc = check_temperature(T_cold, "T_cold")
    if Tc > T:
        raise ValueError(f"T_cold must be <= T = {T:g} K (cooling below ambient), got {Tc!r}")
    ratio = T / Tc
    return {"equation": "19", "E_cold_J": E, "T_cold_K": Tc, "T_K": T, "ratio": ratio,
            "pump_work_J": (ratio - 1.0) * E, "total_J": ratio * E}


# ------------------------------------------------------------------------------- brain estimates
def brain_estimates(neurons: float = 1e11, rate_hz: float = 10.0, power_w: float = 10.0, T=T_ROOM) -> dict:
    """The paper's brackets on the brain's information rate.

    Lower: neurons x rate state switches per second, one irreversible bit each (~1e12 bit/s).
    Upper: the Landauer rate of the power budget, P / (kT ln 2) (~3e21 bit/s at 10 W, 300 K).

    Examples
    --------
    >>> r = brain_estimates()
    >>> f"{r['lower_bits_per_s']:.0e}", f"{r['upper_bits_per_s']:.2e}"
    ('1e+12', '3.48e+21')
    """
    n = check_scalar(neurons, "neurons", low=0.0, low_open=True)
    f = check_scalar(rate_hz, "rate_hz", low=0.0, low_open=True)
    P = check_scalar(power_w, "power_w", low=0.0, low_open=True)
    T = check_temperature(T)
    lower = n * f
    return {"neurons": n, "rate_hz": f, "power_w": P, "T_K": T,
            "lower_bits_per_s": lower, "upper_bits_per_s": P / (K_B * T * LN2),
            "lower_power_w": landauer(lower, T).joules,
            "paper": {"lower_bits_per_s": 1e12, "upper_bits_per_s": 3e21}}
