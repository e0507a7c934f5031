"""Task kinds: what one sweep point computes.

A task is a plain function ``task(params: dict, seed: int) -> dict`` that returns named results, each
a scalar (number, bool, str) or a short 1-D list/array of numbers. ``params`` is the point's flat
parameter dict (base settings with the coordinates substituted, see :mod:`analogsim.data.config`); ``seed``
is the point's own seed (derived from the config seed and the coordinates), so a point gives the same
numbers on any backend and any worker.

Kinds are looked up by name in a registry (:func:`register_task`); ``experiment.kind`` may also name
any importable function as ``"package.module:function"`` (it must be importable on the workers too).

Built-in kinds: ``stress``, ``equilibrium``; ``train`` and ``relax`` register themselves here when
:mod:`analogsim.training` / :mod:`analogsim.inference.simulate` are available.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..data.config import SCHEMA, ExperimentConfig
from ..errors import ConfigError

__all__ = ["TaskSpec", "register_task", "get_task", "available_tasks", "build_network", "network_sizes"]


@dataclass(frozen=True)
class TaskSpec:
    """A registered task kind.

    Attributes
    ----------
    name : str
    func : callable
        ``func(params, seed) -> dict``.
    requires : tuple of str
        Settings that must be set (in their section or as a sweep axis) for this kind.
    dims : dict
        Result name -> dimension name for results that are 1-D arrays (default ``<name>_index``).
    description : str

    Examples
    --------
    >>> spec = get_task("stress")
    >>> spec.name, callable(spec.func)
    ('stress', True)
    """

    name: str
    func: Callable
    requires: tuple = ()
    dims: dict = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, TaskSpec] = {}


def register_task(name: str, func: Callable | None = None, *, requires=(), dims=None, description: str = ""):
    """Register ``func`` as the task kind ``name`` (usable as a decorator).

    The function must be importable by module and name (a module-level function), because the
    backends send it to worker processes by reference.

    Examples
    --------
    >>> @register_task("doc-square", requires=("width",))
    ... def square(params, seed):
    ...     return {"area": params["width"] ** 2}
    >>> get_task("doc-square").func({"width": 3}, 0)
    {'area': 9}
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"name must be a non-empty task name without ':', got {name!r}")

    def deco(f):
        if not callable(f):
            raise TypeError(f"task {name!r} must be callable, got {f!r}")
        _REGISTRY[name] = TaskSpec(name, f, tuple(requires), dict(dims or {}),
                                   description or (f.__doc__ or "").strip().split("\n")[0])
        return f

    return deco(func) if func is not None else deco


def available_tasks() -> dict[str, str]:
    """Registered kinds and their one-line descriptions.

    Examples
    --------
    >>> {"stress", "equilibrium"} <= set(available_tasks())
    True
    """
    _load_optional()
    return {k: v.description for k, v in sorted(_REGISTRY.items())}


def get_task(kind: str) -> TaskSpec:
    """The :class:`TaskSpec` for ``kind`` (a registered name or ``'module:function'``).

    Raises
    ------
    ConfigError
        With path ``experiment.kind`` when the kind is unknown or cannot be imported.

    Examples
    --------
    >>> get_task("stress").requires
    ('kappa_ratio',)
    >>> get_task("math:hypot").name
    'math:hypot'
    """
    _load_optional()
    if kind in _REGISTRY:
        return _REGISTRY[kind]
    if ":" in kind:
        mod_name, _, attr = kind.partition(":")
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as exc:
            raise ConfigError("experiment.kind", f"cannot import module {mod_name!r} for kind {kind!r}: {exc}") \
                from None
        func = getattr(mod, attr, None)
        if not callable(func):
            raise ConfigError("experiment.kind", f"module {mod_name!r} has no function {attr!r}")
        for spec in _REGISTRY.values():
            if spec.func is func:
                return spec
        return TaskSpec(kind, func)
    raise ConfigError("experiment.kind", f"unknown task kind {kind!r}; known kinds are {sorted(_REGISTRY)} "
                                         "(or give 'package.module:function')")


def check_requirements(spec: TaskSpec, cfg: ExperimentConfig) -> None:
    """Raise ConfigError naming the first setting ``spec`` needs that the config leaves unset.

    Examples
    --------
    >>> from analogsim.data.config import parse_config
    >>> check_requirements(get_task("stress"), parse_config('[experiment]\\nkind = "stress"\\n'))
    Traceback (most recent call last):
    ...
    analogsim.errors.ConfigError: network.kappa_ratio: is required by kind 'stress': set it in [network] or sweep it in [sweep]
    """
    if cfg.settings.get("graph") is not None and spec.name in ("stress", "equilibrium"):
        raise ConfigError("experiment.kind", f"kind {spec.name!r} does not take a [graph] network yet; a graph "
                                             "runs kind 'train' or 'relax'")
    for key in spec.requires:
        if not cfg.is_set(key):
            sec = next((s for s, f in SCHEMA.items() if key in f), "task")
            raise ConfigError(f"{sec}.{key}", f"is required by kind {spec.name!r}: set it in [{sec}] "
                                              f"or sweep it in [sweep]")
    if cfg.is_set("temperature_K") and cfg.is_set("energy_unit_J"):
        raise ConfigError("units.energy_unit_J", "give units.temperature_K or units.energy_unit_J, not both: "
                                                 "one follows from the other and kT (k_B T = kT * energy_unit_J)")


_OPTIONAL_LOADED = False


def _load_optional() -> None:
    """Register the kinds whose engines live in optional modules (training, simulate)."""
    global _OPTIONAL_LOADED
    if _OPTIONAL_LOADED:
        return
    _OPTIONAL_LOADED = True
    for mod in ("analogsim.sweeps.engine_tasks", "analogsim.dynamic.experiments"):
        try:
            importlib.import_module(mod)
        except ImportError:  # the engine is not there (yet): its kinds are simply not offered
            pass


