"""Experiment configurations: one TOML file describes a network, its data, the dynamics or training
settings, and the axes of a sweep.

The file is parsed with :mod:`tomllib` and validated before anything runs; every problem is reported
as :class:`analogsim.errors.ConfigError` with its path in the file, e.g.
``sweep.kT[2]: must be >= 0, got -1``. The schema (sections, keys, types, defaults) is the table
:data:`SCHEMA`; ``docs/sweeps.md`` shows it with an example.

Every setting name is unique across sections, so a sweep point is described by one flat dict of
parameters (the base settings with the point's coordinates substituted); that dict is what a sweep
task receives.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config_fields import _F, _I, _S, _Field, _check_free, _geom, _num, _show, _suggest, _unknown_key  # noqa: F401
from ..errors import ConfigError

__all__ = ["SCHEMA", "ExperimentConfig", "Point", "load_config", "parse_config", "canonical_json"]

FORMAT = 1  # bump when the meaning of a stored config changes


_ACTS = ("identity", "linear", "relu", "tanh", "sigmoid", "softplus")

#: section -> key -> field. Keys are unique across sections (a point's parameters form one flat dict).
SCHEMA: dict[str, dict[str, _Field]] = {
    "experiment": {
        "name": _S(None, help="run name (default: the config file's stem)", sweepable=False),
        "kind": _S(None, help="task kind: a registered name (stress, equilibrium, train, relax) or "
                              "'module:function'", sweepable=False),
        "seed": _I(0, low=0, help="base seed; each point's seed derives from it and the point's coordinates",
                   sweepable=False),
        "description": _S("", sweepable=False),
        "seed_from": _Field("strs", None, sweepable=False,
                            help="axes whose coordinates enter a point's seed (default: all); leave an "
                                 "axis out to share random numbers along it"),
    },
    "network": {
        "sizes": _Field("ints", None, sweepable=False,
                        help="explicit layer sizes [n_0, ..., n_L]; excludes n_in/width/depth/n_out"),
        "n_in": _I(4, low=1, help="input size n_0"),
        "width": _I(16, low=1, help="hidden layer width"),
        "depth": _I(2, low=1, help="number of weight layers L (L - 1 hidden layers)"),
        "n_out": _I(1, low=1, help="output size n_L"),
        "activation": _S("tanh", _ACTS, help="hidden activation"),
        "output_activation": _S("identity", _ACTS),
        "kappa": _F(1.0, low=0.0, low_open=True, help="stiffness of the hidden neurons"),
        "kappa_ratio": _F(None, low=0.0, low_open=True, help="r = kappa_out / kappa_hidden"),
        "init": _S("he", ("he", "xavier")),
        "bias_scale": _F(0.0, low=0.0),
        "dtype": _S("float64", ("float32", "float64")),
    },
    "data": {
        "source": _S("teacher", help="training data: 'teacher' (teacher-student), 'digits', or a .npz/.csv path"),
        "n_train": _I(64, low=1, help="data set size D (entries)"),
        "n_test": _I(256, low=0, help="held-out entries"),
        "noise": _F(0.1, low=0.0, help="label noise standard deviation (teacher data)"),
        "teacher_width": _I(8, low=0, help="hidden width of the teacher (0: a linear teacher)"),
        "n_samples": _I(8, low=1, help="input rows per point for the stress task"),
        "input_scale": _F(1.0, low=0.0, low_open=True, help="standard deviation of random inputs"),
        "inputs": _S(None, help="data file: input columns of a CSV (0-based indices, ranges 0-2, header names; "
                                "default all but the targets) or the NPZ array (default x)", sweepable=False),
        "targets": _S(None, help="data file: target columns of a CSV (default the last n_out columns) or the "
                                 "NPZ array (default t)", sweepable=False),
        "delimiter": _S(None, help="CSV delimiter (default ','; 'tab' for tabs)", sweepable=False),
    },
    "dynamics": {
        "kT": _F(None, low=0.0, help="temperature (energy units, k_B = 1)"),
        "dt": _F(0.01, low=0.0, low_open=True, help="Langevin time step"),
        "n_steps": _I(1000, low=1, help="Langevin steps (relax without tau)"),
        "integrator": _S("em", ("em", "euler_maruyama", "euler", "mala"), help="Langevin integrator"),
        "tau": _F(None, low=0.0, low_open=True,
                  help="protocol duration: the input ramps over tau (quasi-static inference, Eq. 7); "
                       "n_steps = round(tau/dt)"),
        "n_replicas": _I(256, low=1, help="independent replicas / exact samples per point"),
    },
    "training": {
        "mu": _F(1.0, low=0.0, low_open=True, help="parameter mobility (Eq. 11)"),
        "tau_inf": _F(1.0, low=0.0, low_open=True, help="time each entry is presented"),
        "presentations": _I(1000, low=1, help="number of presentations S"),
        "kappa_out": _F(None, low=0.0, low_open=True, help="soft output clamp stiffness (default: hard clamp)"),
        "weight_decay": _F(0.0, low=0.0),
        "fidelity": _S("separated", ("separated", "joint")),
        "order": _S("iid", ("iid", "shuffle", "cyclic", "random")),
        "batch_size": _I(1, low=1, help="entries per presentation"),
        "substeps": _I(None, low=1, help="parameter steps per presentation (default: the engine's)"),
        "tau_switch": _F(0.0, low=0.0, help="clamp ramp between entries (joint fidelity; 0 abrupt)"),
        "neuron_mobility": _F(None, low=0.0, low_open=True, help="neuron mobility Gamma (joint)"),
    },
    "units": {  # reporting only: energies in joules and bits beside energy units (analogsim.bounds.units)
        "temperature_K": _F(None, low=0.0, low_open=True,
                            help="physical temperature of the bath in kelvin (default 300 when energy_unit_J "
                                 "is not given)"),
        "energy_unit_J": _F(None, low=0.0, low_open=True,
                            help="joules per energy unit, i.e. what kT = 1 means for the substrate "
                                 "(then T = kT * energy_unit_J / k_B)"),
    },
}
SECTIONS = tuple(SCHEMA) + ("task", "sweep", "graph")  # [graph]: analogsim.data.graph_config

#: keys added after results folders existed: left out of the config hash while at their default, so
#: folders made before them keep their hash and resume (the [units] section is handled the same way)
_HASH_OPTIONAL = (("training", "tau_switch"), ("training", "neuron_mobility"), ("data", "inputs"),
                  ("data", "targets"), ("data", "delimiter"))

_FLAT: dict[str, tuple[str, _Field]] = {}
for _sec, _fields in SCHEMA.items():
    for _key, _fld in _fields.items():
        assert _key not in _FLAT, f"duplicate config key {_key}"
        _FLAT[_key] = (_sec, _fld)
_SEED_AXIS = _I(None, low=0, help="replicate index (enters the point's seed)")


# ----------------------------------------------------------------------------- the config object
@dataclass(frozen=True)
class Point:
    """One sweep point: its index in the grid (C order), its coordinates (axis -> value), a stable key
    (16 hex digits of the sha256 of the coordinates: the name of its results file) and its seed.

    Examples
    --------
    >>> cfg = parse_config('[experiment]\\nkind = "stress"\\n[sweep]\\nkappa_ratio = [1e-4, 1e-2]\\n')
    >>> pts = cfg.points()
    >>> [p.coords for p in pts], len(pts[0].key)
    ([{'kappa_ratio': 0.0001}, {'kappa_ratio': 0.01}], 16)
    """

    index: int
    coords: dict
    key: str
    seed: int


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment configuration.

    Attributes
    ----------
    name, kind : str
    seed : int
        Base seed.
    settings : dict
        Flat base parameters (defaults filled in; unset optional keys are None).
    axes : dict
        Sweep axis name -> list of values, in file order.
    seed_from : tuple of str
        Axes whose coordinates enter each point's seed.
    normalized : dict
        The validated config as nested plain data (what :attr:`hash` is computed from).
    text : str
        The TOML text it was read from.
    source : str or None
        File path, if read from a file.

    Examples
    --------
    >>> cfg = parse_config('[experiment]\\nkind = "equilibrium"\\n[sweep]\\nkT = [0.1, 1.0]\\nwidth = [4, 8]\\n')
    >>> cfg.shape, [p.coords for p in cfg.points()][:2]
    ((2, 2), [{'kT': 0.1, 'width': 4}, {'kT': 0.1, 'width': 8}])
    >>> cfg.params(cfg.points()[1])["width"], cfg.params(cfg.points()[1])["depth"]
    (8, 2)
    """

    name: str
    kind: str
    seed: int
    settings: dict
    axes: dict
    seed_from: tuple
    normalized: dict
    text: str = ""
    source: str | None = None
    explicit: frozenset = field(default_factory=frozenset)

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON of the validated config (comments and layout do not count).

        An unset ``[units]`` section (reporting only) is left out, and so are the keys added later
        (``training.tau_switch``, ``training.neuron_mobility``, ``data.inputs``, ``data.targets``,
        ``data.delimiter``) while they hold their defaults, so configs
        written before them keep their hash and their results folders resume."""
        norm = self.normalized
        if not any(v is not None for v in norm.get("units", {}).values()):
            norm = {k: v for k, v in norm.items() if k != "units"}
        for sec, key in _HASH_OPTIONAL:
            if sec in norm and key in norm[sec] and norm[sec][key] == SCHEMA[sec][key].default:
                norm = dict(norm)
                norm[sec] = {k: v for k, v in norm[sec].items() if k != key}
        return hashlib.sha256(canonical_json(norm).encode()).hexdigest()

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of values of each sweep axis, in file order."""
        return tuple(len(v) for v in self.axes.values())

    @property
    def n_points(self) -> int:
        """Number of grid points (1 without a [sweep])."""
        return math.prod(self.shape)

    def is_set(self, key: str) -> bool:
        """Whether ``key`` has a value for every point (set in its section, defaulted, or swept)."""
        return key in self.axes or self.settings.get(key) is not None

    def points(self) -> list[Point]:
        """All points of the grid in C order over the axes (the last axis varies fastest).

        Each point's seed is ``SeedSequence(base_seed, spawn_key=words)`` with ``words`` four 32-bit
        words of the sha256 of the canonical JSON of the coordinates listed in ``seed_from``; it does
        not depend on the order of the axes, the backend, or which worker runs the point.
        """
        import itertools

        import numpy as np

        names = list(self.axes)
        out = []
        for index, combo in enumerate(itertools.product(*self.axes.values())):
            coords = dict(zip(names, combo))
            key = hashlib.sha256(canonical_json(coords).encode()).hexdigest()[:16]
            sel = {k: coords[k] for k in self.seed_from}
            digest = hashlib.sha256(canonical_json(sel).encode()).digest()
            words = tuple(int.from_bytes(digest[4 * i:4 * i + 4], "little") for i in range(4))
            ss = np.random.SeedSequence(self.seed, spawn_key=words)
            lo, hi = (int(w) for w in ss.generate_state(2, dtype=np.uint32))
            out.append(Point(index, coords, key, lo | ((hi & 0x7FFFFFFF) << 32)))
        return out

    def params(self, point: Point) -> dict:
        """The flat parameter dict of a point: base settings with its coordinates substituted."""
        p = dict(self.settings)
        p.update(point.coords)
        return p


