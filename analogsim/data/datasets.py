"""Training data: a seeded teacher-student generator, scikit-learn's digits, and user arrays.

Every loader returns a :class:`Dataset`: training inputs and targets plus a held-out split, as
C-contiguous float arrays with one row per entry, validated (2-D, same number of rows, finite,
non-empty). :meth:`Dataset.check_network` compares the shapes with a network before any training runs.

Files are read without pickle: ``.npz`` with ``np.load(allow_pickle=False)``, ``.csv`` with
``np.loadtxt``.
"""

from __future__ import annotations

import hashlib
import math
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._checks import as_generator, check_scalar

__all__ = ["Dataset", "teacher_student", "digits", "load_arrays", "split", "from_arrays"]


@dataclass(frozen=True)
class Dataset:
    """Input/target pairs (x_0, target)_alpha for training, with a held-out split.

    Attributes
    ----------
    x_train : array (D, n_in)
    t_train : array (D, n_out)
    x_test : array (D_test, n_in)
        Held-out inputs (may have zero rows).
    t_test : array (D_test, n_out)
    name : str
    info : dict
        How the set was made (generator settings, seed, source path); JSON-serialisable.

    Examples
    --------
    >>> from analogsim.data import teacher_student
    >>> ds = teacher_student(n_in=4, n_out=1, n_train=100, n_test=50, seed=0)
    >>> ds.n_train, ds.n_in, ds.n_out
    (100, 4, 1)
    """

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    name: str = "arrays"
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        xt = _check_pair(self.x_train, self.t_train, "x_train", "t_train", allow_empty=False)
        xs = _check_pair(self.x_test, self.t_test, "x_test", "t_test", allow_empty=True,
                         n_in=xt[0].shape[1], n_out=xt[1].shape[1])
        for name, a in zip(("x_train", "t_train", "x_test", "t_test"), xt + xs):
            object.__setattr__(self, name, a)

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def n_in(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.t_train.shape[1])

    def check_network(self, net) -> None:
        """Raise ValueError unless inputs and targets match the network's input and output layers."""
        if self.n_in != net.sizes[0]:
            raise ValueError(f"data inputs have {self.n_in} features but the network's input layer has "
                             f"{net.sizes[0]} neurons (sizes {list(net.sizes)}); use a network with "
                             f"sizes[0] = {self.n_in}")
        if self.n_out != net.sizes[-1]:
            raise ValueError(f"data targets have {self.n_out} columns but the network's output layer has "
                             f"{net.sizes[-1]} neurons (sizes {list(net.sizes)}); use a network with "
                             f"sizes[-1] = {self.n_out}")

    def astype(self, dtype) -> "Dataset":
        """A copy with all arrays in ``dtype`` (C-contiguous)."""
        c = lambda a: np.ascontiguousarray(a, dtype=dtype)  # noqa: E731
        return Dataset(c(self.x_train), c(self.t_train), c(self.x_test), c(self.t_test), self.name,
                       dict(self.info))

    def fingerprint(self) -> str:
        """sha256 over the four arrays (dtype, shape and bytes): identifies the data in a run config."""
        h = hashlib.sha256()
        for a in (self.x_train, self.t_train, self.x_test, self.t_test):
            a64 = np.ascontiguousarray(a, dtype=np.float64)
            h.update(f"{a64.shape}".encode())
            h.update(a64.tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.n_train}, test={self.n_test}, n_in={self.n_in}, "
                f"n_out={self.n_out})")


def _as_2d(a, name: str) -> np.ndarray:
    if a is None:
        raise TypeError(f"{name} must be an array, got None")
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array, got {type(a).__name__}: {exc}") from None
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (entries, features), got shape {arr.shape}")
    dt = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    return np.ascontiguousarray(arr, dtype=dt)