# ----------------------------------------------------------------------------- helpers for tasks
def network_sizes(params: dict) -> list[int]:
    """Layer sizes of a point: ``sizes`` if given, else [n_in] + [width] * (depth - 1) + [n_out].

    Examples
    --------
    >>> network_sizes({"sizes": None, "n_in": 4, "width": 16, "depth": 3, "n_out": 1})
    [4, 16, 16, 1]
    """
    if params.get("sizes"):
        return list(params["sizes"])
    return [params["n_in"]] + [params["width"]] * (params["depth"] - 1) + [params["n_out"]]


def build_network(params: dict, rng, kappa_out: float | None = None):
    """The point's network: sizes, activations, hidden stiffness ``kappa``, init, dtype.

    The output layer's stiffness is ``kappa_out`` if given, else ``kappa * kappa_ratio`` when
    ``kappa_ratio`` is set, else ``kappa``.

    Examples
    --------
    >>> from analogsim.data.config import parse_config
    >>> cfg = parse_config('[experiment]\\nkind = "stress"\\n[network]\\nkappa = 2.0\\nkappa_ratio = 0.5\\n')
    >>> net = build_network(cfg.settings, np.random.default_rng(0))
    >>> net.sizes, float(net.kappa[-1][0])
    ((4, 16, 1), 1.0)
    """
    from ..model.network import Network

    sizes = network_sizes(params)
    L = len(sizes) - 1
    acts = [params["activation"]] * (L - 1) + [params["output_activation"]]
    k = float(params["kappa"])
    if kappa_out is None:
        kappa_out = k * params["kappa_ratio"] if params.get("kappa_ratio") is not None else k
    return Network.create(sizes, activations=acts, kappa=[k] * (L - 1) + [float(kappa_out)],
                          init=params["init"], seed=rng, dtype=params["dtype"],
                          bias_scale=params["bias_scale"])


def _inputs(params: dict, rng, n: int, n_in: int) -> np.ndarray:
    return rng.standard_normal((n, n_in)) * params["input_scale"]


# ----------------------------------------------------------------------------- built-in kinds
@register_task("stress", requires=("kappa_ratio",))
def stress_task(params: dict, seed: int) -> dict:
    """Stress vs backprop error at one stiffness ratio r = kappa_out/kappa_hidden (docs/theory/stress-backprop.md).

    Random net and ``n_samples`` random inputs and targets (N(0, 1)); the stress gradient at the clamped
    minimum is compared with backprop of the MSE loss via
    :func:`analogsim.model.equilibrium.stress_vs_backprop`. Results: ``rel_error``, ``recursion_residual``,
    ``grad_norm``, ``n_params``.

    Examples
    --------
    >>> from analogsim.data.config import parse_config
    >>> cfg = parse_config('[experiment]\\nkind = "stress"\\n[network]\\nkappa_ratio = 1e-4\\n')
    >>> stress_task(cfg.settings, seed=0)["rel_error"] < 1e-2
    True
    """
    from ..model.equilibrium import stress_vs_backprop

    rng = np.random.default_rng(seed)
    net = build_network(params, rng)
    x0 = _inputs(params, rng, params["n_samples"], net.sizes[0])
    target = rng.standard_normal((params["n_samples"], net.sizes[-1]))
    rep = stress_vs_backprop(net, x0, target, ratios=[params["kappa_ratio"]], kappa_hidden=params["kappa"])
    return {"rel_error": rep["rel_error"][0], "recursion_residual": rep["recursion_residual"],
            "grad_norm": rep["grad_norm"], "n_params": net.n_params}


@register_task("equilibrium", requires=("kT",), dims={"equipartition": "layer", "equipartition_se": "layer"})
def equilibrium_task(params: dict, seed: int) -> dict:
    """Exact equilibrium sampling with the input clamped: equipartition ratio per layer and its SE.

    Draws ``n_replicas`` exact samples at ``kT`` for one random input (docs/theory/equilibrium.md). Results:
    ``equipartition`` and ``equipartition_se`` (per layer, <kappa delta^2>/kT, expected 1),
    ``equipartition_all`` / ``equipartition_all_se`` (all neurons), ``free_energy``, ``mean_output``,
    ``n_params``, ``n_neurons``.

    Examples
    --------
    >>> from analogsim.data.config import parse_config
    >>> cfg = parse_config('[experiment]\\nkind = "equilibrium"\\n[dynamics]\\nkT = 0.5\\n')
    >>> r = equilibrium_task(cfg.settings, seed=0)
    >>> abs(r["equipartition_all"] - 1) < 5 * r["equipartition_all_se"]
    True
    """
    from ..model.equilibrium import free_energy, sample_equilibrium

    rng = np.random.default_rng(seed)
    net = build_network(params, rng)
    x0 = _inputs(params, rng, 1, net.sizes[0])
    kT = params["kT"]
    s = sample_equilibrium(net, x0, kT, n_replicas=params["n_replicas"], seed=rng)
    ratio, se = s.equipartition(net.kappa)
    e = sum(np.sum(k * d.astype(np.float64) ** 2, axis=1) for k, d in zip(net.kappa, s.deltas))
    e = e / (kT * net.n_neurons)
    return {"equipartition": ratio.tolist(), "equipartition_se": se.tolist(),
            "equipartition_all": float(e.mean()), "equipartition_all_se": float(e.std(ddof=1) / np.sqrt(e.size)),
            "free_energy": free_energy(net, kT), "mean_output": float(s.xs[-1].mean()),
            "n_params": net.n_params, "n_neurons": net.n_neurons}