def canonical_json(obj) -> str:
    """Deterministic JSON (sorted keys, shortest float repr) used for hashing configs and coordinates.

    Examples
    --------
    >>> canonical_json({"width": 8, "kT": 0.001})
    '{"kT":0.001,"width":8}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


# ----------------------------------------------------------------------------- parsing
def load_config(path, *, kind_hint: str | None = None) -> ExperimentConfig:
    """Read and validate an experiment config from a TOML file.

    Parameters
    ----------
    path : str or Path
    kind_hint : str, optional
        The kind the reading command runs (``analogsim relax`` reads kind "relax"): a config without
        ``kind`` is refused with a message that suggests this one.

    Raises
    ------
    ConfigError
        The file is not valid TOML or breaks the schema (the message names the entry).
    FileNotFoundError

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "run.toml"
    >>> _ = p.write_text('[experiment]\\nkind = "equilibrium"\\n[dynamics]\\nkT = 0.1\\n'
    ...                  '[sweep]\\nwidth = [4, 8]\\nseed = {start = 0, stop = 3}\\n')
    >>> cfg = load_config(p)
    >>> cfg.name, cfg.shape, cfg.n_points
    ('run', (2, 3), 6)
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"config must be a TOML file, got the folder {str(path)!r}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {str(path)!r}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"{path}: not UTF-8 text ({exc})") from None
    return parse_config(text, name=path.stem, source=str(path), kind_hint=kind_hint)


