"""IEM objective and EIT-P losses: known answers, binning, torch gradients, bad input."""

import math
import subprocess
import sys

import numpy as np
import pytest

from analogsim import Network
from analogsim.bounds import iem

LN2 = math.log(2)


# ------------------------------------------------------------------------------ H(theta)
@pytest.mark.parametrize("bins", [1, 2, 16, 64])
def test_uniform_histogram_entropy(bins):
    theta = (np.arange(bins * 10) + 0.5) / (bins * 10)  # 10 values in each of `bins` equal bins of [0, 1]
    e = iem.parameter_entropy(theta, bins=bins, range=(0, 1))
    assert e.bits == pytest.approx(math.log2(bins), abs=1e-12)
    assert e.nats == pytest.approx(math.log(bins), abs=1e-12)
    assert e.counts.tolist() == [10] * bins
    assert e.as_dict()["bins"] == bins and e.as_dict()["range"] == [0.0, 1.0]


def test_histogram_entropy_known_values():
    assert iem.histogram_entropy([1, 1]) == 1.0
    assert iem.histogram_entropy([7]) == 0.0
    assert iem.histogram_entropy([3, 0, 0, 3]) == pytest.approx(1.0)
    assert iem.histogram_entropy([1, 1, 2], unit="nats") == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert iem.histogram_entropy([0.5, 0.5]) == pytest.approx(1.0)  # weights allowed


def test_binning_is_explicit_and_configurable():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=4000)
    a = iem.parameter_entropy(theta, bins=32)
    edges = np.linspace(theta.min(), theta.max(), 33)
    b = iem.parameter_entropy(theta, bins=edges)
    assert a.bits == pytest.approx(b.bits, abs=1e-12)
    # the discrete entropy grows with the number of bins (~ +1 bit per doubling for a density)
    h = [iem.parameter_entropy(theta, bins=n).bits for n in (16, 32, 64)]
    assert 0.8 < h[1] - h[0] < 1.1 and 0.8 < h[2] - h[1] < 1.1
    # explicit range: clip counts the tails in the edge bins, drop ignores them
    clip = iem.parameter_entropy(theta, bins=8, range=(-1, 1))
    drop = iem.parameter_entropy(theta, bins=8, range=(-1, 1), outside="drop")
    n_out = int(np.sum(np.abs(theta) > 1))
    assert clip.n_outside == drop.n_outside == n_out
    assert clip.counts.sum() == 4000 and drop.counts.sum() == 4000 - n_out
    # a list of arrays (layers) is flattened
    assert iem.parameter_entropy([theta[:100], theta[100:]], bins=32).bits == pytest.approx(a.bits)
    # all-equal values: numpy's +-0.5 widening, one occupied bin
    assert iem.parameter_entropy(np.full(10, 3.0), bins=4).bits == 0.0


# ------------------------------------------------------------------------------ coherence
def test_coherence_known_answers():
    rng = np.random.default_rng(1)
    v = rng.normal(size=7)
    assert iem.coherence(v, v) == pytest.approx(1.0, abs=1e-14)
    assert iem.coherence(v, -3.0 * v) == pytest.approx(1.0, abs=1e-14)
    assert iem.coherence([1.0, 0.0, 0.0], [0.0, 2.0, 5.0]) == 0.0
    assert iem.coherence([1.0, 1.0], [1.0, 0.0]) == pytest.approx(0.5)
    # complex states: <psi| is conjugated; a global phase does not matter
    psi = np.array([1 + 1j, 2 - 1j])
    assert iem.coherence(psi, np.exp(0.7j) * psi) == pytest.approx(1.0)
    assert iem.coherence([1, 1j], [1, -1j]) == pytest.approx(0.0, abs=1e-15)
    # batches: per-row mean (default), per-row values, or the flattened batch
    P = np.array([[1.0, 0.0], [1.0, 1.0]])
    Q = np.array([[1.0, 0.0], [1.0, -1.0]])
    assert iem.coherence(P, Q) == pytest.approx(0.5)
    np.testing.assert_allclose(iem.coherence(P, Q, reduction="none"), [1.0, 0.0])
    assert iem.coherence(P, Q, reduction="flatten") == pytest.approx(1 / 9)  # <P|Q> = 1, |P|^2 = |Q|^2 = 3
    # zero vector: C = 0 by convention (no alignment), not NaN
    assert iem.coherence([0.0, 0.0], [1.0, 2.0]) == 0.0


