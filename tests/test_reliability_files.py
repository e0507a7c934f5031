"""Files read back from disk: corrupt or truncated checkpoints, results folders and data files, folders of
another run, and the safe-file rules (no pickle/eval/marshal/shelve/yaml.load; np.load only with
allow_pickle=False; configs through tomllib; loaded arrays checked before use).

Property for every corrupted file: a clear CheckpointError / ValueError naming the file, or the exact
original content (a corruption that changes nothing), never a silently different result.
"""

from __future__ import annotations

import ast
import io
import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import test_faults_helpers as fh
from analogsim.data.checkpoint import load_checkpoint, save_checkpoint
from analogsim.errors import CheckpointError, ConfigError

PKG = Path(__import__("analogsim").__file__).resolve().parent
# the default suite draws the same examples every run (derandomize); the slow suite explores at random
FAST = settings(deadline=None, max_examples=80, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MANY = settings(deadline=None, max_examples=2000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


# ============================================================================ checkpoints
ARRAYS = {"theta": np.linspace(-1, 1, 37), "acc": np.arange(8.0), "X": np.zeros((0,)), "n": np.arange(3)}
META = {"s": 1234, "rng_state": {"state": str(2**100 + 7), "inc": "5"}, "hook_log": [[1, "a"]], "x": 0.1}


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    p = tmp_path_factory.mktemp("ck") / "ck.npz"
    save_checkpoint(p, ARRAYS, META, kind="train", config_hash="h" * 64)
    return p.read_bytes()


@st.composite
def corruption(draw, n: int):
    kind = draw(st.sampled_from(["truncate", "flip", "zero_run", "append", "garbage", "empty", "splice"]))
    if kind == "truncate":
        return kind, draw(st.integers(0, n - 1))
    if kind == "flip":
        return kind, draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 255)), min_size=1, max_size=4))
    if kind == "zero_run":
        a = draw(st.integers(0, n - 1))
        return kind, (a, draw(st.integers(a + 1, min(n, a + 512))))
    if kind == "append":
        return kind, draw(st.binary(min_size=1, max_size=64))
    if kind == "garbage":
        return kind, draw(st.binary(max_size=256))
    if kind == "splice":
        a = draw(st.integers(0, n - 2))
        return kind, (a, draw(st.integers(a + 1, n - 1)))
    return kind, None


def corrupt(data: bytes, kind, arg) -> bytes:
    b = bytearray(data)
    if kind == "truncate":
        return bytes(b[:arg])
    if kind == "flip":
        for i, x in arg:
            b[i] ^= x
        return bytes(b)
    if kind == "zero_run":
        b[arg[0]:arg[1]] = bytes(arg[1] - arg[0])
        return bytes(b)
    if kind == "append":
        return bytes(b) + arg
    if kind == "garbage":
        return arg
    if kind == "splice":  # a chunk cut out of the middle
        return bytes(b[:arg[0]] + b[arg[1]:])
    return b""


def _zip_header_edit(data: bytes, field: str) -> bytes:
    """The checkpoint with one field of its first central-directory record changed (what a bit flip can do)."""
    b = bytearray(data)
    cd = b.find(b"PK\x01\x02")
    off, val = {"version": (6, 109), "encrypted": (8, 1), "compression": (10, 99)}[field]
    b[cd + off] = val
    return bytes(b)


@pytest.mark.parametrize("field", ["version", "encrypted", "compression"])
def test_corrupt_zip_header_field_is_refused(tmp_path, checkpoint_bytes, field):
    p = tmp_path / "ck.npz"
    p.write_bytes(_zip_header_edit(checkpoint_bytes, field))
    with pytest.raises(CheckpointError):
        load_checkpoint(p, kind="train")


def check_checkpoint_corruption(tally, tmp, data, kind, arg):
    bad = corrupt(data, kind, arg)
    tally.attempt("bad-input: corrupt checkpoints", (kind, repr(arg)[:80]))
    p = tmp / "ck.npz"
    p.write_bytes(bad)
    try:
        arrays, meta = load_checkpoint(p, kind="train", config_hash="h" * 64)
    except CheckpointError as exc:
        assert str(p) in str(exc) or "checkpoint" in str(exc)
    else:  # the corruption missed everything that matters (e.g. trailing bytes): the content is exact
        assert meta == META and set(arrays) == set(ARRAYS)
        for k, v in ARRAYS.items():
            assert arrays[k].dtype == v.dtype and np.array_equal(arrays[k], v)
    tally.ok("bad-input: corrupt checkpoints", (kind, repr(arg)[:80]))