def parse_config(text: str, *, name: str = "experiment", source: str | None = None,
                 kind_hint: str | None = None) -> ExperimentConfig:
    """Validate a config given as TOML text (see :func:`load_config`).

    Examples
    --------
    >>> cfg = parse_config('[experiment]\\nkind = "stress"\\n[sweep]\\nkappa_ratio = '
    ...                    '{start = 1e-4, stop = 1e-1, num = 4, scale = "log"}\\n')
    >>> [round(r, 6) for r in cfg.axes["kappa_ratio"]]
    [0.0001, 0.001, 0.01, 0.1]
    """
    where = source or "config"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{where}: invalid TOML: {exc}") from None
    for sec in doc:
        if sec not in SECTIONS:
            raise ConfigError(sec, f"unknown section{_suggest(sec, SECTIONS)}; sections are {list(SECTIONS)}")
        if not isinstance(doc[sec], dict):
            raise ConfigError(sec, f"must be a table like [{sec}], got {_show(doc[sec])}")

    normalized: dict[str, dict] = {}
    settings: dict[str, Any] = {}
    explicit = set()
    for sec, fields in SCHEMA.items():
        given = doc.get(sec, {})
        for key in given:
            if key not in fields:
                raise ConfigError(f"{sec}.{key}", _unknown_key(key, sec, fields))
        out = {}
        for key, fld in fields.items():
            if key in given:
                out[key] = fld.check(given[key], f"{sec}.{key}")
                explicit.add(key)
            else:
                out[key] = fld.default
        normalized[sec] = out
        if sec != "experiment":
            settings.update(out)

    task = {}
    for key, value in doc.get("task", {}).items():
        if key in _FLAT or key == "seed":
            sec = _FLAT[key][0] if key in _FLAT else "experiment"
            raise ConfigError(f"task.{key}", f"is a built-in setting; set it in [{sec}]")
        if isinstance(value, dict):
            raise ConfigError(f"task.{key}", f"must be a number, a string, a boolean or a list, got a table")
        task[key] = _check_free(value, f"task.{key}")
    normalized["task"] = task
    settings.update(task)

    exp = normalized["experiment"]
    if exp["kind"] is None:
        eg = kind_hint or "stress"
        raise ConfigError("experiment.kind", f"is required: the task each point runs; add kind = \"{eg}\" to "
                                             f"the [experiment] section")
    if exp["name"] is None:
        exp["name"] = name
    net = normalized["network"]
    if net["sizes"] is not None:
        for k in ("n_in", "width", "depth", "n_out"):
            if k in explicit:
                raise ConfigError(f"network.{k}", "cannot be combined with network.sizes; give one or the other")

    axes = _parse_sweep(doc.get("sweep", {}), task, net["sizes"] is not None)
    normalized["sweep"] = {k: v for k, v in axes.items()}
    for k in axes:
        if k in _FLAT:
            settings[k] = None  # the coordinate is substituted per point

    seed_from = exp["seed_from"]
    if seed_from is None:
        seed_from = list(axes)
    else:
        for i, a in enumerate(seed_from):
            if a not in axes:
                raise ConfigError(f"experiment.seed_from[{i}]", f"{a!r} is not a sweep axis; axes are {list(axes)}")
        if len(set(seed_from)) != len(seed_from):
            raise ConfigError("experiment.seed_from", f"lists an axis twice: {seed_from}")
    exp["seed_from"] = list(seed_from)
    if "graph" in doc:  # a graph network replaces the [network] shape (validated and built once here)
        from .graph_config import check_graph_section

        normalized["graph"] = settings["graph"] = check_graph_section(doc["graph"], explicit, axes)
    normalized["format"] = FORMAT
    return ExperimentConfig(name=exp["name"], kind=exp["kind"], seed=exp["seed"], settings=settings,
                            axes=axes, seed_from=tuple(seed_from), normalized=normalized, text=text,
                            source=source, explicit=frozenset(explicit))