def test_iem_and_e_min():
    assert iem.iem(H=4.0, T=2.0, C=0.5, alpha=0.1) == pytest.approx(0.4)
    assert iem.iem(H=4.0, T=2.0, C=0.0) == 0.0
    assert iem.e_min_iem(3.0, T=0.5) == pytest.approx(0.5 * LN2 * 3.0)
    # E_min of a uniform 2^k-bin histogram is k kT ln 2
    theta = (np.arange(160) + 0.5) / 160
    H = iem.parameter_entropy(theta, bins=16, range=(0, 1)).bits
    assert iem.e_min_iem(H, T=1.0) == pytest.approx(4 * LN2)


# ------------------------------------------------------------------------------ L_coherence
def test_coherence_loss_identity_correlation_is_zero():
    # columns with zero mean and exactly zero sample correlation: R = I
    A = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
    np.testing.assert_allclose(iem.correlation_matrix(A), np.eye(3), atol=1e-15)
    assert iem.coherence_loss(A) == pytest.approx(0.0, abs=1e-15)
    assert iem.coherence_loss(A, norm="spectral") == pytest.approx(0.0, abs=1e-15)


def test_coherence_loss_known_values_and_norms():
    rng = np.random.default_rng(2)
    x = rng.normal(size=50)
    A = np.stack([x, 2 * x + 1, rng.normal(size=50) * 0], axis=1)  # two perfectly correlated, one constant
    R = iem.correlation_matrix(A)
    np.testing.assert_allclose(R, [[1, 1, 0], [1, 1, 0], [0, 0, 1]], atol=1e-12)
    assert iem.coherence_loss(A, "fro") == pytest.approx(math.sqrt(2))  # two off-diagonal ones
    assert iem.coherence_loss(A, "spectral") == pytest.approx(1.0)     # eigenvalues of R - I: +-1, 0
    B = rng.normal(size=(40, 5))
    R = np.corrcoef(B, rowvar=False)
    assert iem.coherence_loss(B) == pytest.approx(np.linalg.norm(R - np.eye(5)))
    assert iem.coherence_loss(B, "spectral") == pytest.approx(np.max(np.abs(np.linalg.eigvalsh(R - np.eye(5)))))
    assert iem.coherence_loss([A, B]) == pytest.approx((math.sqrt(2) + np.linalg.norm(R - np.eye(5))) / 2)


# ------------------------------------------------------------------------------ Lyapunov, emergence
def test_lyapunov_estimate():
    assert iem.lyapunov_estimate(np.zeros(5), "tanh") == pytest.approx(0.0)  # tanh'(0) = 1
    assert iem.lyapunov_estimate(np.zeros(5), "sigmoid") == pytest.approx(math.log(0.25))
    assert iem.lyapunov_estimate(np.linspace(-3, 3, 7), "identity") == 0.0
    y = np.array([-1.0, -2.0, 0.5, 3.0])
    lam, frac = iem.lyapunov_estimate(y, "relu", return_zero_fraction=True)
    assert lam == 0.0 and frac == 0.5
    assert iem.lyapunov_estimate(y, "relu", zero="floor", eps=1e-6) == pytest.approx(0.5 * math.log(1e-6))
    assert iem.lyapunov_estimate(y, "relu", zero="keep") == -math.inf
    y2 = np.array([0.3, -0.2])
    want = np.mean(np.log(1 - np.tanh(y2) ** 2))
    assert iem.lyapunov_estimate([y2, np.array([1.0])], ["tanh", "relu"]) == pytest.approx(
        (np.sum(np.log(1 - np.tanh(y2) ** 2)) + 0.0) / 3)
    assert iem.lyapunov_estimate(y2, lambda t: 1 - np.tanh(t) ** 2) == pytest.approx(want)


