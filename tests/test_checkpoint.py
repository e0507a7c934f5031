"""Checkpoints: atomic, pickle-free, verified (format tag, kind, config hash, content sha256)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from analogsim.data.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from analogsim.errors import CheckpointError

ARR = {"theta": np.linspace(0, 1, 7), "state": np.array([1, 2, 3, 4], dtype=np.uint64)}
META = {"s": 12, "big": 2 ** 70, "name": "run"}


def _save(p, **kw):
    save_checkpoint(p, ARR, META, kind=kw.get("kind", "train"), config_hash=kw.get("config_hash", "h1"))


def test_roundtrip_keeps_arrays_dtypes_and_meta(tmp_path):
    p = tmp_path / "ck.npz"
    _save(p)
    arrays, meta = load_checkpoint(p, kind="train", config_hash="h1")
    assert meta == META and arrays["state"].dtype == np.uint64
    assert all(np.array_equal(arrays[k], v) for k, v in ARR.items())
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


def test_foreign_or_corrupt_files_are_rejected(tmp_path):
    p = tmp_path / "ck.npz"
    _save(p)
    with pytest.raises(CheckpointError, match="another run"):
        load_checkpoint(p, kind="train", config_hash="other")
    with pytest.raises(CheckpointError, match="'sweep'"):
        load_checkpoint(p, kind="sweep")
    data = p.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "trunc.npz", kind="train")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "junk.npz", kind="train")
    np.savez(tmp_path / "plain.npz", theta=np.zeros(3))
    with pytest.raises(CheckpointError, match="not an analogsim checkpoint"):
        load_checkpoint(tmp_path / "plain.npz", kind="train")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nope.npz", kind="train")


def _rewrite(src, dst, change):
    """Copy an npz, letting ``change(name, array, header)`` alter entries (header as a dict)."""
    with np.load(src, allow_pickle=False) as z:
        items = {k: z[k] for k in z.files}
    header = json.loads(bytes(items["__header__"]).decode())
    change(items, header)
    items["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **items)
    dst.write_bytes(buf.getvalue())


def test_tampered_content_and_unknown_format_are_rejected(tmp_path):
    p = tmp_path / "ck.npz"
    _save(p)

    def flip(items, header):
        items["theta"] = items["theta"].copy()
        items["theta"][3] += 1e-12

    _rewrite(p, tmp_path / "t.npz", flip)
    with pytest.raises(CheckpointError, match="content check"):
        load_checkpoint(tmp_path / "t.npz", kind="train")
    _rewrite(p, tmp_path / "m.npz", lambda items, h: h["meta"].update(s=13))
    with pytest.raises(CheckpointError, match="content check"):
        load_checkpoint(tmp_path / "m.npz", kind="train")
    _rewrite(p, tmp_path / "f.npz", lambda items, h: h.update(format="analogsim.data.checkpoint/0"))
    with pytest.raises(CheckpointError, match=FORMAT):
        load_checkpoint(tmp_path / "f.npz", kind="train")
    # a pickled object array inside is refused by allow_pickle=False
    buf = io.BytesIO()
    np.savez(buf, __header__=np.frombuffer(b"{}", dtype=np.uint8), x=np.array([object()], dtype=object))
    (tmp_path / "o.npz").write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "o.npz", kind="train")
    assert zipfile.is_zipfile(p)


def test_bad_save_arguments(tmp_path):
    with pytest.raises(TypeError, match="numeric"):
        save_checkpoint(tmp_path / "a.npz", {"x": np.array(["a"])}, {}, kind="k", config_hash="h")
    with pytest.raises(ValueError, match="__"):
        save_checkpoint(tmp_path / "a.npz", {"__header__": np.zeros(1)}, {}, kind="k", config_hash="h")
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(tmp_path / "a.npz", {}, {"x": object()}, kind="k", config_hash="h")


def test_training_resumes_from_its_checkpoint_exactly(tmp_path):
    """A run stopped after a checkpoint (here: an exception from the hook) and restarted gives the numbers
    of an uninterrupted run; a checkpoint of another configuration is refused."""
    from analogsim import Network
    from analogsim.data import teacher_student
    from analogsim.training import train

    ds = teacher_student(n_in=3, n_out=1, n_train=32, n_test=8, seed=0)
    net = Network.create([3, 6, 1], activations=["tanh", "identity"], seed=1)
    kw = dict(presentations=3000, mu=50.0, kappa_out=1e-3, kT=1e-7, weight_decay=1e-4, seed=4, eval_every=100)
    ref = train(net, ds, **kw)
    ck = tmp_path / "ck.npz"

    class Stop(Exception):
        pass

    def stopper(s, th, n):
        if s == 1700:
            raise Stop

    with pytest.raises(Stop):
        train(net, ds, checkpoint=ck, checkpoint_every=500, hook=stopper, hook_every=100, **kw)
    assert load_checkpoint(ck, kind="train")[1]["s"] == 1500
    res = train(net, ds, checkpoint=ck, checkpoint_every=500, **kw)
    assert res.resumed_from == 1500
    assert np.array_equal(res.theta, ref.theta) and res.books == ref.books
    for k, v in ref.records.items():
        np.testing.assert_array_equal(res.records[k], v)
    with pytest.raises(CheckpointError, match="another run"):
        train(net, ds, checkpoint=ck, **{**kw, "mu": 51.0})
