"""Bad input, property-based (hypothesis): malformed experiment configs, bad arrays, bad command lines.

The property for every generated case: it ends in a clear, specific exception raised by analogsim itself
(ConfigError naming the entry of the file; ValueError/TypeError naming the argument) or, on the command
line, in ``analogsim <cmd>: error: ...`` with exit code 2 and no traceback. Never an exception from deep
inside numpy/numba, never a hang (pytest-timeout), never a silently wrong result.

Distinct cases are counted in the ``bad-input`` tallies (printed at the end of the run).
"""

from __future__ import annotations

import json
import math
import os
import traceback
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analogsim import cli
from analogsim.data.config import SCHEMA, SECTIONS, parse_config
from analogsim.errors import ConfigError

PKG = Path(__import__("analogsim").__file__).resolve().parent

# modest and the same examples every run in the default suite; the slow suite (`pytest -m slow`) repeats the
# properties with many more, drawn at random
FAST = settings(deadline=None, max_examples=60, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(deadline=None, max_examples=1500, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.filter_too_much])


# ============================================================================ TOML writing
_SAFE = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 _-.,:/", max_size=12)
_KEY = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def to_toml(doc: dict) -> str:
    """Top-level non-table values first, then one [section] per table (values may be inline tables)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for sec, body in doc.items():
        if isinstance(body, dict):
            lines.append(f"[{sec}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


BASE = {
    "experiment": {"kind": "equilibrium", "seed": 3},
    "network": {"n_in": 3, "width": 4, "depth": 2, "activation": "tanh", "kappa": 1.0},
    "data": {"n_train": 16},
    "dynamics": {"kT": 0.1, "n_replicas": 8},
    "training": {"mu": 1.0, "presentations": 10},
    "sweep": {"kT": [0.1, 1.0], "seed": {"start": 0, "stop": 2}},
}


def base():
    return json.loads(json.dumps(BASE))


def test_base_config_is_valid():
    cfg = parse_config(to_toml(base()))
    assert cfg.n_points == 4


# ============================================================================ config mutations
_WRONG_TYPE = {
    "int": ["text", 1.5, True, [1, 2], {"a": 1}],
    "float": ["text", True, [1.0], {"a": 1}],
    "str": [3, 1.5, True, ["a"], {"a": 1}],
    "ints": ["4,16,1", 4, [4], [4, 0, 1], [4, "x"], [4, 1.5], [4, -2, 1], {"a": 1}],
    "strs": [3, ["kT", 3], "kT", {"a": 1}],
}
_FIELDS = [(sec, key, f) for sec, fields in SCHEMA.items() for key, f in fields.items()]


@st.composite
def wrong_type(draw):
    sec, key, f = draw(st.sampled_from(_FIELDS))
    doc = base()
    doc.setdefault(sec, {})[key] = draw(st.sampled_from(_WRONG_TYPE[f.kind]))
    return doc, f"{sec}.{key}"


@st.composite
def out_of_range(draw):
    cands = [(s, k, f) for s, k, f in _FIELDS if f.kind in ("int", "float") and f.low is not None
             or f.choices is not None or f.kind == "float"]
    sec, key, f = draw(st.sampled_from(cands))
    doc = base()
    if f.choices is not None:
        value = draw(_SAFE.filter(lambda s: s not in f.choices))
    elif f.kind == "float" and (f.low is None or draw(st.booleans())):
        value = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    elif f.kind == "int":
        value = int(f.low) - draw(st.integers(0 if f.low_open else 1, 10**6))
    else:
        below = draw(st.floats(0.0 if f.low_open else 1e-9, 1e12))
        value = float(f.low) - below
    doc.setdefault(sec, {})[key] = value
    return doc, f"{sec}.{key}"


@st.composite
def unknown_key(draw):
    sec = draw(st.sampled_from(list(SCHEMA)))
    key = draw(_KEY.filter(lambda k: k not in SCHEMA[sec]))
    doc = base()
    doc.setdefault(sec, {})[key] = draw(st.one_of(st.integers(), _SAFE, st.booleans()))
    return doc, f"{sec}.{key}"


@st.composite
def unknown_section(draw):
    name = draw(_KEY.filter(lambda k: k not in SECTIONS))
    doc = base()
    doc[name] = draw(st.one_of(st.just({"x": 1}), st.integers(), _SAFE))
    return doc, name


@st.composite
def not_a_table(draw):
    sec = draw(st.sampled_from([s for s in SECTIONS]))
    doc = base()
    doc[sec] = draw(st.one_of(st.integers(), _SAFE, st.lists(st.integers(), max_size=3)))
    return doc, sec


@st.composite
def missing_kind(draw):
    doc = base()
    del doc["experiment"]["kind"]
    if draw(st.booleans()):
        del doc["experiment"]
    return doc, "experiment.kind"


_SWEEP_BAD = [
    ({"kT": []}, "sweep.kT"),
    ({"kT": [0.1, 0.1]}, "sweep.kT[1]"),
    ({"kT": [0.1, -1.0]}, "sweep.kT[1]"),
    ({"kT": [0.1, "hot"]}, "sweep.kT[1]"),
    ({"kT": 0.1}, "sweep.kT"),
    ({"kT": {"start": 0.1}}, "sweep.kT"),
    ({"kT": {"start": 0.1, "stop": 1.0, "num": 3, "nmu": 1}}, "sweep.kT.nmu"),
    ({"kT": {"start": -1.0, "stop": 1.0, "num": 3, "scale": "log"}}, "sweep.kT"),
    ({"kT": {"start": 0.1, "stop": 1.0, "num": 3, "scale": "cubic"}}, "sweep.kT.scale"),
    ({"kT": {"start": 0.1, "stop": 1.0, "num": 0}}, "sweep.kT.num"),
    ({"kT": {"start": 0.1, "stop": 1.0, "num": 3, "step": 0.1}}, "sweep.kT"),
    ({"kT": {"start": 0.1, "stop": 1.0}}, "sweep.kT"),
    ({"kT": {"start": "a", "stop": 1.0, "num": 2}}, "sweep.kT.start"),
    ({"seed": {"start": 0, "stop": 10**9}}, "sweep.seed"),
    ({"seed": {"start": 5, "stop": 1}}, "sweep.seed"),
    ({"width": [4, 0]}, "sweep.width[1]"),
    ({"width": {"start": 1, "stop": 2, "num": 5}}, "sweep.width"),
    ({"sizes": [[2, 3]]}, "sweep.sizes"),
    ({"kind": ["stress"]}, "sweep.kind"),
    ({"temperature": [1.0]}, "sweep.temperature"),
    ({"activation": ["tanh", "swish"]}, "sweep.activation[1]"),
]


@st.composite
def bad_sweep(draw):
    axes, path = draw(st.sampled_from(_SWEEP_BAD))
    doc = base()
    doc["sweep"] = {**axes}
    return doc, path


@st.composite
def bad_other(draw):
    """[task] tables and built-in keys, seed_from naming a non-axis, sizes with the shape keys."""
    doc = base()
    case = draw(st.integers(0, 3))
    if case == 0:
        doc["task"] = {"extra": {"a": 1}}
        return doc, "task.extra"
    if case == 1:
        key = draw(st.sampled_from(["width", "kT", "mu", "seed", "n_train"]))
        doc["task"] = {key: 1}
        return doc, f"task.{key}"
    if case == 2:
        doc["experiment"]["seed_from"] = [draw(_KEY.filter(lambda k: k not in ("kT", "seed")))]
        return doc, "experiment.seed_from[0]"
    doc["network"]["sizes"] = [3, 4, 1]
    return doc, "network.n_in"  # n_in (explicit in BASE) cannot be combined with sizes


MUTATIONS = st.one_of(wrong_type(), out_of_range(), unknown_key(), unknown_section(), not_a_table(),
                      missing_kind(), bad_sweep(), bad_other())


def check_config_case(tally, doc, path):
    text = to_toml(doc)
    tally.attempt("bad-input: configs (parse_config)", text)
    with pytest.raises(ConfigError) as ei:
        parse_config(text, source="gen.toml")
    err = ei.value
    assert err.path.startswith(path), (path, str(err), text)
    assert str(err).startswith(err.path) and len(str(err)) > len(err.path) + 10  # says what is wrong
    tally.ok("bad-input: configs (parse_config)", text)


@FAST
@given(MUTATIONS)
def test_malformed_config_names_the_entry(tally, case):
    check_config_case(tally, *case)


@pytest.mark.slow
@MANY
@given(MUTATIONS)
def test_malformed_config_names_the_entry_many(tally, case):
    check_config_case(tally, *case)


# ---------------------------------------------------------------------------- fuzz: anything parses or is refused
_SCALAR = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), _SAFE)
_VALUE = st.recursive(_SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(_KEY, inner, max_size=3)), max_leaves=8)
_ALL_KEYS = sorted({k for f in SCHEMA.values() for k in f} | {"seed"})
_SECTION_BODY = st.dictionaries(st.one_of(st.sampled_from(_ALL_KEYS), _KEY), _VALUE, max_size=5)
_DOC = st.dictionaries(st.one_of(st.sampled_from(SECTIONS), _KEY), st.one_of(_SECTION_BODY, _SCALAR), max_size=6)


def check_fuzz_doc(tally, doc):
    text = to_toml(doc)
    tally.attempt("bad-input: configs (fuzz)", text)
    try:
        cfg = parse_config(text)
    except ConfigError as exc:
        assert str(exc)
    else:  # accepted: then it must be usable as a grid
        assert cfg.kind and len(cfg.hash) == 64
        if cfg.n_points <= 1000:
            pts = cfg.points()
            assert len({p.key for p in pts}) == len(pts) == cfg.n_points
    tally.ok("bad-input: configs (fuzz)", text)


@FAST
@given(_DOC)
def test_fuzzed_config_is_parsed_or_refused_with_config_error(tally, doc):
    check_fuzz_doc(tally, doc)


@FAST
@given(st.text(max_size=200))
def test_arbitrary_text_is_parsed_or_refused_with_config_error(tally, text):
    tally.attempt("bad-input: configs (fuzz)", text)
    try:
        parse_config(text)
    except ConfigError:
        pass
    tally.ok("bad-input: configs (fuzz)", text)


@pytest.mark.slow
@MANY
@given(_DOC)
def test_fuzzed_config_many(tally, doc):
    check_fuzz_doc(tally, doc)


# ---------------------------------------------------------------------------- the same through the command line
def check_cli_config(tally, tmp, doc, path, capsys):
    text = to_toml(doc)
    tally.attempt("bad-input: sweep command line", text)
    cfg = tmp / "bad.toml"
    cfg.write_text(text)
    out = tmp / "out"
    rc = cli.main(["sweep", str(cfg), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("analogsim sweep: error: ") and path in err, err
    assert "Traceback" not in err
    assert not out.exists()  # nothing written
    tally.ok("bad-input: sweep command line", text)


@settings(deadline=None, max_examples=12, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(MUTATIONS)
def test_malformed_config_on_the_command_line_exits_2(tally, tmp_path, capsys, case):
    check_cli_config(tally, tmp_path, *case, capsys)


# ============================================================================ bad arrays
def _raised_in_analogsim(exc: BaseException) -> str:
    """The file (relative to the package) of the frame that raised ``exc``."""
    frames = traceback.extract_tb(exc.__traceback__)
    f = Path(frames[-1].filename).resolve()
    try:
        return str(f.relative_to(PKG))
    except ValueError:
        return f"OUTSIDE:{f}"


@st.composite
def bad_array(draw, shape):
    """An invalid value for an argument that expects a float array of ``shape`` (None = any length)."""
    good = tuple(2 if s is None else s for s in shape)
    kind = draw(st.sampled_from(["nan", "inf", "ndim", "width", "dtype", "none", "ragged", "object", "string"]))
    if kind in ("nan", "inf"):
        a = np.asarray(draw(st.lists(st.floats(-3, 3), min_size=int(np.prod(good)), max_size=int(np.prod(good)))),
                       dtype=float).reshape(good)
        idx = tuple(draw(st.integers(0, n - 1)) for n in good)
        a[idx] = np.nan if kind == "nan" else draw(st.sampled_from([np.inf, -np.inf]))
        return kind, a
    if kind == "ndim":
        nd = draw(st.sampled_from([0, len(good) + 1]))
        return kind, np.zeros(tuple(draw(st.integers(1, 3)) for _ in range(nd)))
    if kind == "width":
        w = good[-1] + draw(st.sampled_from([-1, 1, 2, 5])) if good[-1] > 1 else good[-1] + 1
        return kind, np.zeros(good[:-1] + (w,))
    if kind == "dtype":
        dt = draw(st.sampled_from([np.complex128, "U3", "datetime64[s]"]))
        return kind, np.zeros(good, dtype=dt)
    if kind == "none":
        return kind, None
    if kind == "ragged":
        return kind, [[0.0] * good[-1], [0.0]] if len(good) == 2 else [[0.0], [0.0, 1.0]]
    if kind == "object":
        return kind, np.array([None] * int(np.prod(good)), dtype=object).reshape(good)
    return kind, "0.5"


def _net():
    from analogsim import Network

    return Network.create([3, 4, 2], activations=["tanh", "identity"], kappa=1.0, seed=0)


def _targets():
    """name -> (argument name in the message, expected shape, call(bad) )."""
    from analogsim import Network, OutputClamp, bounds, iem
    from analogsim.model import equilibrium as E
    from analogsim.model import hamiltonian as H
    from analogsim.data import from_arrays
    from analogsim.inference.simulate import relax
    from analogsim.training import train

    net = _net()
    x1 = np.zeros((2, 4))
    x2 = np.zeros((2, 2))
    return {
        "Network.forward(x0)": ("x0", (None, 3), lambda a: net.forward(a)),
        "sample_equilibrium(x0)": ("x0", (None, 3), lambda a: E.sample_equilibrium(net, a, 0.1, seed=0)),
        "relax(x0)": ("x0", (None, 3), lambda a: relax(net, a, kT=0.1, dt=0.01, n_steps=2, seed=0)),
        "clamped_minimum(x0)": ("x0", (None, 3), lambda a: E.clamped_minimum(net, a, [0.0, 0.0])),
        "clamped_minimum(target)": ("target", (None, 2), lambda a: E.clamped_minimum(net, [0.0, 0.1, 0.2], a)),
        "stress_vs_backprop(x0)": ("x0", (None, 3), lambda a: E.stress_vs_backprop(net, a, [0.0, 0.0],
                                                                                   ratios=[1e-3, 1e-2])),
        "backprop_gradient(target)": ("target", (None, 2), lambda a: E.backprop_gradient(net, np.zeros((2, 3)), a)),
        "train(data x)": (("x_train", "data inputs"), (None, 3), lambda a: train(net, (a, np.zeros((2, 2))), presentations=2)),
        "train(data t)": (("t_train", "data targets"), (None, 2), lambda a: train(net, (np.zeros((2, 3)), a), presentations=2)),
        "from_arrays(x_train)": ("x_train", (None, 3), lambda a: from_arrays(a, np.zeros((2, 1)))),
        "Network(weights)": ("weights[0]", (4, 3), lambda a: Network([a])),
        "Network.with_theta": ("theta", (net.n_params,), lambda a: net.with_theta(a)),
        "hamiltonian.energy(xs)": ("xs[0]", (2, 3), lambda a: H.energy(net, [a, x1, x2])),
        "hamiltonian.grad_params(xs)": ("xs[0]", (2, 3), lambda a: H.grad_params(net, [a, x1, x2])),
        "OutputClamp(target)": ("target", (None, 2), lambda a: OutputClamp(a, 1.0)),
        "measure_activity(X)": ("X", (None, 3), lambda a: bounds.measure_activity(
            Network.create([3, 4, 2], activations="relu", seed=0), a)),
        "parameter_entropy(theta)": ("theta", (None,), lambda a: iem.parameter_entropy(a)),
        "correlation_matrix(activations)": ("activations", (None, 3), lambda a: iem.correlation_matrix(a)),
    }


_TARGET_NAMES = sorted(_targets())
# value kinds a target may accept as valid input (a documented broadcast or conversion), not a failure
_MAY_ACCEPT = {("OutputClamp(target)", "width"),                       # any n_L until used with a net
               ("Network(weights)", "width"),                           # any (n_1, n_0) is a one-layer net
               ("from_arrays(x_train)", "width"),                       # any number of features
               ("parameter_entropy(theta)", "width"), ("parameter_entropy(theta)", "ndim"),  # flattened
               ("parameter_entropy(theta)", "ragged"),                  # a list of per-layer arrays
               ("correlation_matrix(activations)", "width")}            # any number of units
# the numpy reference of H evaluates any state (solvers probe far points): a NaN state must give a NaN result
_PROPAGATES = {"hamiltonian.energy(xs)", "hamiltonian.grad_params(xs)"}


def check_bad_array(tally, name, kind, a):
    argname, shape, call = _targets()[name]
    case = (name, kind, repr(a)[:200])
    tally.attempt("bad-input: arrays", case)
    try:
        out = call(a)
    except (ValueError, TypeError) as exc:
        where = _raised_in_analogsim(exc)
        assert not where.startswith("OUTSIDE") and not where.startswith("kernels"), \
            f"{name} with {kind}: {type(exc).__name__} from {where}: {exc}"
        names = (argname,) if isinstance(argname, str) else argname
        assert any(n in str(exc) for n in names), f"{name} with {kind}: message does not name {argname!r}: {exc}"
    except Exception as exc:  # noqa: BLE001 - anything else is the failure this suite looks for
        pytest.fail(f"{name} with {kind}: {type(exc).__name__} from {_raised_in_analogsim(exc)}: {exc}")
    else:
        if name in _PROPAGATES and kind in ("nan", "inf"):
            # NaN is never hidden; an infinite input may legitimately saturate (tanh(inf) = 1)
            assert kind == "inf" or not np.all(np.isfinite(out)), f"{name} turned a {kind} input into a finite result"
        else:
            assert (name, kind) in _MAY_ACCEPT, f"{name} accepted an invalid {kind} value {a!r}"
    tally.ok("bad-input: arrays", case)


@FAST
@given(st.sampled_from(_TARGET_NAMES), st.data())
def test_bad_array_gives_a_clear_error(tally, name, data):
    kind, a = data.draw(bad_array(_targets()[name][1]))
    check_bad_array(tally, name, kind, a)


@pytest.mark.slow
@MANY
@given(st.sampled_from(_TARGET_NAMES), st.data())
def test_bad_array_gives_a_clear_error_many(tally, name, data):
    kind, a = data.draw(bad_array(_targets()[name][1]))
    check_bad_array(tally, name, kind, a)


@pytest.mark.parametrize("name", ["Network.forward(x0)", "sample_equilibrium(x0)"])
def test_empty_batch_is_an_empty_result(tally, name):
    out = _targets()[name][2](np.zeros((0, 3)))
    xs = out if isinstance(out, list) else out.xs
    assert [x.shape[0] for x in xs] == [0, 0, 0]
    tally.ok("bad-input: arrays", (name, "empty batch"))


@pytest.mark.parametrize("name", ["clamped_minimum(x0)", "stress_vs_backprop(x0)", "train(data x)",
                                  "from_arrays(x_train)", "measure_activity(X)"])
def test_empty_batch_is_refused(tally, name):
    argname, _, call = _targets()[name]
    with pytest.raises(ValueError) as ei:
        call(np.zeros((0, 3)))
    assert not _raised_in_analogsim(ei.value).startswith("OUTSIDE"), ei.value
    tally.ok("bad-input: arrays", (name, "empty batch"))


def test_relax_empty_batch_is_refused(tally):
    with pytest.raises(ValueError, match="x0"):
        _targets()["relax(x0)"][2](np.zeros((0, 3)))


# ============================================================================ scalar settings
_BAD_SCALARS = [None, "1", [1.0], np.nan, np.inf, -np.inf, -1.0, True, 1 + 2j]


@pytest.mark.parametrize("arg", ["kT", "dt", "n_steps", "gamma", "n_replicas", "threads"])
@pytest.mark.parametrize("value", _BAD_SCALARS, ids=repr)
def test_relax_bad_scalar(tally, arg, value):
    from analogsim.inference.simulate import relax

    kw = dict(kT=0.1, dt=0.01, n_steps=2, seed=0, n_replicas=2)
    kw[arg] = value
    if value is None and arg in ("n_replicas", "threads"):
        pytest.skip("None is a valid choice (default)")
    with pytest.raises((ValueError, TypeError)) as ei:
        relax(_net(), [0.0, 0.1, 0.2], **kw)
    assert arg in str(ei.value) and not _raised_in_analogsim(ei.value).startswith("OUTSIDE"), ei.value
    tally.ok("bad-input: arrays", ("relax", arg, repr(value)))


@pytest.mark.parametrize("arg", ["presentations", "mu", "tau_inf", "kT", "kappa_out", "weight_decay", "batch_size",
                                 "substeps", "dt", "max_sweeps"])
@pytest.mark.parametrize("value", _BAD_SCALARS, ids=repr)
def test_train_bad_setting(tally, arg, value):
    from analogsim.training import train

    if value is None and arg in ("kappa_out", "substeps", "dt"):
        pytest.skip("None is a valid choice (default)")
    net = _net()
    with pytest.raises((ValueError, TypeError)) as ei:
        train(net, (np.zeros((4, 3)), np.zeros((4, 2))), **{"presentations": 5, arg: value})
    msg = str(ei.value)
    assert (arg in msg or (arg == "kT" and "schedule" in msg)), msg
    assert not _raised_in_analogsim(ei.value).startswith("OUTSIDE"), ei.value
    tally.ok("bad-input: arrays", ("train", arg, repr(value)))


# ----------------------------------------------------------------------------- issue 14: the command line
_T = ["--kappa-out", "1e-3", "--mu", "100", "--kT", "0", "--no-progress", "--presentations", "5"]
_CLI_BAD = [
    (["train", "--data", "{two}", "--sizes", "3,8,3", *_T], "does not match the data"),
    (["train", "--data", "{npz}", "--sizes", "5,8,2", *_T], "does not match the data"),
    (["train", "--data", "{two}", "--n-in", "3", "--n-out", "1", *_T], "--n-in 3 does not match"),
    (["train", "--data", "{two}", "--targets", "y9", *_T], "neither a 0-based column index"),
    (["train", "--data", "{two}", "--targets", "9", *_T], "column 9 does not exist"),
    (["train", "--data", "{two}", "--inputs", "0-3", "--targets", "3,4", *_T], "both inputs and targets"),
    (["train", "--data", "{npz}", "--delimiter", ";", *_T], "--delimiter applies to .csv"),
    (["train", "--data", "teacher", "--targets", "1", *_T], "not to --data teacher"),
    (["train", "--data", "{npz}", "--inputs", "nope", *_T], "has no array 'nope'"),
    (["train", "--sizes", "100000,100000,1", *_T], "--sizes: training a network"),
    (["train", "--sizes", "4,9223372036854775807,1", *_T], "must be a layer width from 1 to"),
    (["train", "--sizes", "4,0,1", *_T], "must be a layer width from 1 to"),
    (["train", *_T, "--presentations", "1.5"], "expected a whole number"),
    (["train", *_T, "--out", "{dir}"], "is a folder"),
    (["train", *_T, "--out", "{dir}/missing/o.npz"], "does not exist"),
    (["train", *_T, "--checkpoint", "{dir}"], "is a folder"),
    (["train", *_T, "--model", "{dir}/none.pt"], "does not exist"),
    (["train", *_T, "--model", "{npz}"], "not an analogsim network record"),
    (["train", "--config", "{relaxcfg}", *_T], "kind = 'relax'"),
    (["train", "--config", "{nokind}", *_T], 'add kind = "train"'),
    (["relax", "--kT", "-1e-6"], "kT must be >= 0"),
    (["relax", "--kT", "0.1", "--replicas", "1e10"], "--replicas:"),
    (["relax", "--kT", "0.1", "--tau", "1e12"], "--tau:"),
    (["relax", "--kT", "0.1", "--n-steps", "1e14"], "--n-steps:"),
    (["relax", "--kT", "0.1", "--save", "{dir}"], "is a folder"),
    (["relax", "--config", "{nokind}"], 'add kind = "relax"'),
    (["check-stress", "--ratios", "-1,0"], "--ratios must be finite numbers > 0"),
    (["check-stress", "--plot", "{dir}/missing/x.png"], "does not exist"),
    (["sweep", "{bigsweep}", "--out", "{dir}/r", "--dry-run"], "cannot fit in memory"),
    (["sweep", "{bigsweep}", "--connect-timeout", "0"], "expected a positive number of seconds"),
    (["check-stress", "--width", "5000000"], "--width must be a layer width"),
    (["check-stress", "--width", "1000000"], "--width: a depth-4 network"),
    (["check-stress", "--depths", "0,1"], "--depths must be numbers of weight layers"),
    (["bounds", "train", "--N", "1e3", "--S", "1e4", "--kT", "-1e-3", "--W", "1"], "kT must be > 0"),
]


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli14")
    rng = np.random.default_rng(0)
    X, T = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    np.savetxt(d / "two.csv", np.hstack([X, T]), delimiter=",", header="a,b,c,y1,y2", comments="")
    np.savez(d / "d.npz", x=X, t=T)
    (d / "relax.toml").write_text('[experiment]\nkind = "relax"\n[dynamics]\nkT = 0.1\n')
    (d / "nokind.toml").write_text('[dynamics]\nkT = 0.1\n')
    (d / "big.toml").write_text('[experiment]\nkind = "train"\n[dynamics]\nkT = 0.0\n[training]\nkappa_out = 1e-3\n'
                                '[sweep]\nwidth = [4, 4000000000]\n')
    return {"two": d / "two.csv", "npz": d / "d.npz", "relaxcfg": d / "relax.toml", "nokind": d / "nokind.toml",
            "bigsweep": d / "big.toml", "dir": d}


@pytest.mark.parametrize("args, needle", _CLI_BAD, ids=[" ".join(a[:3]) + f" {i}" for i, (a, _) in
                                                         enumerate(_CLI_BAD)])
def test_issue14_command_line_bad_input_exits_2_naming_it(tally, cli_files, capsys, args, needle):
    """The command-line cases of issue 14: each ends in one `error:` line naming the setting, exit code 2,
    before any work (no traceback)."""
    from analogsim import cli

    argv = [a.format(**cli_files) for a in args]
    tally.attempt("bad-input: command line (issue 14)", tuple(args))
    capsys.readouterr()
    try:
        rc = cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err, err
    tally.ok("bad-input: command line (issue 14)", tuple(args))