def _check_pair(x, t, xname, tname, *, allow_empty, n_in=None, n_out=None):
    X = _as_2d(x, xname)
    T = _as_2d(t, tname)
    if X.shape[0] != T.shape[0]:
        raise ValueError(f"{xname} and {tname} must have the same number of rows (one per entry), got "
                         f"{X.shape[0]} and {T.shape[0]}")
    if not allow_empty and X.shape[0] == 0:
        raise ValueError(f"{xname} is empty (0 entries); training needs at least one entry")
    if X.shape[0] and (X.shape[1] == 0 or T.shape[1] == 0):
        raise ValueError(f"{xname}/{tname} need at least one column, got shapes {X.shape} and {T.shape}")
    if n_in is not None and X.shape[0] and X.shape[1] != n_in:
        raise ValueError(f"{xname} must have {n_in} columns like the training inputs, got {X.shape[1]}")
    if n_out is not None and T.shape[0] and T.shape[1] != n_out:
        raise ValueError(f"{tname} must have {n_out} columns like the training targets, got {T.shape[1]}")
    if n_in is not None and X.shape[0] == 0:
        X = np.zeros((0, n_in), dtype=X.dtype)
        T = np.zeros((0, n_out), dtype=T.dtype)
    for name, a in ((xname, X), (tname, T)):
        if a.size and not np.all(np.isfinite(a)):
            bad = np.argwhere(~np.isfinite(a))[0]
            n_bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            raise ValueError(f"{name} must be finite, got {n_bad} NaN/inf value(s), the first at row {bad[0]}, "
                             f"column {bad[1]}")
    return X, T


# ----------------------------------------------------------------------------- splits
def split(x, t, test_fraction: float = 0.25, seed=None, *, name: str = "arrays", info: dict | None = None,
          shuffle: bool = True) -> Dataset:
    """Split arrays into training and held-out parts.

    Parameters
    ----------
    x : array (D, n_in)
    t : array (D, n_out) or (D,)
    test_fraction : float in [0, 1)
        Fraction of entries held out (rounded down; at least one entry stays in training).
    seed : int, SeedSequence or Generator, optional
        Seeds the shuffle before splitting.
    shuffle : bool
        If False the last entries are held out.

    Examples
    --------
    >>> import numpy as np
    >>> ds = split(np.arange(20.0).reshape(10, 2), np.arange(10.0), test_fraction=0.3, seed=0)
    >>> ds.n_train, ds.n_test
    (7, 3)
    """
    X, T = _check_pair(x, t, "x", "t", allow_empty=False)
    f = check_scalar(test_fraction, "test_fraction", low=0.0, high=1.0, high_open=True)
    D = X.shape[0]
    n_test = min(int(np.floor(f * D)), D - 1)
    idx = as_generator(seed).permutation(D) if shuffle else np.arange(D)
    tr, te = np.sort(idx[:D - n_test]), np.sort(idx[D - n_test:])
    meta = dict(info or {})
    meta.update({"test_fraction": f, "split_seed": seed if isinstance(seed, (int, type(None))) else "generator"})
    return Dataset(X[tr], T[tr], X[te], T[te], name, meta)


def from_arrays(x_train, t_train, x_test=None, t_test=None, name: str = "arrays") -> Dataset:
    """A :class:`Dataset` from arrays (no held-out part if ``x_test`` is omitted).

    Examples
    --------
    >>> ds = from_arrays([[0.0, 1.0], [1.0, 0.0]], [1.0, -1.0])
    >>> ds.n_train, ds.n_out, ds.n_test
    (2, 1, 0)
    """
    X, T = _check_pair(x_train, t_train, "x_train", "t_train", allow_empty=False)
    if x_test is None and t_test is None:
        x_test, t_test = np.zeros((0, X.shape[1]), X.dtype), np.zeros((0, T.shape[1]), T.dtype)
    elif x_test is None or t_test is None:
        raise ValueError("give both x_test and t_test, or neither")
    return Dataset(X, T, x_test, t_test, name, {})