def _parse_sweep(sweep: dict, task: dict, has_sizes: bool) -> dict[str, list]:
    axes: dict[str, list] = {}
    for name, spec in sweep.items():
        path = f"sweep.{name}"
        if name == "seed":
            fld = _SEED_AXIS
        elif name in _FLAT:
            sec, fld = _FLAT[name]
            if not fld.sweepable:
                raise ConfigError(path, f"{sec}.{name} cannot be swept")
            if has_sizes and name in ("n_in", "width", "depth", "n_out"):
                raise ConfigError(path, "cannot sweep the shape when network.sizes is given; "
                                        "use n_in/width/depth/n_out instead of sizes")
        elif name in task:
            fld = _Field("any")
        else:
            sweepable = sorted(["seed"] + [k for k, (_, f) in _FLAT.items() if f.sweepable] + list(task))
            raise ConfigError(path, f"unknown sweep axis{_suggest(name, sweepable)}; sweepable settings are "
                                    f"{sweepable} (custom ones must first be set in [task])")
        if isinstance(spec, list):
            if not spec:
                raise ConfigError(path, "must list at least one value")
            values = [fld.check(v, f"{path}[{i}]") for i, v in enumerate(spec)]
        elif isinstance(spec, dict):
            values = _expand_range(spec, fld, path)
        else:
            raise ConfigError(path, f"must be a list of values or a range table like "
                                    f"{{start = 0, stop = 4}}, got {_show(spec)}")
        seen = {}
        for i, v in enumerate(values):
            k = canonical_json(v)
            if k in seen:
                raise ConfigError(f"{path}[{i}]", f"duplicate value {v!r} (also at index {seen[k]})")
            seen[k] = i
        axes[name] = values
    return axes