def test_emergence_probability():
    assert iem.emergence_probability(3.0, 3.0) == 0.5
    assert iem.emergence_probability(3.0 + 2.0, 3.0, beta=1.5) == pytest.approx(1 / (1 + math.exp(-3.0)))
    p = iem.emergence_probability(10.0, 2.0, beta=0.7)
    assert p + iem.emergence_probability(-6.0, 2.0, beta=0.7) == pytest.approx(1.0)
    assert iem.emergence_probability(1e4, 0.0) == 1.0  # no overflow


# ------------------------------------------------------------------------------ records
def test_iem_terms_and_network_terms():
    rng = np.random.default_rng(3)
    theta = (np.arange(64) + 0.5) / 64
    A = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
    out = rng.normal(size=(4, 3))
    r = iem.iem_terms(theta, A, out, 2 * out, bins=8, range=(0, 1), alpha=0.1, T=2.0,
                      H_crit=2.0, task_loss=0.5, lambda1=0.1, lambda2=0.2)
    assert r["H_bits"] == pytest.approx(3.0) and r["C"] == pytest.approx(1.0)
    assert r["IEM"] == pytest.approx(0.1 * 3.0 * 2.0) and r["E_min"] == pytest.approx(2.0 * LN2 * 3.0)
    assert r["L_thermo"] == pytest.approx(abs(r["IEM"] - r["E_min"])) and r["L_coherence"] == pytest.approx(0.0)
    assert r["L_total"] == pytest.approx(0.5 + 0.1 * r["L_thermo"])
    assert r["P_emergence"] == pytest.approx(1 / (1 + math.exp(-1.0)))
    r2 = iem.iem_terms(theta, energy=5.0, bins=8, range=(0, 1), entropy_unit="nats")
    assert r2["C"] is None and r2["IEM"] == pytest.approx(0.1 * 3 * LN2 * 1.0)
    assert r2["E"] == 5.0 and r2["L_thermo"] == pytest.approx(abs(5.0 - LN2 * 3.0))

    net = Network.create([6, 10, 10, 3], activations="relu", seed=0)
    X = rng.normal(size=(32, 6))
    T = rng.normal(size=(32, 3))
    rn = iem.network_iem_terms(net, X, T, bins=16)
    xs = net.forward(X)
    assert rn["n_params"] == net.n_params
    assert rn["H_bits"] == pytest.approx(iem.parameter_entropy(net.theta, 16).bits)
    assert rn["C"] == pytest.approx(iem.coherence(xs[-1], T))
    assert rn["L_coherence"] == pytest.approx(iem.coherence_loss(xs[1:-1]))
    ys = [net.preactivation(l, xs[l - 1]) for l in (1, 2, 3)]
    assert rn["lyapunov_zero_fraction"] == pytest.approx(np.mean(np.concatenate([y.ravel() for y in ys]) <= 0))


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, match", [
    (lambda: iem.histogram_entropy([3, -1, 2]), r"counts must be >= 0, got a negative count -1"),
    (lambda: iem.histogram_entropy([]), r"counts must have at least one bin, got 0 bins"),
    (lambda: iem.histogram_entropy([0, 0]), r"counts must have a positive total, got 0"),
    (lambda: iem.parameter_entropy([1.0, 2.0], bins=0), r"bins must be a positive integer .* got 0"),
    (lambda: iem.parameter_entropy([1.0, 2.0], bins=-3), r"bins must be .* got -3"),
    (lambda: iem.parameter_entropy([1.0, 2.0], bins=[0.5]), r"bins as edges .* got 1 value"),
    (lambda: iem.parameter_entropy([1.0, 2.0], bins=[0.0, 2.0, 1.0]), r"strictly increasing"),
    (lambda: iem.parameter_entropy([1.0, 2.0], bins=4, range=(1.0, 1.0)), r"range must satisfy low < high"),
    (lambda: iem.parameter_entropy([], bins=4), r"theta must hold at least one parameter"),
    (lambda: iem.parameter_entropy([1.0, np.nan]), r"theta must be finite"),
    (lambda: iem.parameter_entropy([5.0], bins=2, range=(0, 1), outside="drop"), r"no parameter lies inside"),
    (lambda: iem.parameter_entropy([5.0], outside="wrap"), r"outside must be 'clip' or 'drop', got 'wrap'"),
    (lambda: iem.coherence([1.0, 2.0], [1.0, 2.0, 3.0]), r"same shape"),
    (lambda: iem.coherence_loss(np.ones((1, 3))), r"at least 2 rows"),
    (lambda: iem.coherence_loss(np.ones((4, 3)), norm="nuclear"), r"norm must be 'fro' or 'spectral', got 'nuclear'"),
    (lambda: iem.iem(H=-1.0), r"H must be >= 0.0, got -1.0"),
    (lambda: iem.iem(H=1.0, T=0.0), r"T must be > 0.0, got 0.0"),
    (lambda: iem.e_min_iem(1.0, T=-2.0), r"T must be > 0.0, got -2.0"),
    (lambda: iem.lyapunov_estimate([1.0], "relu", zero="drop"), r"zero must be"),
    (lambda: iem.iem_terms([1.0, 2.0], outputs=np.ones(2)), r"both outputs and targets"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import analogsim, analogsim.bounds.iem as i, analogsim.bounds, analogsim.cli.bounds\n"
            "assert i.parameter_entropy([0.0, 1.0], bins=2).bits == 1.0\n"
            "try:\n    i.EITPLoss\nexcept ImportError as e:\n    print('IMPORTERROR', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "IMPORTERROR" in r.stdout and "requires PyTorch" in r.stdout and "analogsim-pnn[torch]" in r.stdout


# ------------------------------------------------------------------------------ torch
torch_mark = pytest.mark.torch


@torch_mark
@pytest.mark.parametrize("norm", ["fro", "spectral"])
def test_eitp_loss_gradcheck(norm):
    torch = pytest.importorskip("torch")
    from analogsim.bounds.iem import EITPLoss

    g = torch.Generator().manual_seed(0)
    th = torch.randn(30, dtype=torch.float64, generator=g, requires_grad=True)
    out = torch.randn(5, 3, dtype=torch.float64, generator=g, requires_grad=True)
    act = torch.randn(6, 4, dtype=torch.float64, generator=g, requires_grad=True)
    tgt = torch.randn(5, 3, dtype=torch.float64, generator=g)
    loss = EITPLoss(lambda1=0.7, lambda2=0.3, alpha=0.5, T=1.3, bins=8, range=(-3, 3), norm=norm, log_exact=False)

    def f(th, out, act):
        task = ((out - tgt) ** 2).mean()
        return loss(task, th, out, tgt, act)

    assert torch.autograd.gradcheck(f, (th, out, act), eps=1e-6, atol=1e-6, rtol=1e-5)
    # with a given energy E as well (E a differentiable input)
    E = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda th, E: loss(0.0, th, out.detach(), tgt, act.detach(), energy=E), (th, E))