# ----------------------------------------------------------------------------- teacher-student
def teacher_student(n_in: int = 4, n_out: int = 1, n_train: int = 256, n_test: int = 256, *,
                    teacher_hidden=(8,), activation: str = "tanh", label_noise: float = 0.1,
                    input_scale: float = 1.0, teacher_scale: float = 1.0, seed=None,
                    dtype="float64") -> Dataset:
    """Synthetic regression data from a random teacher network.

    Inputs x ~ N(0, input_scale^2 I); targets t = teacher(x) + label_noise * N(0, 1), where the teacher
    is a :class:`~analogsim.model.network.Network` with sizes ``[n_in, *teacher_hidden, n_out]``, the given
    hidden activation, an identity output layer, Xavier-normal weights times ``teacher_scale`` and
    biases ~ N(0, 0.1^2). ``teacher_hidden=()`` gives a linear teacher t = W x + b (the harmonic case).

    Parameters
    ----------
    n_in, n_out : int
        Input and output sizes.
    n_train, n_test : int
        Training and held-out entries (``n_test`` may be 0).
    teacher_hidden : sequence of int
        Hidden layer sizes of the teacher (its size).
    activation : str
        Hidden activation of the teacher.
    label_noise : float
        Standard deviation of the Gaussian noise added to the targets.
    seed : int, SeedSequence or Generator, optional
    dtype : {'float32', 'float64'}

    Returns
    -------
    Dataset
        ``info`` holds the settings and the teacher's parameters (``teacher_theta``).

    Examples
    --------
    >>> ds = teacher_student(n_in=3, n_out=2, n_train=10, n_test=5, teacher_hidden=(), seed=1)
    >>> ds.x_train.shape, ds.t_test.shape
    ((10, 3), (5, 2))
    """
    from ..model.network import Network

    n_in = check_scalar(n_in, "n_in", low=1, integer=True)
    n_out = check_scalar(n_out, "n_out", low=1, integer=True)
    n_train = check_scalar(n_train, "n_train", low=1, integer=True)
    n_test = check_scalar(n_test, "n_test", low=0, integer=True)
    label_noise = check_scalar(label_noise, "label_noise", low=0.0)
    input_scale = check_scalar(input_scale, "input_scale", low=0.0, low_open=True)
    teacher_scale = check_scalar(teacher_scale, "teacher_scale", low=0.0)
    hidden = [check_scalar(h, f"teacher_hidden[{i}]", low=1, integer=True) for i, h in enumerate(teacher_hidden)]
    rng = as_generator(seed)
    sizes = [n_in, *hidden, n_out]
    acts = [activation] * len(hidden) + ["identity"]
    teacher = Network.create(sizes, activations=acts, init="xavier", seed=rng, dtype="float64", bias_scale=0.1)
    for w in teacher.weights:
        w *= teacher_scale
    n = n_train + n_test
    x = rng.standard_normal((n, n_in)) * input_scale
    t = teacher.predict(x) + label_noise * rng.standard_normal((n, n_out))
    info = {"generator": "teacher_student", "n_in": n_in, "n_out": n_out, "teacher_sizes": sizes,
            "activation": activation, "label_noise": label_noise, "input_scale": input_scale,
            "teacher_scale": teacher_scale, "seed": seed if isinstance(seed, (int, type(None))) else "generator",
            "teacher_theta": teacher.theta.tolist()}
    dt = np.dtype(dtype)
    return Dataset(x[:n_train].astype(dt), t[:n_train].astype(dt), x[n_train:].astype(dt), t[n_train:].astype(dt),
                   "teacher", info)


# ----------------------------------------------------------------------------- digits
def digits(test_fraction: float = 0.25, *, seed=0, classes=None, target: str = "onehot", scale: float = 1.0,
           center: bool = True, dtype="float64") -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1797 images, shipped with scikit-learn: no download).

    Inputs are the 64 pixel intensities divided by 16 (so in [0, 1]), optionally centred on the
    training-set mean, times ``scale``. Targets are one-hot rows (``target='onehot'``, n_out = number
    of classes) or ±1 for two classes (``target='pm1'``, n_out = 1).

    Parameters
    ----------
    test_fraction : float
        Held-out fraction (stratification is not applied; the split is a seeded shuffle).
    seed : int
    classes : sequence of int, optional
        Keep only these digits (e.g. ``(0, 1)``); default all ten.
    target : {'onehot', 'pm1'}
    scale : float
    center : bool
    dtype : {'float32', 'float64'}

    Examples
    --------
    >>> ds = digits(classes=(0, 1), target="pm1", seed=0)
    >>> ds.n_in, ds.n_out
    (64, 1)
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - scikit-learn is a core dependency
        raise ImportError("digits() needs scikit-learn: pip install scikit-learn") from None
    if target not in ("onehot", "pm1"):
        raise ValueError(f"target must be 'onehot' or 'pm1', got {target!r}")
    scale = check_scalar(scale, "scale", low=0.0, low_open=True)
    raw = load_digits()
    X = raw.data.astype(np.float64) / 16.0
    y = raw.target.astype(np.int64)
    cls = list(range(10)) if classes is None else [int(c) for c in classes]
    if len(cls) == 0 or len(set(cls)) != len(cls) or any(c < 0 or c > 9 for c in cls):
        raise ValueError(f"classes must be distinct digits 0..9, got {classes!r}")
    keep = np.isin(y, cls)
    X, y = X[keep], y[keep]
    lookup = {c: i for i, c in enumerate(cls)}
    yi = np.array([lookup[v] for v in y])
    if target == "onehot":
        T = np.eye(len(cls))[yi]
    else:
        if len(cls) != 2:
            raise ValueError(f"target='pm1' needs exactly two classes, got {cls}")
        T = (2.0 * yi - 1.0)[:, None]
    ds = split(X, T, test_fraction, seed, name="digits",
               info={"generator": "digits", "classes": cls, "target": target, "scale": scale, "center": center})
    xtr, xte = ds.x_train, ds.x_test
    if center:
        mean = xtr.mean(axis=0)
        xtr, xte = xtr - mean, xte - mean
    dt = np.dtype(dtype)
    return Dataset((xtr * scale).astype(dt), ds.t_train.astype(dt), (xte * scale).astype(dt),
                   ds.t_test.astype(dt), "digits", ds.info)


