"""Per-neuron activation probabilities and activation patterns of a relu net trained on the digits data.

The relu neurons counted are those of :func:`analogsim.bounds.measure_activity` (the ``analogsim bounds
activity`` path): every layer whose activation is relu, s_i = Theta(y_i) with y_l = W_l x_{l-1} + b_l
from the zero-temperature forward pass. :func:`activation_patterns` recomputes the same y and checks
its count per inference against ``measure_activity`` exactly.

Entropies (nats): Sum_i H(p_i) (per-neuron priors: what a register of independently prior-adapted
elements can reach), nu H(p_mean) (Eq. 5 with the mean p; by concavity never below the sum), nu ln 2
(Landauer, the standard erasure), and the plug-in entropy of the whole pattern (the bound of a
register-wide reset; a plug-in estimate on n inputs is at most ln n and biased low).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import bounds

__all__ = ["trained_relu_net", "ActivationStats", "activation_patterns", "binary_entropy", "pattern_entropy"]


def trained_relu_net(seed: int = 0, hidden=(64, 64), max_iter: int = 200, n_train: int = 1400):
    """A relu MLP trained on scikit-learn's digits (inputs / 16), imported as a :class:`~analogsim.Network`.

    Returns (net, X_train, X_test, test accuracy). The first ``n_train`` digits train, the rest are held out.

    Examples
    --------
    >>> net, Xtr, Xte, acc = trained_relu_net(0, hidden=(16,), max_iter=30)
    >>> net.sizes, Xte.shape, acc > 0.5
    ((64, 16, 10), (397, 64), True)
    """
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from ..model.network import Network

    d = load_digits()
    X = d.data / 16.0
    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), activation="relu", max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:n_train], d.target[:n_train])
    acc = float(clf.score(X[n_train:], d.target[n_train:]))
    net = Network([c.T for c in clf.coefs_], list(clf.intercepts_),
                  activations=["relu"] * len(hidden) + ["identity"])
    return net, X[:n_train], X[n_train:], acc


def binary_entropy(p) -> np.ndarray:
    """H(p) = -p ln p - (1-p) ln(1-p) elementwise, with H(0) = H(1) = 0 (nats).

    Examples
    --------
    >>> binary_entropy([0.0, 0.5]).round(6).tolist()
    [0.0, 0.693147]
    """
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(p > 0, p * np.log(p), 0.0) + np.where(p < 1, (1 - p) * np.log1p(-p), 0.0))
    return h + 0.0


def pattern_entropy(patterns) -> float:
    """Plug-in entropy (nats) of the rows of a 0/1 matrix: -sum_k f_k ln f_k over the distinct rows.

    Examples
    --------
    >>> round(pattern_entropy([[0, 1], [0, 1], [1, 1], [1, 0]]), 6) == round(1.5 * math.log(2), 6)
    True
    """
    P = np.asarray(patterns)
    _, counts = np.unique(P, axis=0, return_counts=True)
    f = counts / counts.sum()
    return float(-(f * np.log(f)).sum())


@dataclass(frozen=True)
class ActivationStats:
    """Relu activity of a net on a data set.

    Attributes
    ----------
    y : ndarray (n, nu)
        Pre-activations of the relu neurons (layer blocks in order).
    patterns : ndarray int8 (n, nu)
        s = Theta(y).
    p : ndarray (nu,)
        Per-neuron activation probability.
    record : bounds.ActivityRecord
        The ``measure_activity`` record of the same inputs.

    Examples
    --------
    The reset bounds of Eq. 5 per inference (nats, i.e. units of kT) for a small random relu net: the
    per-neuron sum never exceeds nu H(p_mean), which never exceeds the Landauer nu ln 2:

    >>> import numpy as np
    >>> from analogsim import Network
    >>> net = Network.create([4, 8, 3], activations="relu", seed=0)
    >>> st = activation_patterns(net, np.random.default_rng(0).normal(size=(50, 4)))
    >>> st.nu, st.p.shape
    (11, (11,))
    >>> b = st.budget(p_prior=np.full(st.nu, 0.5))
    >>> bool(b["sum_H_p_i"] <= b["nu_H_pbar"] <= b["nu_ln2"])
    True
    >>> round(b["cross_entropy"] - b["nu_ln2"], 9)        # a reset adapted to p = 1/2 pays nu ln 2
    0.0
    """

    y: np.ndarray
    patterns: np.ndarray
    p: np.ndarray
    record: object

    @property
    def nu(self) -> int:
        return int(self.p.size)

    def budget(self, p_prior=None) -> dict:
        """Reset bounds per inference in nats (kT): sum_i H(p_i), nu H(p_mean), nu ln 2, the plug-in pattern
        entropy with its ceiling ln n, and with ``p_prior`` (the p the elements were adapted to) the
        cross-entropy sum_i [-p_i ln q_i - (1-p_i) ln(1-q_i)] that a prior-adapted reset then reaches."""
        n = self.patterns.shape[0]
        pbar = float(self.p.mean())
        out = {"sum_H_p_i": float(binary_entropy(self.p).sum()),
               "nu_H_pbar": self.nu * float(binary_entropy(pbar)), "nu_ln2": self.nu * math.log(2.0),
               "pattern_entropy_plugin": pattern_entropy(self.patterns), "ln_n": math.log(n),
               "distinct_patterns": int(np.unique(self.patterns, axis=0).shape[0]), "n": int(n), "nu": self.nu,
               "p_mean": pbar}
        if p_prior is not None:
            q = np.clip(np.asarray(p_prior, dtype=np.float64), 1e-12, 1 - 1e-12)
            ce = -(self.p * np.log(q) + (1 - self.p) * np.log1p(-q))
            out["cross_entropy"] = float(ce.sum())
        return out


def activation_patterns(net, X) -> ActivationStats:
    """Pre-activations, patterns and per-neuron p of the relu neurons of ``net`` on the rows of ``X``.

    Uses ``net.forward`` / ``net.preactivation`` like :func:`analogsim.bounds.measure_activity` and checks
    the count per inference against it (ValueError if they differ).

    Examples
    --------
    >>> from analogsim import Network
    >>> net = Network.create([4, 8, 3], activations="relu", seed=0)
    >>> st = activation_patterns(net, np.eye(4))
    >>> st.patterns.shape, st.nu == st.record.nu
    ((4, 11), True)
    """
    rec = bounds.measure_activity(net, X)
    X = net.check_input(X, "X")
    xs = net.forward(X)
    ys = [np.asarray(net.preactivation(l, xs[l - 1]), dtype=np.float64)
          for l in range(1, net.depth + 1) if net.activations[l - 1].name == "relu"]
    y = np.concatenate(ys, axis=1)
    pat = (y > 0).astype(np.int8)
    if not np.array_equal(pat.sum(axis=1), rec.counts):
        raise ValueError("activation patterns disagree with bounds.measure_activity's counts")
    return ActivationStats(y, pat, pat.mean(axis=0), rec)