@torch_mark
def test_soft_entropy_tends_to_exact_and_has_gradient():
    torch = pytest.importorskip("torch")
    from analogsim.bounds.iem import torch_soft_entropy

    x = np.random.default_rng(0).normal(size=4000)
    exact = iem.parameter_entropy(x, 16, (-3, 3)).bits
    errs = [abs(float(torch_soft_entropy(torch.tensor(x), 16, (-3, 3), bandwidth=bw)) - exact)
            for bw in (0.005, 0.0005)]
    assert max(errs) < 1e-3  # the hard-histogram limit
    # uniform values on the bin centres: exact log2(bins) even at finite bandwidth
    t = torch.tensor((np.arange(80) + 0.5) / 80 * 2 - 1)
    assert float(torch_soft_entropy(t, 8, (-1, 1), bandwidth=0.1)) == pytest.approx(3.0, abs=1e-6)
    # same edges as the exact histogram when range is taken from the data
    assert float(torch_soft_entropy(torch.tensor(x), 16, bandwidth=1e-4)) == pytest.approx(
        iem.parameter_entropy(x, 16).bits, abs=1e-3)
    # the soft entropy is differentiable: concentrating parameters lowers it
    th = torch.tensor(x[:200], requires_grad=True)
    h = torch_soft_entropy(th, 16, (-3, 3))
    h.backward()
    assert torch.isfinite(th.grad).all() and th.grad.abs().sum() > 0
    with torch.no_grad():
        lower = torch_soft_entropy(th - 0.05 * th.grad, 16, (-3, 3))
    assert float(lower) < float(h.detach())


