"""Physical training (analogsim.training): kernel vs Newton reference, torch SGD step for step, books,
exact noise amplitude, determinism under chunking, schedules, fallbacks, bad input."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from analogsim import Network
from analogsim.data import from_arrays, teacher_student
from analogsim.model.equilibrium import clamped_minimum
from analogsim.errors import DivergenceError
from analogsim.training import (TemperatureSchedule, TrainConfig, presentation_order, stress_gradients, train)


def _ds(n_in=4, n_out=2, n_train=128, n_test=32, seed=0, **kw):
    return teacher_student(n_in=n_in, n_out=n_out, n_train=n_train, n_test=n_test, seed=seed, **kw)


def _net(sizes=(4, 16, 16, 2), act="tanh", seed=1, dtype="float64", kappa=1.0):
    L = len(sizes) - 1
    return Network.create(list(sizes), activations=[act] * (L - 1) + ["identity"], kappa=kappa, seed=seed,
                          dtype=dtype)


# ----------------------------------------------------------------------------- clamped minimum kernel
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "relu"])
@pytest.mark.parametrize("r", [1e-6, 1e-3, 1e-1])
@pytest.mark.parametrize("kappa_out", ["soft", "hard"])
def test_kernel_minimum_matches_newton_reference(act, r, kappa_out):
    """Fixed-point kernel (energies, summed stress gradient) = Newton reference of equilibrium.py."""
    rng = np.random.default_rng(3)
    net = Network.create([3, 7, 6, 2], activations=[act, act, "identity"], kappa=[1.0, 1.0, 1.0], seed=2,
                         bias_scale=0.3)
    if kappa_out == "hard":
        net = net.with_kappa([1.0, 1.0, r])
        ko = None
    else:
        ko = r
    x = rng.standard_normal((70, 3))  # 70 rows: a block of 64 (BLAS path) and one of 6
    t = rng.standard_normal((70, 2))
    e, g, gsq = stress_gradients(net, x, t, ko)
    m = clamped_minimum(net, x, t, output_stiffness=ko)
    gt = m.grad_theta
    scale = np.abs(gt).sum(axis=0).max()
    assert np.max(np.abs(e - m.energy) / np.maximum(m.energy, 1e-300)) < 1e-9
    assert np.max(np.abs(g - gt.sum(axis=0))) / scale < 1e-9
    np.testing.assert_allclose(gsq, np.sum(gt * gt, axis=1), rtol=1e-8)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-13), ("float32", 1e-5)])
@pytest.mark.parametrize("sizes, n_sweeps", [((16, 64, 64, 4), 2), ((8, 32, 32, 32, 3), 3)])
def test_small_r_minimum_in_two_sweeps_equals_the_fully_contracted_one(sizes, n_sweeps, dtype, rtol):
    """At r = 1e-8 the state-error test accepts the second sweep; its state (x, stress) equals the state
    after two more contracting sweeps to solver precision, and the remaining hidden force is O(r)."""
    from analogsim.kernels.train import clamped_min
    from analogsim.training.engine import _kernel_net, _Workspace, effective_output_stiffness

    rng = np.random.default_rng(5)
    net = _net(sizes, dtype=dtype)
    B = 64
    th, sz, w_off, b_off, acts, kappa, k_off = _kernel_net(net)
    kout = effective_output_stiffness(net, 1e-8)
    tol = 8 * float(np.finfo(net.dtype).eps)
    out = []
    for t, ms in ((tol, 60), (1e-300, 4)):  # the default test; then 4 sweeps whatever the residual
        ws = _Workspace(net, B)
        ws.x0[:] = rng.standard_normal(ws.x0.size) if not out else out[0][2]
        ws.tb[:] = rng.standard_normal(ws.tb.size) if not out else out[0][3]
        sw, ok = clamped_min(th, sz, w_off, b_off, acts, kappa, k_off, kout, ws.x0, ws.tb, B, ws.Y, ws.FP, ws.DEL,
                             ws.XS, ws.SIG, ws.FV, ws.YN, ws.scr, ws.relg, t, ms)
        out.append((sw, ok, ws.x0.copy(), ws.tb.copy(), ws.XS.astype(np.float64), ws.SIG.astype(np.float64),
                    ws.relg.copy()))
    (sw, ok, _, _, xs, sig, relg), (sw4, _, _, _, xs4, sig4, relg4) = out
    assert ok and sw <= n_sweeps and sw4 == 4
    assert np.max(np.abs(xs - xs4)) <= rtol * np.max(np.abs(xs4))
    assert np.max(np.abs(sig - sig4)) <= rtol * np.max(np.abs(sig4))
    assert np.max(relg) < 1e-6 and (dtype == "float32" or np.max(relg4) < 1e-13)


def test_kernel_minimum_float32_close_to_float64():
    rng = np.random.default_rng(0)
    net = _net((3, 8, 8, 2))
    x, t = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    e64, g64, _ = stress_gradients(net, x, t, 1e-3)
    e32, g32, _ = stress_gradients(net.astype("float32"), x, t, 1e-3)
    assert np.max(np.abs(g32 - g64)) / np.max(np.abs(g64)) < 1e-4
    assert np.max(np.abs(e32 - e64) / e64) < 1e-4


# ----------------------------------------------------------------------------- torch SGD step for step
def _torch_sgd(net, X, T, idx, lr, wd=0.0):
    torch = pytest.importorskip("torch")
    Ws = [torch.tensor(w.copy(), requires_grad=True) for w in net.weights]
    bs = [torch.tensor(b.copy(), requires_grad=True) for b in net.biases]
    X, T = torch.tensor(X), torch.tensor(T)
    for rows in idx:
        h = X[rows]
        for li, (W, b) in enumerate(zip(Ws, bs)):
            h = h @ W.T + b
            if li < len(Ws) - 1:
                h = torch.tanh(h)
        loss = 0.5 * ((h - T[rows]) ** 2).sum(1).mean()
        loss.backward()
        with torch.no_grad():
            for p in Ws + bs:
                p -= lr * (p.grad + wd * p)
                p.grad = None
    return np.concatenate([np.concatenate([W.detach().numpy().ravel(), b.detach().numpy()]) for W, b in zip(Ws, bs)])


@pytest.mark.torch
def test_kT0_follows_torch_sgd_step_for_step():
    """kT = 0, separated, r = kappa_out/kappa_hidden -> 0: the exact discrete update is torch SGD with
    lr = mu tau_inf kappa_out on 0.5|f - t|^2, same data order; the difference is linear in r."""
    ds, net = _ds(), _net()
    S, lr = 1000, 0.05
    ref = _torch_sgd(net, ds.x_train, ds.t_train, presentation_order(ds.n_train, S, "iid", 3), lr)
    rs = np.array([1e-8, 1e-7, 1e-6, 1e-5, 1e-4])
    diffs = []
    for r in rs:
        res = train(net, ds, presentations=S, mu=lr / r, tau_inf=1.0, kappa_out=r, seed=3)
        diffs.append(np.linalg.norm(res.theta - ref) / np.linalg.norm(ref))
        assert res.fallbacks == 0
    diffs = np.array(diffs)
    assert diffs[0] < 1e-6
    slope = np.polyfit(np.log(rs), np.log(diffs), 1)[0]
    assert 0.9 <= slope <= 1.1, (slope, diffs)


@pytest.mark.torch
def test_batches_and_weight_decay_follow_torch():
    ds, net = _ds(), _net((4, 8, 2))
    S, lr, wd_torch, r = 200, 0.05, 0.01, 1e-8
    idx = presentation_order(ds.n_train, S, "shuffle", 5, batch_size=8)
    ref = _torch_sgd(net, ds.x_train, ds.t_train, idx, lr, wd_torch)
    # torch's weight decay wd acts as lambda/kappa_out on the loss scale: lambda = wd * kappa_out
    res = train(net, ds, presentations=S, mu=lr / r, kappa_out=r, batch_size=8, order="shuffle",
                weight_decay=wd_torch * r, seed=5)
    assert np.linalg.norm(res.theta - ref) / np.linalg.norm(ref) < 1e-6


# ----------------------------------------------------------------------------- books
def test_books_equal_a_direct_recomputation():
    """W = sum mu tau |g_s|^2, <|g|^2>, and the Welford var(g) equal a numpy recomputation from the
    parameters before each presentation (captured by the hook) and the presented entries."""
    ds, net = _ds(n_out=1, n_train=32), _net((4, 6, 1))
    S, mu, r, lam = 300, 20.0, 1e-2, 1e-3
    thetas = []
    res = train(net, ds, presentations=S, mu=mu, kappa_out=r, weight_decay=lam, kT=1e-6, seed=9,
                hook=lambda s, th, n: thetas.append(th.copy()), hook_every=1, eval_every=50)
    idx = presentation_order(ds.n_train, S, "iid", 9)[:, 0]
    prev = [net.theta.copy()] + thetas[:-1]
    G = []
    for s in range(S):
        _, g, _ = stress_gradients(net.with_theta(prev[s]), ds.x_train[idx[s:s + 1]], ds.t_train[idx[s:s + 1]], r)
        G.append(g + lam * prev[s])
    G = np.array(G)
    gsq = np.sum(G * G, axis=1)
    b = res.books
    assert b.W == pytest.approx(mu * gsq.sum(), rel=1e-10)
    assert b.mean_gsq == pytest.approx(gsq.mean(), rel=1e-10)
    assert b.var_g == pytest.approx(np.var(G, axis=0, ddof=1).sum(), rel=1e-8)
    assert b.rho == pytest.approx(b.mean_gsq / b.var_g)
    assert b.bound == pytest.approx(2 * net.n_params * S * 1e-6 * b.rho)
    assert res.records["W"][-1] == pytest.approx(b.W)
    # the per-window variance of the last window
    w = res.records["var_g_window"][-1]
    assert w == pytest.approx(np.var(G[250:300], axis=0, ddof=1).sum(), rel=1e-6)


def test_thermal_noise_amplitude_is_exact_for_the_discrete_step():
    """One bias, quadratic energy a/2 b^2 (a = kout + lambda): the update b <- (1 - eta a) b + sqrt(2 kT eta) xi
    has stationary variance kT / (a (1 - eta a / 2)); the continuum value kT/a is the negative control."""
    net = Network([np.zeros((1, 1))], activations="identity", kappa=1.0)
    data = ([[0.0]], [[0.0]])  # x = 0: the weight only feels the weight decay
    kT, eta, kout, lam = 0.3, 0.8, 1.0, 0.0
    keff = kout / (1 + kout)  # soft clamp in series with the output spring
    a = keff + lam
    samples = []
    train(net, data, presentations=60000, mu=eta, kappa_out=kout, weight_decay=lam, kT=kT, seed=4,
          hook=lambda s, th, n: samples.append(th[1]) if s > 2000 else None, hook_every=20)
    v = np.var(samples)
    se = v * np.sqrt(2.0 / len(samples))  # Gaussian samples, 20 presentations apart >> 1/(eta a) = 2.5
    exact = kT / (a * (1 - eta * a / 2))
    assert abs(v - exact) < 4 * se, (v, exact, se)
    assert abs(v - kT / a) > 4 * se  # negative control: the continuum variance kT/a is 20 % off


# ----------------------------------------------------------------------------- determinism
def test_chunking_records_and_hooks_do_not_change_the_numbers():
    ds, net = _ds(), _net((4, 8, 2))
    kw = dict(presentations=3000, mu=100.0, kappa_out=1e-3, kT=1e-7, seed=11)
    a = train(net, ds, eval_every=3000, **kw)
    b = train(net, ds, eval_every=7, hook=lambda s, th, n: None, hook_every=13, **kw)
    assert np.array_equal(a.theta, b.theta)
    for f in ("W", "mean_gsq", "var_g", "rho"):
        assert getattr(a.books, f) == getattr(b.books, f)
    assert np.array_equal(net.theta, _net((4, 8, 2)).theta)  # the input net is untouched


def test_float32_training_runs_and_tracks_float64():
    ds = _ds()
    a = train(_net((4, 8, 2)), ds, presentations=2000, mu=100.0, kappa_out=1e-3, seed=1)
    b = train(_net((4, 8, 2), dtype="float32"), ds, presentations=2000, mu=100.0, kappa_out=1e-3, seed=1)
    assert b.theta.dtype == np.float32
    assert np.linalg.norm(b.theta - a.theta) / np.linalg.norm(a.theta) < 1e-3


def _peak_memory(sizes, **kw):
    """Peak traced memory of runs of each length in ``sizes``, measured after one run of the longest
    (which loads every lazily imported module and cached kernel the runs touch)."""
    ds, net = _ds(n_out=1), _net((4, 16, 16, 1))
    train(net, ds, presentations=max(sizes), **kw)
    peaks = []
    for S in sizes:
        tracemalloc.start()
        train(net, ds, presentations=S, **kw)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return peaks


def test_memory_stays_flat_with_the_number_of_presentations():
    """Noise is drawn in the kernel and order/records are produced chunk by chunk: the peak traced
    memory does not grow with S."""
    p1, p2 = _peak_memory((20000, 200000), mu=10.0, kappa_out=1e-3, kT=1e-9, seed=0, eval_every=2000)
    # bounded, not proportional to S: the only extra in a long run is the temporary of an occasional
    # Newton fallback (a dense Hessian of one entry, ~100 kB)
    assert p2 < p1 + 500_000 and p2 < 1_000_000, (p1, p2)


@pytest.mark.slow
def test_memory_flat_over_a_million_presentations():
    p1, p2 = _peak_memory((100_000, 1_000_000), mu=10.0, kappa_out=1e-3, kT=1e-9, seed=0)  # ~100 records each
    assert p2 < p1 + 500_000 and p2 < 1_000_000, (p1, p2)


# ----------------------------------------------------------------------------- schedules, hooks, substeps
def test_temperature_schedules():
    sch = TemperatureSchedule("linear", start=2.0, end=0.0)
    v = sch.values(5)
    np.testing.assert_allclose(v, [2.0, 1.5, 1.0, 0.5, 0.0])
    p = TemperatureSchedule.coerce({"kind": "piecewise", "points_s": [0, 10], "points_kT": [1.0, 3.0]})
    assert p.values(11)[5] == pytest.approx(2.0)
    f = TemperatureSchedule.coerce(lambda t: 1e-3 * np.exp(-t / 50.0))
    ds, net = _ds(), _net((4, 4, 2))
    res = train(net, ds, presentations=100, mu=10.0, kappa_out=1e-3, kT=f, seed=0)
    assert res.books.kT_mean == pytest.approx(np.mean(1e-3 * np.exp(-np.arange(100) / 50.0)))


def test_substeps_approach_the_continuous_flow():
    """k substeps per presentation: the difference to k = 64 falls ~ 1/k (Euler within a presentation)."""
    ds, net = _ds(n_train=16), _net((4, 6, 2))
    kw = dict(presentations=50, mu=300.0, kappa_out=1e-3, seed=2)
    ref = train(net, ds, substeps=64, **kw).theta
    d = [np.linalg.norm(train(net, ds, substeps=k, **kw).theta - ref) for k in (1, 2, 4)]
    assert d[0] > 1.6 * d[1] > 1.6 ** 2 * d[2] > 0


def test_hook_receives_copies_and_logs_values():
    ds, net = _ds(), _net((4, 4, 2))
    seen = []

    def hook(s, theta, n):
        assert not theta.flags.writeable and np.array_equal(n.theta, theta)
        seen.append(s)
        return float(np.linalg.norm(theta))

    res = train(net, ds, presentations=100, mu=10.0, kappa_out=1e-3, hook=hook, hook_every=25, seed=0)
    assert seen == [25, 50, 75, 100] and [s for s, _ in res.hook_log] == seen


# ----------------------------------------------------------------------------- fallback and divergence
def test_stiff_output_falls_back_to_newton_and_matches_a_reference_loop():
    """kappa_out > kappa_hidden: the fixed point does not contract, every presentation is solved by the
    Newton reference; the result equals a plain numpy loop over clamped_minimum."""
    ds, net = _ds(n_in=2, n_out=1, n_train=8), _net((2, 3, 1), seed=4)
    S, eta, ko = 12, 0.5, 5.0
    res = train(net, ds, presentations=S, mu=eta, kappa_out=ko, seed=1, order="cyclic")
    assert res.fallbacks > 0
    th = net.copy()
    for s in range(S):
        a = s % ds.n_train
        m = clamped_minimum(th, ds.x_train[a:a + 1], ds.t_train[a:a + 1], output_stiffness=ko, max_iter=200)
        th.theta[...] -= eta * m.grad_theta[0]
    np.testing.assert_allclose(res.theta, th.theta, rtol=1e-10, atol=1e-12)


def test_runaway_parameters_raise_divergence_with_the_step_and_fix():
    ds, net = _ds(n_out=1), _net((4, 8, 1))
    with pytest.raises(DivergenceError) as ei:
        train(net, ds, presentations=50, mu=1e25, kappa_out=1e-3, seed=2)
    assert ei.value.step <= 2 and "mu*tau_inf" in ei.value.cause and "reduce" in str(ei.value)


# ----------------------------------------------------------------------------- bad input
_GOOD = dict(presentations=10, mu=1.0, kappa_out=1e-3)


@pytest.mark.parametrize("kw, match", [
    (dict(mu=-1.0), "mu must be > 0"),
    (dict(kT=-1e-3), "kT|schedule"),
    (dict(kT={"kind": "linear", "start": 1e-3, "end": -1e-3}), "schedule.end"),
    (dict(kT=lambda t: 1e-3 - 2e-4 * t), "kT = -"),
    (dict(tau_inf=0.0), "tau_inf"),
    (dict(kappa_out=-1.0), "kappa_out"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(order="sorted"), "order"),
    (dict(fidelity="magic"), "fidelity"),
    (dict(presentations=0), "presentations"),
    (dict(batch_size=0), "batch_size"),
    (dict(bogus=1), "unknown training setting"),
    (dict(fidelity="joint", substeps=1, neuron_mobility=1e6), "step too large"),
])
def test_bad_settings_fail_before_any_work(kw, match):
    ds, net = _ds(), _net((4, 4, 2))
    calls = []
    with pytest.raises((ValueError, TypeError), match=match):
        train(net, ds, **{**_GOOD, **kw}, hook=lambda *a: calls.append(a), hook_every=1)
    assert calls == []


@pytest.mark.parametrize("data, match", [
    ((np.zeros((5, 3)), np.zeros((5, 2))), "input layer has 4"),
    ((np.zeros((5, 4)), np.zeros((5, 3))), "output layer has 2"),
    ((np.zeros((0, 4)), np.zeros((0, 2))), "empty"),
    ((np.zeros((5, 4)), np.array([[0.0, 1.0]] * 4 + [[np.nan, 0.0]])), "t_train must be finite"),
    ((np.zeros((5, 4)), np.zeros((4, 2))), "same number of rows"),
])
def test_bad_data_fail_before_any_work(data, match):
    with pytest.raises(ValueError, match=match):
        train(_net((4, 4, 2)), data, **_GOOD)


def test_config_object_and_keywords_combine():
    cfg = TrainConfig(presentations=20, mu=5.0, kappa_out=1e-3)
    ds, net = _ds(), _net((4, 4, 2))
    a = train(net, ds, cfg, seed=1)
    b = train(net, ds, cfg, seed=1, mu=5.0)
    assert np.array_equal(a.theta, b.theta) and cfg.learning_rate == pytest.approx(5e-3)
    with pytest.raises(TypeError, match="config"):
        train(net, ds, config={"mu": 1.0})
    with pytest.raises(TypeError, match="net"):
        train("net", ds, cfg)
    with pytest.raises(TypeError, match="data"):
        train(net, "data", cfg)


def test_presentation_order_epochs_and_positions():
    o = presentation_order(10, 25, "shuffle", seed=2)[:, 0]
    assert sorted(o[:10]) == list(range(10)) and sorted(o[10:20]) == list(range(10))
    tail = presentation_order(10, 25, "shuffle", seed=2, start=13)[:, 0]
    assert np.array_equal(tail, o[13:])
    iid = presentation_order(7, 30, "iid", seed=1, batch_size=3)
    assert iid.shape == (30, 3) and iid.min() >= 0 and iid.max() < 7
    assert np.array_equal(presentation_order(7, 30, "random", seed=1, batch_size=3), iid)


def test_train_docstring_example_runs():
    ds = teacher_student(n_in=3, n_out=1, n_train=64, n_test=32, seed=0)
    net = Network.create([3, 8, 1], activations=["tanh", "identity"], kappa=1.0, seed=1)
    res = train(net, ds, presentations=2000, mu=100.0, tau_inf=1.0, kappa_out=1e-3, kT=1e-7, seed=2)
    assert res.final_train_loss < res.records["train_loss"][0]
    assert set(res.summary()) >= {"books", "theta_sha256", "final_test_loss"}
    assert from_arrays(ds.x_train, ds.t_train).n_test == 0


def test_kernel_tanh_matches_libm():
    from analogsim.kernels.train import _tanh

    y = np.concatenate([np.random.default_rng(0).standard_normal(20000) * 3, np.logspace(-12, 1.5, 2000),
                        -np.logspace(-12, 1.5, 2000), [0.0, 0.625, -0.625, 22.0, 40.0]])
    ref = np.tanh(y)
    got = np.array([_tanh(v) for v in y])
    assert np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)) < 1e-15


def test_loss_records_equal_the_reference_forward_pass_and_the_start_is_cached_per_start():
    """The loss records (numpy BLAS over row blocks) equal the network's own forward pass; the start record kept
    for a repeated start is the same number, and another start (other theta0 or data) is not served from it."""
    from analogsim.training.engine import mse_loss

    ds = teacher_student(n_in=3, n_out=2, n_train=200, n_test=30, seed=4)
    net = Network.create([3, 7, 2], activations=["tanh", "identity"], kappa=1.0, seed=2)
    ref = 0.5 * np.mean(np.sum((net.forward(ds.x_train)[-1] - ds.t_train) ** 2, axis=1))
    assert mse_loss(net, ds.x_train, ds.t_train) == pytest.approx(ref, rel=1e-13)
    kw = dict(presentations=50, mu=10.0, kappa_out=1e-3, seed=0)
    a = train(net, ds, **kw).records
    b = train(net, ds, **kw).records
    assert a["train_loss"][0] == b["train_loss"][0] == pytest.approx(ref, rel=1e-13)
    np.testing.assert_array_equal(a["train_loss"], b["train_loss"])
    net2 = net.with_theta(net.theta * 1.5)
    c = train(net2, ds, **kw).records
    ref2 = 0.5 * np.mean(np.sum((net2.forward(ds.x_train)[-1] - ds.t_train) ** 2, axis=1))
    assert c["train_loss"][0] == pytest.approx(ref2, rel=1e-13) and ref2 != pytest.approx(ref, rel=1e-3)
    ds2 = teacher_student(n_in=3, n_out=2, n_train=200, n_test=30, seed=5)
    d = train(net, ds2, **kw).records
    ref3 = 0.5 * np.mean(np.sum((net.forward(ds2.x_train)[-1] - ds2.t_train) ** 2, axis=1))
    assert d["train_loss"][0] == pytest.approx(ref3, rel=1e-13)