@FAST
@given(data=st.data())
def test_corrupt_checkpoint_is_refused_or_exact(tally, tmp_path, checkpoint_bytes, data):
    kind, arg = data.draw(corruption(len(checkpoint_bytes)))
    check_checkpoint_corruption(tally, tmp_path, checkpoint_bytes, kind, arg)


@pytest.mark.slow
@MANY
@given(data=st.data())
def test_corrupt_checkpoint_is_refused_or_exact_many(tally, tmp_path, checkpoint_bytes, data):
    kind, arg = data.draw(corruption(len(checkpoint_bytes)))
    check_checkpoint_corruption(tally, tmp_path, checkpoint_bytes, kind, arg)


def _npz(path, **arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    Path(path).write_bytes(buf.getvalue())


@pytest.mark.parametrize("case", ["other kind", "other config", "no header", "pickled object", "bad header json",
                                  "header not object", "other format", "tampered array", "tampered meta"])
def test_foreign_or_tampered_checkpoint_is_refused(tally, tmp_path, case):
    p = tmp_path / "ck.npz"
    save_checkpoint(p, ARRAYS, META, kind="train", config_hash="h" * 64)
    kind, chash = "train", "h" * 64
    if case == "other kind":
        kind = "relax"
    elif case == "other config":
        chash = "g" * 64
    elif case == "no header":
        _npz(p, theta=np.zeros(3))
    elif case == "pickled object":
        np.savez(p, __header__=np.frombuffer(b"{}", np.uint8), theta=np.array([{"evil": 1}], dtype=object))
    elif case in ("bad header json", "header not object", "other format", "tampered array", "tampered meta"):
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(bytes(arrays["__header__"]).decode())
        if case == "bad header json":
            arrays["__header__"] = np.frombuffer(b"{not json", np.uint8)
        elif case == "header not object":
            arrays["__header__"] = np.frombuffer(b"[1, 2]", np.uint8)
        elif case == "other format":
            header["format"] = "analogsim.data.checkpoint/999"
        elif case == "tampered array":
            arrays["theta"] = arrays["theta"] * 1.0000001
        else:
            header["meta"]["s"] = 1
        if case in ("other format", "tampered meta"):
            arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        _npz(p, **arrays)
    with pytest.raises(CheckpointError):
        load_checkpoint(p, kind=kind, config_hash=chash)
    tally.ok("bad-input: corrupt checkpoints", case)


def _tiny_train(ck, **kw):
    from analogsim import Network
    from analogsim.data import teacher_student
    from analogsim.training import train

    ds = teacher_student(n_in=2, n_out=1, n_train=16, n_test=8, seed=0)
    net = Network.create([2, 4, 1], activations=["tanh", "identity"], seed=1)
    args = dict(presentations=200, mu=10.0, tau_inf=1.0, kappa_out=1e-2, kT=1e-6, seed=4, checkpoint=ck,
                checkpoint_every=50)
    args.update(kw)
    return train(net, ds, **args)


@pytest.mark.parametrize("case", ["truncated", "another run", "crafted shapes", "not a file"])
def test_train_refuses_a_bad_checkpoint_and_leaves_it_alone(tally, tmp_path, case):
    ck = tmp_path / "ck.npz"
    if case == "truncated":
        _tiny_train(ck)
        ck.write_bytes(ck.read_bytes()[:700])
        exc = CheckpointError
    elif case == "another run":
        _tiny_train(ck, seed=5)  # same net and data, another seed: another configuration
        exc = CheckpointError
    elif case == "crafted shapes":  # a valid file with the right identity but arrays of the wrong shape
        res = _tiny_train(ck)
        arrays, meta = load_checkpoint(ck, kind="train")
        arrays["theta"] = np.zeros(3)
        meta["s"] = 50
        save_checkpoint(ck, arrays, meta, kind="train", config_hash=res.config_hash)
        exc = CheckpointError
    else:
        ck.mkdir()
        exc = ValueError
    before = ck.read_bytes() if ck.is_file() else None
    with pytest.raises(exc) as ei:
        _tiny_train(ck)
    assert "ck.npz" in str(ei.value) or "checkpoint" in str(ei.value)
    if before is not None:
        assert ck.read_bytes() == before  # refused, not overwritten
    tally.ok("bad-input: corrupt checkpoints", f"train: {case}")


# ============================================================================ network and data files
_JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=False),
                                  st.text(max_size=8)),
                        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8),
                                                                                              inner, max_size=4)),
                        max_leaves=10)


