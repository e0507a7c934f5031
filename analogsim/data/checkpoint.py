"""Atomic, pickle-free, verified checkpoints.

A checkpoint is one ``.npz`` file (uncompressed) written atomically (temp file, fsync, rename; see
:mod:`analogsim._io`). Besides the caller's arrays it holds ``__header__``: UTF-8 JSON with

* ``format``: ``"analogsim.data.checkpoint/1"`` (the format tag),
* ``kind``: what wrote it (e.g. ``"train"``),
* ``config_hash``: the sha256 of the run configuration it belongs to,
* ``content_sha256``: sha256 over every array (name, dtype, shape, bytes, in name order) and the
  canonical JSON of ``meta``,
* ``meta``: the caller's JSON-serialisable state (counters, RNG states, ...).

Reading uses ``np.load(allow_pickle=False)``; a truncated, corrupt, tampered, foreign (other kind or
other config) or unknown-format file raises :class:`analogsim.errors.CheckpointError` with a message
that says which check failed and what to do.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes
from ..errors import CheckpointError

__all__ = ["FORMAT", "save_checkpoint", "load_checkpoint", "content_digest"]

FORMAT = "analogsim.data.checkpoint/1"
_HEADER = "__header__"


def content_digest(arrays: dict, meta: dict) -> str:
    """sha256 over the arrays (sorted by name: name, dtype, shape, C-order bytes) and the canonical meta JSON.

    Examples
    --------
    >>> import numpy as np
    >>> a = content_digest({"theta": np.zeros(3)}, {"step": 1})
    >>> len(a), a == content_digest({"theta": np.zeros(3)}, {"step": 1}), a == content_digest({"theta": np.ones(3)}, {"step": 1})
    (64, True, False)
    """
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(b"\0")
        h.update(a.dtype.str.encode())
        h.update(repr(tuple(a.shape)).encode())
        h.update(a.tobytes())
    h.update(json.dumps(meta, sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


def save_checkpoint(path, arrays: dict, meta: dict, *, kind: str, config_hash: str) -> None:
    """Write a verified checkpoint atomically.

    Parameters
    ----------
    path : str or Path
    arrays : dict of name -> numeric ndarray
        Names must not start with ``__``; object arrays are refused.
    meta : dict
        JSON-serialisable state (ints of any size, floats, strings, lists, dicts).
    kind : str
        What writes it; :func:`load_checkpoint` checks it.
    config_hash : str
        Identifies the run configuration; a resume with another configuration is refused.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "ck.npz")
    >>> save_checkpoint(p, {"theta": np.arange(3.0)}, {"step": 7}, kind="demo", config_hash="abc")
    >>> arrays, meta = load_checkpoint(p, kind="demo", config_hash="abc")
    >>> meta["step"], arrays["theta"].tolist()
    (7, [0.0, 1.0, 2.0])
    """
    clean = {}
    for name, a in arrays.items():
        if not isinstance(name, str) or name.startswith("__"):
            raise ValueError(f"checkpoint array names must be strings not starting with '__', got {name!r}")
        arr = np.asarray(a)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"checkpoint array {name!r} must be numeric, got dtype {arr.dtype}")
        clean[name] = np.ascontiguousarray(arr)
    try:
        json.dumps(meta, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"checkpoint meta must be JSON-serialisable: {exc}") from None
    header = {"format": FORMAT, "kind": str(kind), "config_hash": str(config_hash),
              "content_sha256": content_digest(clean, meta), "meta": meta}
    buf = io.BytesIO()
    payload = dict(clean)
    payload[_HEADER] = np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    np.savez(buf, **payload)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path, *, kind: str, config_hash: str | None = None):
    """Read and verify a checkpoint; returns ``(arrays, meta)``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file is not a readable npz, has no header, has another format tag or kind, belongs to
        another configuration (``config_hash`` given and different), or its content hash does not match.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "ck.npz")
    >>> save_checkpoint(p, {"theta": np.arange(3.0)}, {"step": 7}, kind="demo", config_hash="abc")
    >>> load_checkpoint(p, kind="demo", config_hash="abc")[1]["step"]
    7
    >>> load_checkpoint(p, kind="demo", config_hash="other")          # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    analogsim.errors.CheckpointError: ...
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"checkpoint {str(p)!r} does not exist")
    try:
        with np.load(p, allow_pickle=False) as z:
            names = list(z.files)
            if _HEADER not in names:
                raise CheckpointError(f"{str(p)!r} is not an analogsim checkpoint (no {_HEADER} record); "
                                      "it was written by something else")
            arrays = {n: z[n] for n in names if n != _HEADER}
            raw = z[_HEADER]
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, zipfile.LargeZipFile, NotImplementedError,
            RuntimeError, zlib.error) as exc:  # zipfile: NotImplementedError/RuntimeError on corrupt header fields
        raise CheckpointError(f"{str(p)!r} is not a readable checkpoint (truncated or corrupt npz: {exc}); "
                              "delete it to start over") from None
    try:
        header = json.loads(bytes(np.asarray(raw, dtype=np.uint8)).decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{str(p)!r} has an unreadable header ({exc}); the file is corrupt") from None
    fmt = header.get("format")
    if fmt != FORMAT:
        raise CheckpointError(f"{str(p)!r} has format {fmt!r}, expected {FORMAT!r}; it was written by another "
                              "program or version")
    if header.get("kind") != kind:
        raise CheckpointError(f"{str(p)!r} is a {header.get('kind')!r} checkpoint, expected {kind!r}")
    if config_hash is not None and header.get("config_hash") != config_hash:
        theirs = str(header.get("config_hash"))[:12]
        raise CheckpointError(f"{str(p)!r} belongs to another run (config hash {theirs}… "
                              f"!= {config_hash[:12]}…); delete it or choose another checkpoint path")
    meta = header.get("meta")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{str(p)!r} has no meta record; the file is corrupt")
    digest = content_digest(arrays, meta)
    if digest != header.get("content_sha256"):
        raise CheckpointError(f"{str(p)!r} failed its content check (sha256 {digest[:12]}… != recorded "
                              f"{str(header.get('content_sha256'))[:12]}…); the file is corrupt or was modified")
    return arrays, meta


# ----------------------------------------------------------------------------- run identity, extension, lock
def identity_difference(theirs, ours, prefix: str = "") -> list[tuple[str, object, object]]:
    """The settings that differ between two run identities (nested dicts): ``[(path, theirs, ours)]``.

    Examples
    --------
    >>> identity_difference({"config": {"mu": 50.0, "S": 10}}, {"config": {"mu": 100.0, "S": 10}})
    [('config.mu', 50.0, 100.0)]
    """
    if isinstance(theirs, dict) and isinstance(ours, dict):
        out = []
        for k in sorted(set(theirs) | set(ours), key=str):
            out += identity_difference(theirs.get(k), ours.get(k), f"{prefix}{k}.")
        return out
    return [] if theirs == ours else [(prefix.rstrip("."), theirs, ours)]


def load_or_extend(path, *, kind: str, config_hash: str, identity: dict, extendable=(), may_extend=None):
    """Load a checkpoint of this run, or of a run that differs only in ``extendable`` settings.

    A checkpoint whose ``meta["identity"]`` differs from ``identity`` only in the paths listed in
    ``extendable`` (e.g. ``config.presentations``: a finished run continued to more presentations) is
    returned when ``may_extend(meta)`` returns None; any other difference raises
    :class:`CheckpointError` naming every differing setting with both values.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "ck.npz")
    >>> save_checkpoint(p, {"a": np.zeros(1)}, {"identity": {"S": 10, "mu": 1.0}}, kind="demo", config_hash="h1")
    >>> _, meta = load_or_extend(p, kind="demo", config_hash="h2", identity={"S": 20, "mu": 1.0}, extendable=("S",))
    >>> meta["identity"]["S"]
    10
    """
    try:
        return load_checkpoint(path, kind=kind, config_hash=config_hash)
    except CheckpointError as exc:
        if "belongs to another run" not in str(exc):
            raise
        first = exc
    arrays, meta = load_checkpoint(path, kind=kind)
    theirs = meta.get("identity")
    if not isinstance(theirs, dict):
        raise CheckpointError(f"{first} (it was written before checkpoints recorded their settings, so what "
                              "differs cannot be named)")
    ours = json.loads(json.dumps(identity, default=str))
    diff = identity_difference(theirs, ours)
    fixed = [d for d in diff if d[0] not in extendable]
    if not fixed:
        why = may_extend(meta) if may_extend is not None else None
        if why is None:
            return arrays, meta
        raise CheckpointError(f"{str(path)!r} cannot be extended: {why}")
    shown = "; ".join(f"{k}: checkpoint {_short(a)}, now {_short(b)}" for k, a, b in fixed[:8])
    more = f" (and {len(fixed) - 8} more)" if len(fixed) > 8 else ""
    raise CheckpointError(f"{str(path)!r} belongs to another run: {shown}{more}. Use the checkpoint's settings "
                          "to resume or extend it, or choose another checkpoint path (or --no-resume)")


def _short(v) -> str:
    s = json.dumps(v, default=str)
    return s if len(s) <= 40 else s[:37] + "..."


class CheckpointLock:
    """An exclusive lock on a checkpoint path (``PATH.lock``, ``flock``): two runs cannot share one file.

    The lock is released when the holder exits, however it ends (kill -9 included: the kernel drops it).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "ck.npz")
    >>> with CheckpointLock(p):
    ...     try:
    ...         CheckpointLock(p).acquire()
    ...     except CheckpointError as e:
    ...         print("in use" in str(e))
    True
    """

    def __init__(self, path):
        self.path = Path(str(path) + ".lock")
        self.target = Path(path)
        self._fd = None

    def acquire(self) -> "CheckpointLock":
        import os

        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            except OSError:
                holder = ""
            os.close(fd)
            raise CheckpointError(f"checkpoint {str(self.target)!r} is in use by another run"
                                  + (f" ({holder})" if holder else "")
                                  + "; wait for it to finish or choose another checkpoint path") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        import os

        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(fd)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