# ----------------------------------------------------------------------------- user files
def load_arrays(path, *, x_key: str = "x", t_key: str = "t", n_targets: int = 1, test_fraction: float = 0.25,
                seed=0, delimiter: str = ",", skip_header: int | None = None, inputs=None, targets=None,
                announce: bool = False) -> Dataset:
    """Read a user data set from ``.npz`` or ``.csv`` and split it.

    ``.npz``: arrays ``x_key`` (D, n_in) and ``t_key`` (D, n_out) or (D,); if the file also holds
    ``x_test``/``t_test`` those are the held-out part and no split is made. Read with
    ``allow_pickle=False``.
    ``.csv``: one entry per row, the last ``n_targets`` columns are targets; a header line is skipped
    automatically when it does not parse as numbers (or give ``skip_header``). ``inputs``/``targets``
    choose the columns instead: 0-based indices, ranges ``"0-2"``, or header names, as a list or a
    comma-separated string (``targets`` alone: every other column is an input; ``inputs`` alone: the
    last ``n_targets`` columns not among them are the targets). A column in both is refused.
    ``announce`` prints, on stderr, which columns were taken as targets by default.

    Raises
    ------
    ValueError
        On missing keys, ragged or non-numeric rows, NaN/inf values, mismatched row counts, or no rows.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.npz")
    >>> np.savez(p, x=np.ones((8, 3)), t=np.zeros(8))
    >>> load_arrays(p, test_fraction=0.25).n_test
    2
    >>> c = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(c, "w").write("a,b,c,y1,y2\\n" + "\\n".join("1,2,3,4,5" for _ in range(8)))
    >>> ds = load_arrays(c, targets="y1,y2")
    >>> ds.n_in, ds.n_out
    (3, 2)
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"data file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                keys = set(z.files)
                for k in (x_key, t_key):
                    if k not in keys:
                        raise ValueError(f"{str(p)!r} has no array {k!r} (found {sorted(keys)}); "
                                         f"name the arrays with x_key/t_key")
                x, t = z[x_key], z[t_key]
                held = ("x_test" in keys and "t_test" in keys)
                xt, tt = (z["x_test"], z["t_test"]) if held else (None, None)
        except ValueError as exc:
            if "has no array" in str(exc):
                raise
            raise ValueError(f"cannot read {str(p)!r} as .npz without pickle: {exc}") from None
        except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError, zlib.error) as exc:
            # zipfile raises NotImplementedError/RuntimeError on corrupt version/compression/encryption fields
            raise ValueError(f"cannot read {str(p)!r} as .npz (truncated or corrupt: {exc})") from None
        info = {"source": str(p)}
        if held:
            X, T = _check_pair(x, t, f"{p.name}:{x_key}", f"{p.name}:{t_key}", allow_empty=False)
            return Dataset(X, T, xt, tt, p.stem, info)
        X, T = _check_pair(x, t, f"{p.name}:{x_key}", f"{p.name}:{t_key}", allow_empty=False)
        return split(X, T, test_fraction, seed, name=p.stem, info=info)
    if suffix in (".csv", ".txt"):
        n_targets = check_scalar(n_targets, "n_targets", low=1, integer=True)
        text = p.read_text()
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines:
            raise ValueError(f"{str(p)!r} is empty: no data rows")
        if skip_header is None:
            try:
                [float(v) for v in lines[0].split(delimiter)]
                skip_header = 0
            except ValueError:
                skip_header = 1
        rows = lines[skip_header:]
        if not rows:
            raise ValueError(f"{str(p)!r} has a header but no data rows")
        width = None
        data = []
        for i, ln in enumerate(rows):
            parts = ln.split(delimiter)
            if width is None:
                width = len(parts)
            if len(parts) != width:
                raise ValueError(f"{str(p)!r} line {i + 1 + skip_header}: expected {width} columns like the first "
                                 f"row, got {len(parts)}")
            try:
                vals = [float(v) for v in parts]
            except ValueError:
                raise ValueError(f"{str(p)!r} line {i + 1 + skip_header}: non-numeric value in {ln!r}") from None
            if not all(math.isfinite(v) for v in vals):
                raise ValueError(f"{str(p)!r} line {i + 1 + skip_header}: NaN or infinite value in {ln!r} "
                                 "(data must be finite)")
            data.append(vals)
        A = np.array(data, dtype=np.float64)
        header = [h.strip().strip('"') for h in lines[0].split(delimiter)] if skip_header else None
        xi, ti = _columns(p, A.shape[1], header, inputs, targets, n_targets)
        if announce and inputs is None and targets is None:
            import sys

            print(f"analogsim: data {p.name}: {len(xi)} input column(s), the last {len(ti)} column(s) as "
                  "target(s); choose with --inputs/--targets (or --n-out)", file=sys.stderr)
        return split(A[:, xi], A[:, ti], test_fraction, seed, name=p.stem,
                     info={"source": str(p), "n_targets": len(ti), "inputs": xi, "targets": ti})
    raise ValueError(f"unsupported data file {str(p)!r}: expected a .npz or .csv file")


def _columns(p, width: int, header, inputs, targets, n_targets: int) -> tuple[list[int], list[int]]:
    """Input and target column indices of a CSV file from the user's specs (see :func:`load_arrays`)."""
    def parse(spec, what):
        if spec is None:
            return None
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        out = []
        for item in items:
            t = str(item).strip()
            if not t:
                continue
            if header is not None and t in header:
                out.append(header.index(t))
                continue
            m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", t)
            if m:
                a, b = int(m.group(1)), int(m.group(2))
                if b < a:
                    raise ValueError(f"{what} range {t!r} runs backwards; write it low-high, e.g. 0-2")
                out.extend(range(a, b + 1))
            elif t.isdigit():
                out.append(int(t))
            else:
                names = f"; the header names are {header}" if header else " (the file has no header line)"
                raise ValueError(f"{what} {t!r} is neither a 0-based column index, a range like 0-2, nor a "
                                 f"column name{names}")
        bad = [c for c in out if c >= width]
        if bad:
            raise ValueError(f"{what} column {bad[0]} does not exist: {str(p)!r} has {width} columns (0-{width - 1})")
        if len(set(out)) != len(out):
            raise ValueError(f"{what} lists a column twice: {spec!r}")
        if not out:
            raise ValueError(f"{what} selects no column: {spec!r}")
        return out

    xi, ti = parse(inputs, "inputs"), parse(targets, "targets")
    if ti is None:
        n_targets = check_scalar(n_targets, "n_targets", low=1, integer=True)
        rest = [c for c in range(width) if xi is None or c not in xi]
        if len(rest) < n_targets or (xi is None and width <= n_targets):
            raise ValueError(f"{str(p)!r} has {width} columns; need more than n_targets={n_targets} "
                             "(inputs first, targets last)")
        ti = rest[-n_targets:]
    if xi is None:
        xi = [c for c in range(width) if c not in ti]
    both = sorted(set(xi) & set(ti))
    if both:
        raise ValueError(f"column(s) {both} are both inputs and targets; give disjoint --inputs/--targets")
    if not xi:
        raise ValueError(f"{str(p)!r}: no input columns left once the targets {ti} are taken")
    return xi, ti