@st.composite
def network_record(draw):
    from analogsim import Network

    net = Network.create([2, 3, 1], activations=["tanh", "identity"], seed=0)
    rec = net.to_arrays()
    meta = json.loads(bytes(rec["net_meta"]).decode())
    what = draw(st.sampled_from(["sizes", "activations", "dtype", "format", "meta", "theta", "kappa", "drop"]))
    if what in ("sizes", "activations", "dtype", "format"):
        meta[what] = draw(st.one_of(_JSONISH, st.lists(st.integers(-3, 5), max_size=4)))
    elif what == "meta":
        rec["net_meta"] = np.frombuffer(draw(st.binary(max_size=40)), np.uint8)
    elif what == "theta":
        rec["net_theta"] = draw(st.sampled_from([np.zeros(3), np.full(13, np.nan), np.zeros((13, 1)),
                                                 np.array(["a"] * 13)]))
    elif what == "kappa":
        rec["net_kappa"] = draw(st.sampled_from([np.zeros(4), -np.ones(4), np.full(4, np.inf), np.ones(5)]))
    else:
        rec.pop(draw(st.sampled_from(sorted(rec))))
    if what not in ("meta",) and "net_meta" in rec:
        rec["net_meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    return what, rec, net


@FAST
@given(network_record())
def test_bad_network_record_is_refused_or_exact(tally, case):
    from analogsim import Network

    what, rec, net = case
    key = (what, repr({k: (v.dtype.str, v.shape, bytes(v)[:64]) for k, v in rec.items()}))
    tally.attempt("bad-input: network records", key)
    try:
        got = Network.from_arrays(rec)
    except (ValueError, TypeError) as exc:
        assert "network" in str(exc) or "net_" in str(exc) or "kappa" in str(exc), exc
        frames = __import__("traceback").extract_tb(exc.__traceback__)
        assert Path(frames[-1].filename).resolve().is_relative_to(PKG), f"raised outside analogsim: {exc!r}"
    else:  # accepted: then it is the same network
        assert got.sizes == net.sizes and got.activation_names == net.activation_names
        assert np.array_equal(got.theta, net.theta) and np.array_equal(got.kappa_flat, net.kappa_flat)
    tally.ok("bad-input: network records", key)


@st.composite
def csv_text(draw):
    rows = draw(st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                                            st.sampled_from(["", "x", "1e999", " ", "nan"])),
                                  min_size=1, max_size=4), max_size=6))
    return "\n".join(",".join(str(v) for v in r) for r in rows)


@FAST
@given(csv_text())
def test_bad_csv_data_is_refused_or_finite(tally, tmp_path, text):
    from analogsim.data import load_arrays

    p = tmp_path / "d.csv"
    p.write_text(text)
    tally.attempt("bad-input: data files", text)
    try:
        ds = load_arrays(p)
    except ValueError as exc:
        frames = __import__("traceback").extract_tb(exc.__traceback__)
        assert Path(frames[-1].filename).resolve().is_relative_to(PKG), f"raised outside analogsim: {exc!r}"
    else:
        for a in (ds.x_train, ds.t_train, ds.x_test, ds.t_test):
            assert np.all(np.isfinite(a))
        assert ds.n_train >= 1
    tally.ok("bad-input: data files", text)


def test_csv_with_an_infinite_value_names_the_file(tmp_path):
    from analogsim.data import load_arrays

    p = tmp_path / "d.csv"
    p.write_text("0.5,1.0\n0.0,1e999\n1.0,2.0\n")
    with pytest.raises(ValueError, match="d.csv"):
        load_arrays(p)



@pytest.mark.parametrize("case", ["truncated", "garbage", "pickled",
                                  "missing key", "nan", "ragged rows", "empty", "wrong suffix", "folder"])