def _expand_range(spec: dict, fld: _Field, path: str) -> list:
    allowed = {"start", "stop", "num", "step", "scale"}
    for k in spec:
        if k not in allowed:
            raise ConfigError(f"{path}.{k}", f"unknown range key{_suggest(k, allowed)}; a range has "
                                             "start, stop and either num (with scale) or step")
    if fld.kind not in ("int", "float"):
        raise ConfigError(path, "a range needs a numeric setting; list the values instead")
    for k in ("start", "stop"):
        if k not in spec:
            raise ConfigError(path, f"range needs {k!r} (e.g. {{start = 1, stop = 8, num = 4}})")
    num_fld = _Field("float")
    start = num_fld.check(spec["start"], f"{path}.start")
    stop = num_fld.check(spec["stop"], f"{path}.stop")
    scale = spec.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise ConfigError(f"{path}.scale", f"must be 'linear' or 'log', got {scale!r}")
    if "num" in spec and "step" in spec:
        raise ConfigError(path, "give one of 'num' (endpoints included) or 'step' (stop excluded), not both")
    if "num" not in spec and "step" not in spec:
        if fld.kind != "int":
            raise ConfigError(path, "a range of real numbers needs 'num' (endpoints included) or 'step' "
                                    "(stop excluded)")
        spec = {**spec, "step": 1}  # integers: like Python's range(start, stop)
    if "num" in spec:
        num = _I(low=1).check(spec["num"], f"{path}.num")
        if scale == "log":
            if start <= 0 or stop <= 0:
                raise ConfigError(path, f"a log range needs start > 0 and stop > 0, got {start}, {stop}")
            vals = _geom(start, stop, num)
        else:
            vals = [start + (stop - start) * i / (num - 1) for i in range(num)] if num > 1 else [start]
    else:
        if scale != "linear":
            raise ConfigError(f"{path}.scale", "a 'step' range is linear; use num with scale = 'log'")
        step = num_fld.check(spec["step"], f"{path}.step")
        if step <= 0 or stop <= start:
            raise ConfigError(path, f"a step range needs step > 0 and stop > start, got start={start}, "
                                    f"stop={stop}, step={step}")
        n = math.ceil((stop - start) / step - 1e-9)
        if n > 100_000:
            raise ConfigError(path, f"range has {n} values; that is too many for one axis")
        vals = [start + i * step for i in range(n)]
    if fld.kind == "int":
        ivals = [int(round(v)) for v in vals]
        if "step" in spec and any(abs(v - r) > 1e-9 for v, r in zip(vals, ivals)):
            raise ConfigError(path, f"an integer setting needs an integer start and step, got {spec}")
        if len(set(ivals)) != len(ivals):
            raise ConfigError(path, f"rounding to integers gives repeated values {ivals}; use fewer points")
        vals = ivals
    else:
        vals = [float(f"{v:.12g}") for v in vals]  # 1e-3 stays 1e-3, not 0.0010000000000000002
    return [fld.check(v, f"{path}[{i}]") for i, v in enumerate(vals)]


def schema_table() -> str:
    """The schema as a markdown table (section, key, type, default, meaning), for the docs.

    Examples
    --------
    >>> schema_table().splitlines()[0]
    '| key | type | default | meaning |'
    """
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for sec, fields in SCHEMA.items():
        for key, f in fields.items():
            typ = {"ints": "list of int", "strs": "list of str"}.get(f.kind, f.kind)
            if f.choices:
                typ += " (" + ", ".join(f.choices) + ")"
            if f.low is not None:
                typ += f" {'>' if f.low_open else '>='} {_num(f.low)}"
            rows.append(f"| {sec}.{key} | {typ} | {'' if f.default is None else repr(f.default)} | {f.help} |")
    return "\n".join(rows)