@torch_mark
def test_torch_terms_match_numpy():
    torch = pytest.importorskip("torch")
    from analogsim.bounds.iem import torch_coherence, torch_coherence_loss

    rng = np.random.default_rng(4)
    A = rng.normal(size=(50, 6))
    A[:, 2] = 0.0  # a dead unit
    for norm in ("fro", "spectral"):
        assert float(torch_coherence_loss(torch.tensor(A), norm)) == pytest.approx(iem.coherence_loss(A, norm), rel=1e-9)
    P, Q = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    for red in ("mean", "flatten"):
        assert float(torch_coherence(torch.tensor(P), torch.tensor(Q), red)) == pytest.approx(iem.coherence(P, Q, red))


@torch_mark
def test_eitp_loss_trains_a_torch_model():
    torch = pytest.importorskip("torch")
    from analogsim.bounds.iem import EITPLoss

    torch.manual_seed(0)
    X = torch.randn(64, 4, dtype=torch.float64)
    Y = torch.tanh(X @ torch.randn(4, 2, dtype=torch.float64))
    l1, l2 = torch.nn.Linear(4, 16).double(), torch.nn.Linear(16, 2).double()
    model = torch.nn.Sequential(l1, torch.nn.Tanh(), l2)
    loss_fn = EITPLoss(lambda1=0.01, lambda2=0.01, bins=32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for step in range(40):
        h = torch.tanh(l1(X))
        out = l2(h)
        task = ((out - Y) ** 2).mean()
        loss = loss_fn(task, model.parameters(), out, Y, activations=h)
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        opt.step()
        first = first if first is not None else loss_fn.last
    last = loss_fn.last
    assert last["L_total"] < first["L_total"]  # it trains
    assert last["C"] > first["C"]
    for k in ("H_soft", "H_exact_bits", "H_exact_nats", "IEM", "E_min", "L_thermo", "L_coherence", "L_task"):
        assert math.isfinite(last[k])
    assert last["E_min"] == pytest.approx(LN2 * last["H_soft"])  # T = 1, soft H drives E_min
    # soft H (bandwidth 0.5 bin) is close to the exact histogram entropy that is logged
    assert abs(last["H_soft"] - last["H_exact_bits"]) < 0.3


def test_docstring_examples_run():
    import doctest

    import analogsim.bounds.iem

    assert doctest.testmod(analogsim.bounds.iem).failed == 0
    pytest.importorskip("torch")  # the numpy examples above have run already
    import analogsim.bounds._iem_torch

    assert doctest.testmod(analogsim.bounds._iem_torch).failed == 0