def test_bad_npz_data_is_refused(tally, tmp_path, case):
    from analogsim.data import load_arrays

    p = tmp_path / "d.npz"
    np.savez(p, x=np.ones((8, 3)), t=np.zeros(8))
    if case == "truncated":
        p.write_bytes(p.read_bytes()[:100])
    elif case == "garbage":
        p.write_bytes(os.urandom(300))
    elif case == "pickled":
        np.savez(p, x=np.array([{"a": 1}] * 8, dtype=object), t=np.zeros(8))
    elif case == "missing key":
        np.savez(p, x=np.ones((8, 3)))
    elif case == "nan":
        x = np.ones((8, 3))
        x[2, 1] = np.nan
        np.savez(p, x=x, t=np.zeros(8))
    elif case == "ragged rows":
        np.savez(p, x=np.ones((8, 3)), t=np.zeros(7))
    elif case == "empty":
        np.savez(p, x=np.ones((0, 3)), t=np.zeros(0))
    elif case == "wrong suffix":
        p = tmp_path / "d.pkl"
        p.write_bytes(b"\x80\x04K\x01.")
    else:
        p = tmp_path / "folder.npz"
        p.mkdir()
    with pytest.raises((ValueError, IsADirectoryError)) as ei:
        load_arrays(p)
    assert p.name in str(ei.value), ei.value
    tally.ok("bad-input: data files", case)


# ============================================================================ sweep results folders
def _sweep(tmp, out="out", **kw):
    from analogsim.sweeps import run_sweep

    cfg = tmp / "sweep.toml"
    if not cfg.exists():
        cfg.write_text(fh.sweep_config(widths=(2, 3, 4), seeds=2))
    return run_sweep(cfg, tmp / out, backend=fh.SerialBackend(), **kw)


def _records(out: Path) -> dict:
    return {p.name: p.read_bytes() for p in (out / "points").glob("*.json")}


@pytest.mark.parametrize("case", ["truncated", "empty", "not json", "list", "other coords", "bad status",
                                  "deleted"])
def test_unusable_point_record_is_recomputed_and_nothing_else(tally, tmp_path, case):
    from analogsim.sweeps import open_results

    _sweep(tmp_path, "ref")
    _sweep(tmp_path)
    out = tmp_path / "out"
    before = _records(out)
    victim = sorted(before)[2]
    p = out / "points" / victim
    rec = json.loads(p.read_text())
    if case == "truncated":
        p.write_bytes(before[victim][: len(before[victim]) // 2])
    elif case == "empty":
        p.write_bytes(b"")
    elif case == "not json":
        p.write_bytes(b"\x00\xff garbage")
    elif case == "list":
        p.write_text("[1, 2, 3]")
    elif case == "other coords":
        rec["coords"]["width"] = 99
        p.write_text(json.dumps(rec))
    elif case == "bad status":
        rec["status"] = "maybe"
        p.write_text(json.dumps(rec))
    else:
        p.unlink()
    s = _sweep(tmp_path)
    assert s.n_computed == 1 and s.n_skipped == len(before) - 1
    after = _records(out)
    assert {k for k in after if after[k] != before[k]} == {victim}
    a, b = open_results(out), open_results(tmp_path / "ref")
    for v in ("mean_out", "var_out", "status", "point_seed"):
        assert np.array_equal(a[v].values, b[v].values)
    tally.ok("bad-input: results folders", f"point record {case}")


@pytest.mark.parametrize("case", ["not json", "other format", "other config", "no run.json but files",
                                  "file instead of folder"])
def test_foreign_or_broken_results_folder_is_refused_untouched(tally, tmp_path, case):
    out = tmp_path / "out"
    (tmp_path / "sweep.toml").write_text(fh.sweep_config(widths=(2, 3, 4), seeds=2))
    if case == "file instead of folder":
        out.write_text("x")
    elif case == "no run.json but files":
        out.mkdir()
        (out / "mine.txt").write_text("x")
    else:
        _sweep(tmp_path)
        run = out / "run.json"
        info = json.loads(run.read_text())
        if case == "not json":
            run.write_text("{truncated")
        elif case == "other format":
            info["format"] = "something-else/3"
            run.write_text(json.dumps(info))
        else:
            info["config_hash"] = "0" * 64
            run.write_text(json.dumps(info))
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises((CheckpointError, NotADirectoryError)) as ei:
        _sweep(tmp_path)
    assert "out" in str(ei.value)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot
    tally.ok("bad-input: results folders", case)


def test_run_json_that_is_not_an_object_is_refused(tally, tmp_path):
    _sweep(tmp_path)
    (tmp_path / "out" / "run.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError):
        _sweep(tmp_path)
    tally.ok("bad-input: results folders", "run.json not an object")


@pytest.mark.parametrize("case", ["truncated", "garbage"])
def test_corrupt_results_file_is_refused_clearly(tally, tmp_path, capsys, case):
    from analogsim import cli
    from analogsim.sweeps import open_results

    _sweep(tmp_path)
    nc = tmp_path / "out" / "results.nc"
    nc.write_bytes(nc.read_bytes()[:300] if case == "truncated" else b"garbage" * 10)
    with pytest.raises(CheckpointError, match="results.nc"):
        open_results(tmp_path / "out")
    assert cli.main(["plot", str(tmp_path / "out")]) == 2  # on the command line: a message, no traceback
    err = capsys.readouterr().err
    assert err.startswith("analogsim plot: error:") and "results.nc" in err
    tally.ok("bad-input: results folders", f"results.nc {case}")


def test_results_file_is_rebuilt_from_the_point_records(tally, tmp_path):
    from analogsim.sweeps import open_results

    _sweep(tmp_path)
    nc = tmp_path / "out" / "results.nc"
    good = open_results(tmp_path / "out")
    nc.write_bytes(b"garbage")
    s = _sweep(tmp_path)  # a re-run computes nothing and writes the dataset again
    assert s.n_computed == 0
    assert open_results(tmp_path / "out").equals(good)
    tally.ok("bad-input: results folders", "results.nc rebuilt")


# ============================================================================ file modes, leftovers
def test_atomic_writes_have_normal_file_permissions(tmp_path):
    from analogsim._io import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.txt", b"x")
        (tmp_path / "b.txt").write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == stat.S_IMODE((tmp_path / "b.txt").stat().st_mode)


def _stale(folder: Path, name: str) -> Path:
    p = folder / f".{name}.abc123.tmp"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"half a file")
    return p


def test_validate_resume_removes_stale_temporary_files(tally, tmp_path, monkeypatch):
    from analogsim.validation import framework

    _fake_claims(monkeypatch)
    out = tmp_path / "rep"
    framework.run_validation("quick", out, claims=["equilibrium"])
    stale = [_stale(out, "report.md"), _stale(out, "report.json"), _stale(out / "figures", "fake.png")]
    framework.run_validation("quick", out, claims=["equilibrium", "stress"], resume=True)
    assert not any(p.exists() for p in stale) and not fh.temp_files(out)
    tally.ok("bad-input: results folders", "validate: stale temp files removed")


def test_sweep_resume_removes_stale_temporary_files(tally, tmp_path):
    _sweep(tmp_path)
    out = tmp_path / "out"
    stale = [_stale(out, "run.json"), _stale(out / "points", "0123456789abcdef.json"), _stale(out, "results.nc")]
    _sweep(tmp_path)
    assert not any(p.exists() for p in stale)
    tally.ok("bad-input: results folders", "sweep: stale temp files removed")


def test_train_resume_removes_stale_temporary_files(tmp_path):
    ck = tmp_path / "ck.npz"
    _tiny_train(ck, presentations=100)
    stale = _stale(tmp_path, "ck.npz")
    _tiny_train(ck, presentations=100)
    assert not stale.exists()


def _fake_claims(monkeypatch):
    """Two fast claims in place of 'equilibrium' and 'stress' (each with a figure)."""
    import sys
    import types

    from analogsim.validation import _plot
    from analogsim.validation.framework import ClaimResult, criterion_bound

    for name in ("equilibrium", "stress"):
        mod = types.ModuleType(f"analogsim.validation.{name}")
        mod.TITLE, mod.STATEMENT = f"fake {name}", "a statement"

        def run(ctx, name=name):
            fig, (ax,) = _plot.figure()
            ax.plot([0, 1], [0, 1])
            return ClaimResult(name, f"fake {name}", "a statement", [criterion_bound("x", 1.0, 0.1, low=0.0)],
                               figures=[_plot.save(fig, ctx, f"{name}.png")])

        mod.run = run
        monkeypatch.setitem(sys.modules, f"analogsim.validation.{name}", mod)


# ============================================================================ the safe-file rules, by source scan
FORBIDDEN_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal", "shelve", "yaml", "toml", "tomli",
                     "pytoml", "jsonpickle"}


def scan_source(text: str, name: str = "<src>") -> list[str]:
    """Uses of unsafe deserialisation in Python source: a list of 'file:line: what' findings."""
    out = []
    tree = ast.parse(text, name)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                if m.split(".")[0] in FORBIDDEN_MODULES:
                    out.append(f"{name}:{node.lineno}: imports {m}")
        if isinstance(node, ast.Call):
            f = node.func
            fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            kw = {k.arg: k.value for k in node.keywords}
            if isinstance(f, ast.Name) and fname in ("eval", "exec"):
                out.append(f"{name}:{node.lineno}: calls {fname}()")
            if fname == "load" and owner in ("np", "numpy"):
                v = kw.get("allow_pickle")
                if not (isinstance(v, ast.Constant) and v.value is False):
                    out.append(f"{name}:{node.lineno}: np.load without allow_pickle=False")
            if fname == "load" and owner == "torch":
                v = kw.get("weights_only")
                if not (isinstance(v, ast.Constant) and v.value is True):
                    out.append(f"{name}:{node.lineno}: torch.load without weights_only=True")
            if fname in ("read_pickle", "loads") and owner in ("pd", "pandas", "pickle", "marshal"):
                out.append(f"{name}:{node.lineno}: {owner}.{fname}")
            if fname == "load" and owner in ("yaml", "pickle", "marshal"):
                out.append(f"{name}:{node.lineno}: {owner}.load")
    return out


def test_package_source_has_no_unsafe_deserialisation(tally):
    files = sorted(PKG.rglob("*.py"))
    assert len(files) > 20
    findings = [f for p in files for f in scan_source(p.read_text(), str(p.relative_to(PKG.parent)))]
    assert findings == []
    tally.ok("safe files", f"source scan of {len(files)} modules")


@pytest.mark.parametrize("src", [
    "import pickle", "from pickle import loads", "import marshal", "import shelve", "import yaml",
    "import numpy as np\nnp.load('f')", "import numpy as np\nnp.load('f', allow_pickle=True)",
    "import numpy\nnumpy.load('f', mmap_mode='r')", "eval('1')", "exec('x = 1')", "import torch\ntorch.load('f')",
    "import cloudpickle", "import toml", "import pandas as pd\npd.read_pickle('f')", "import yaml\nyaml.load(s)",
])
def test_source_scan_catches_each_unsafe_pattern(src):
    assert scan_source(src), src  # negative control: the scan is not vacuous


def test_configs_are_parsed_with_tomllib_only():
    text = (PKG / "data" / "config.py").read_text()
    assert "tomllib.loads" in text
    assert not scan_source(text)
    with pytest.raises(ConfigError, match="invalid TOML"):  # not another parser's dialect either
        from analogsim.data.config import parse_config

        parse_config("kind: stress\n")


# ============================================================================ validate --resume: what is (not) reused
@pytest.mark.parametrize("case", ["other mode", "other version", "unreadable", "errored claim", "missing figure"])
def test_validate_resume_reuses_only_finished_claims_of_the_same_run(tally, tmp_path, monkeypatch, case):
    from analogsim.validation import framework

    _fake_claims(monkeypatch)
    out = tmp_path / "rep"
    framework.run_validation("quick", out, claims=["equilibrium", "stress"])
    rep = out / "report.json"
    info = json.loads(rep.read_text())
    mode, expect = "quick", [False, False]
    if case == "other mode":
        mode = "full"
    elif case == "other version":
        info["version"] = "0.0.0-other"
        rep.write_text(json.dumps(info))
    elif case == "unreadable":
        rep.write_text("{truncated")
    elif case == "errored claim":
        info["claims"][1]["error"] = "RuntimeError: boom"
        rep.write_text(json.dumps(info))
        expect = [True, False]
    else:
        (out / info["claims"][0]["figures"][0]).unlink()
        expect = [False, True]
    res = framework.run_validation(mode, out, claims=["equilibrium", "stress"], resume=True)
    assert [r.resumed for r in res] == expect
    fh.check_complete(out)
    tally.ok("bad-input: results folders", f"validate --resume: {case}")
