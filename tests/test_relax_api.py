"""relax(): argument validation (one pytest.raises per rule), observers, result fields, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from analogsim import Network
from analogsim.model.hamiltonian import OutputClamp, grad_params
from analogsim.inference.observers import EnergyMoments, ParamForce, Trajectory, jarzynski
from analogsim.inference.protocols import Ramp, Sampled
from analogsim.inference.simulate import relax

NET = Network.create([3, 5, 2], activations="tanh", kappa=1.0, seed=0)
X0 = np.array([0.1, 0.2, 0.3])
OK = dict(kT=0.1, dt=0.01, n_steps=5, seed=0)


@pytest.mark.parametrize("kw, match", [
    (dict(dt=0.0), r"dt must be > 0.0, got 0.0"),
    (dict(dt=-0.1), r"dt must be > 0.0, got -0.1"),
    (dict(n_steps=-1), r"n_steps must be >= 0, got -1"),
    (dict(kT=-1.0), r"kT must be >= 0.0, got -1.0"),
    (dict(gamma=0.0), r"gamma must be > 0.0"),
    (dict(kT=0.0, integrator="mala"), r"kT must be > 0 for MALA"),
    (dict(integrator="rk4"), r"integrator must be"),
    (dict(n_replicas=0), r"n_replicas must be >= 1, got 0"),
    (dict(threads=0), r"threads must be >= 1, got 0"),
    (dict(record=("energy", "bogus")), r"record\[1\] must be an observer or one of"),
    (dict(init="hot"), r"init must be 'auto', 'equilibrium', 'forward'"),
    (dict(stability="maybe"), r"stability must be"),
])
def test_bad_scalars(kw, match):
    with pytest.raises(ValueError, match=match):
        relax(NET, X0, **{**OK, **kw})


def test_bad_shapes_and_protocols():
    with pytest.raises(ValueError, match=r"x0 must have shape \(batch, 3\)"):
        relax(NET, [0.1, 0.2], **OK)
    with pytest.raises(ValueError, match=r"output_clamp.target must have shape \(batch, 2\)"):
        relax(NET, X0, output_clamp=OutputClamp([0.1, 0.2, 0.3]), **OK)
    with pytest.raises(ValueError, match=r"n_replicas = 4 conflicts with 3 input/target rows"):
        relax(NET, X0, n_replicas=4, output_clamp=OutputClamp(np.zeros((3, 2))), **OK)
    with pytest.raises(ValueError, match=r"output_clamp.target must have 4 rows"):
        relax(NET, np.zeros((4, 3)), output_clamp=OutputClamp(np.zeros((3, 2))), **OK)
    with pytest.raises(ValueError, match=r"input_protocol must have n_steps \+ 1 = 6 time points.*got 5"):
        relax(NET, None, input_protocol=Sampled(np.zeros((5, 3))), **OK)
    with pytest.raises(ValueError, match=r"input_protocol must give 3 values per row"):
        relax(NET, None, input_protocol=Ramp([0.0, 1.0], [1.0, 0.0], tau=1.0), **OK)
    with pytest.raises(ValueError, match=r"target_protocol must have n_steps \+ 1 = 6 time points"):
        relax(NET, X0, output_clamp=OutputClamp([0.0, 0.0]), target_protocol=Sampled(np.zeros((9, 2))), **OK)
    with pytest.raises(ValueError, match="target_protocol needs output_clamp"):
        relax(NET, X0, target_protocol=Ramp([0.0, 0.0], [1.0, 1.0], tau=1.0), **OK)
    with pytest.raises(ValueError, match="exactly one of them"):
        relax(NET, X0, input_protocol=Ramp(X0, X0, tau=1.0), **OK)
    with pytest.raises(ValueError, match="exactly one of them"):
        relax(NET, None, **OK)
    with pytest.raises(ValueError, match="tau must be > 0.0, got 0.0"):
        Ramp([0.0], [1.0], tau=0.0)
    with pytest.raises(ValueError, match="n_replicas = 3 conflicts with 2 input"):
        relax(NET, np.zeros((2, 3)), n_replicas=3, **OK)
    with pytest.raises(ValueError, match="output stiffness must be > 0"):
        OutputClamp([0.0, 0.0], -1.0)
    with pytest.raises(ValueError, match="every must be >= 1"):
        Trajectory(every=0)


def test_zero_steps_and_result_fields():
    r = relax(NET, X0, kT=0.1, dt=0.01, n_steps=0, n_replicas=3, seed=0)
    assert r.status == "ok" and r.n_recorded == 0 and r.equipartition is None
    np.testing.assert_array_equal(r.work, 0)
    np.testing.assert_array_equal(r.energy_start, r.energy_end)
    r = relax(NET, np.zeros((4, 3)), kT=0.1, dt=0.01, n_steps=20, seed=0,
              record=(EnergyMoments(), ParamForce(), Trajectory(every=5), "books"))
    assert [x.shape for x in r.xs] == [(4, 3), (4, 5), (4, 2)]
    assert r.trajectory.shape == (4, 4, 10) and list(r.trajectory_steps) == [5, 10, 15, 20]
    np.testing.assert_array_equal(r.trajectory[-1], r.state)
    assert r.param_force.shape == (NET.n_params,)
    json.dumps(r.summary())


def test_param_force_is_the_mean_of_dH_dtheta_over_the_trajectory():
    r = relax(NET, np.zeros((6, 3)) + X0, kT=0.1, dt=0.01, n_steps=30, seed=1,
              record=(ParamForce(burn_in=10), Trajectory(every=1)))
    states = r.trajectory[10:]  # steps 11..30
    ref = np.mean([grad_params(NET, NET.split(s), reduce="mean") for s in states], axis=0)
    np.testing.assert_allclose(r.param_force, ref, rtol=1e-10, atol=1e-13)


def test_energy_moments_against_the_trajectory():
    from analogsim.model.hamiltonian import energy

    r = relax(NET, X0, kT=0.1, dt=0.01, n_steps=40, n_replicas=5, seed=2,
              record=(EnergyMoments(burn_in=0), Trajectory(every=1)))
    E = np.stack([energy(NET, NET.split(s), per_layer=True) for s in r.trajectory])  # (steps, B, L)
    np.testing.assert_allclose(r.energy_mean[:2], E.mean(axis=(0, 1)), rtol=1e-10)
    np.testing.assert_allclose(r.energy_var[:2], E.var(axis=(0, 1)), rtol=1e-8, atol=1e-14)
    per = 2 * E.mean(axis=0) / (np.array(NET.sizes[1:]) * 0.1)
    np.testing.assert_allclose(r.equipartition, per.mean(axis=0), rtol=1e-10)


def test_sampled_protocol_equals_ramp():
    n, dt, tau = 40, 0.01, 0.3
    ramp = Ramp(X0, -X0, tau)
    samp = Sampled(ramp.value(np.arange(n + 1) * dt))
    a = relax(NET, None, input_protocol=ramp, kT=0.1, dt=dt, n_steps=n, n_replicas=3, seed=3)
    b = relax(NET, None, input_protocol=samp, kT=0.1, dt=dt, n_steps=n, n_replicas=3, seed=3)
    np.testing.assert_allclose(a.state, b.state, rtol=0, atol=1e-15)
    np.testing.assert_allclose(a.work, b.work, rtol=1e-12)
    f = Sampled.from_function(lambda t: X0 * np.cos(t), n, dt)
    c = relax(NET, None, input_protocol=f, kT=0.1, dt=dt, n_steps=n, n_replicas=3, seed=3)
    np.testing.assert_allclose(c.xs[0], np.broadcast_to(X0 * np.cos(n * dt), (3, 3)))


def test_continuation_and_init_state():
    r1 = relax(NET, X0, kT=0.1, dt=0.01, n_steps=10, n_replicas=3, seed=4)
    r2 = relax(NET, X0, kT=0.1, dt=0.01, n_steps=10, seed=5, init=r1.state)
    assert r2.state.shape == (3, 10)
    np.testing.assert_allclose(r2.energy_start, r1.energy_end, rtol=1e-12)
    r3 = relax(NET, X0, kT=0.1, dt=0.01, n_steps=10, seed=5, init=r1.xs)
    np.testing.assert_array_equal(r2.state, r3.state)


def test_jarzynski_helper():
    rng = np.random.default_rng(0)
    W = rng.normal(0.5, 1.0, 200000)  # Gaussian work with var = 2 kT <W>: exactly <e^-W> = 1 at kT = 1
    est = jarzynski(W, 1.0)
    assert abs(est.value - 1) < 4 * est.se
    assert abs(est.delta_F) < 4 * est.se
    assert 0 < est.ess <= W.size
    assert abs(jarzynski(W + 1.0, 1.0).value - 1) > 4 * est.se  # shifted work: the control fails
    big = jarzynski(np.array([1000.0, 1001.0]), 1.0)  # no underflow
    assert np.isfinite(big.delta_F) and big.delta_F > 999


def test_cli_relax_json(tmp_path):
    out = subprocess.run([sys.executable, "-m", "analogsim.cli", "relax", "--sizes", "3,6,2", "--kT", "0.1",
                          "--n-steps", "50", "--replicas", "8", "--json", "--save", str(tmp_path / "r.npz")],
                         capture_output=True, text=True, check=True)
    s = json.loads(out.stdout)
    assert s["status"] == "ok" and s["n_replicas"] == 8 and s["n_steps"] == 50 and len(s["equipartition"]) == 2
    with np.load(tmp_path / "r.npz", allow_pickle=False) as z:
        assert z["state"].shape == (8, 11)
    bad = subprocess.run([sys.executable, "-m", "analogsim.cli", "relax", "--sizes", "3,6,2", "--kT", "0.1",
                          "--dt", "50"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unstable" in bad.stderr
    ramp = subprocess.run([sys.executable, "-m", "analogsim.cli", "relax", "--sizes", "1,4,1", "--kT", "0.05",
                           "--tau", "2", "--x0", "-1", "--x1", "1", "--integrator", "mala", "--dt", "0.05",
                           "--replicas", "16", "--json"], capture_output=True, text=True, check=True)
    s = json.loads(ramp.stdout)
    assert "jarzynski" in s and s["thermodynamic_length_sq"] > 0


@pytest.mark.parametrize("integ", ["em", "mala"])
def test_segments_continue_exactly(integ):
    """run(10) + run(15) equals run(25): buffers, streams, protocol and books carry over between calls."""
    from analogsim.inference.integrators import get_integrator
    from analogsim.inference.observers import Books
    from analogsim.inference.simulate import LangevinRun

    ramp = Ramp(X0, -X0, tau=0.2)
    xs = NET.forward(np.broadcast_to(X0, (5, 3)))
    runs = [LangevinRun(NET, NET.concat(xs), kT=0.1, dt=0.01, integrator=get_integrator(integ), input_protocol=ramp,
                        observers={"books": Books()}, seed=np.random.SeedSequence(1), chunk_rows=2) for _ in range(2)]
    runs[0].run(25)
    runs[1].run(10)
    runs[1].run(15)
    np.testing.assert_array_equal(runs[0].state(), runs[1].state())
    np.testing.assert_allclose(runs[0].books, runs[1].books, rtol=1e-13, atol=1e-15)


def test_cli_relax_config(tmp_path):
    cfg = tmp_path / "exp.toml"
    cfg.write_text('[experiment]\nkind = "relax"\nseed = 3\n[network]\nn_in = 3\nwidth = 8\ndepth = 2\nn_out = 2\n'
                   '[dynamics]\nkT = 0.05\ndt = 0.01\nn_steps = 40\nn_replicas = 4\n')
    out = subprocess.run([sys.executable, "-m", "analogsim.cli", "relax", "--config", str(cfg), "--kT", "0.2",
                          "--json"], capture_output=True, text=True, check=True)
    s = json.loads(out.stdout)
    assert s["sizes"] == [3, 8, 2] and s["n_steps"] == 40 and s["n_replicas"] == 4 and s["kT"] == 0.2


@pytest.mark.parametrize("sizes, act, dtype, B, hard", [
    ([3, 8, 8, 2], "tanh", "float64", 100, False),     # hand-written loops, streams of 64 rows across one chunk
    ([3, 8, 8, 2], "sigmoid", "float32", 40, True),    # float32, a hard-clamped output
    ([16, 64, 64, 4], "relu", "float64", 200, False),  # BLAS layers, chunks of 100 rows (not a multiple of 64)
])
def test_equilibrium_start_is_the_exact_samplers_draw(sizes, act, dtype, B, hard):
    """relax builds its equilibrium start inside the first kernel call (the draw fused with the start gradient):
    it must be the sample sample_equilibrium draws from the same streams (same residuals, to rounding), with
    energy_start its energy."""
    from analogsim import sample_equilibrium
    from analogsim.model.hamiltonian import energy

    net = Network.create(sizes, activations=act, kappa=[1.0, 2.0, 1.5], seed=0, dtype=dtype, bias_scale=0.1)
    x0 = np.random.default_rng(3).normal(size=(B, sizes[0]))
    tgt = np.random.default_rng(4).normal(size=(B, sizes[-1]))
    clamp = OutputClamp(tgt, None) if hard else None
    res = relax(net, x0, kT=0.3, dt=0.01, n_steps=0, seed=7, output_clamp=clamp, stability="off", threads=2)
    from analogsim.inference.simulate import start_seed

    xs = sample_equilibrium(net, x0, 0.3, seed=start_seed(7)).xs  # the documented seed derivation
    if hard:
        xs[-1] = tgt.astype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a, b in zip(res.xs, xs):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    e = energy(net.astype(np.float64), [x.astype(np.float64) for x in res.xs])
    np.testing.assert_allclose(res.energy_start, e, rtol=100 * tol, atol=100 * tol)
    # a different seed draws different residuals (negative control)
    other = relax(net, x0, kT=0.3, dt=0.01, n_steps=0, seed=8, output_clamp=clamp, stability="off")
    assert np.max(np.abs(other.xs[1] - res.xs[1])) > 0.1


def test_kept_layer1_products_are_reused_only_for_the_same_net_and_input():
    """A relax on the same net and fixed input reuses layer 1's f(y_1), f'(y_1) from the previous call's buffers
    (bit-identical results); a changed input or weight is recomputed (equal to a run with every cache cleared)."""
    from analogsim.inference import guard_cache
    from analogsim.inference.langevin_run import net_entry

    net = Network.create([16, 64, 64, 4], activations="tanh", kappa=1.0, seed=0, bias_scale=0.1)
    x0 = np.random.default_rng(0).normal(size=(200, 16))
    kw = dict(kT=0.1, dt=0.005, n_steps=3, seed=3, threads=1)

    def fresh(x):
        guard_cache.clear_cache()
        return relax(net, x, **kw)

    a = fresh(x0)
    kept = [v for v in net_entry(net)["work"].values()]
    assert len(kept) == 1 and np.array_equal(kept[0][2], x0)  # the input whose layer-1 values are kept
    b = relax(net, x0, **kw)
    assert all(np.array_equal(p, q) for p, q in zip(a.xs, b.xs)) and np.array_equal(a.heat, b.heat)
    x1 = x0.copy()
    x1[5, 3] += 1e-9  # a changed input
    c = relax(net, x1, **kw)
    assert all(np.array_equal(p, q) for p, q in zip(c.xs, fresh(x1).xs))
    assert not np.array_equal(c.xs[1], a.xs[1])
    relax(net, x0, **kw)
    net.weights[0][0, 0] += 1e-9  # a changed layer-1 weight
    d = relax(net, x0, **kw)
    assert all(np.array_equal(p, q) for p, q in zip(d.xs, fresh(x0).xs))
    assert not np.array_equal(d.xs[1], a.xs[1])


def test_flat_init_is_read_not_written_and_clamps_are_put_in_place():
    """A flat (B, n_total) init of the net's dtype is packed as it is (no copy): it must not be modified, and the
    clamped input and a hard target replace whatever its columns hold (the same run as from the list form)."""
    x0 = np.random.default_rng(0).normal(size=(50, 3))
    r = relax(NET, x0, kT=0.1, dt=0.01, n_steps=5, seed=1)
    st = r.state.copy()
    st[:, :3] = 7.0  # not the input: the clamp replaces it
    before = st.copy()
    clamp = OutputClamp(np.zeros(2), None)
    a = relax(NET, x0, kT=0.1, dt=0.01, n_steps=5, seed=2, init=st, output_clamp=clamp)
    xs = [x.copy() for x in r.xs]
    b = relax(NET, x0, kT=0.1, dt=0.01, n_steps=5, seed=2, init=xs, output_clamp=clamp)
    assert np.array_equal(st, before)
    assert np.array_equal(a.state, b.state)
    assert np.allclose(a.xs[0], x0) and np.all(a.xs[-1] == 0.0)


def test_small_input_kept_between_calls_only_while_bit_identical():
    """relax keeps a small fixed input's protocol object with the net's cache: an input changed in place (same
    array object) must give the results of a run with every cache cleared, and the guard re-checks it."""
    from analogsim.inference import guard_cache

    net = Network.create([3, 8, 8, 2], activations="tanh", kappa=1.0, seed=0, bias_scale=0.1)
    x = np.random.default_rng(0).normal(size=(16, 3))
    kw = dict(kT=0.05, dt=0.01, n_steps=3, seed=2, threads=1)
    a = relax(net, x, **kw)
    b = relax(net, x, **kw)
    assert np.array_equal(a.state, b.state)
    x[3, 1] += 0.5  # changed in place
    c = relax(net, x, **kw)
    assert not np.array_equal(a.state[3], c.state[3])
    assert np.array_equal(c.state[:, :3], x)  # the clamped input is the new one
    guard_cache.clear_cache()
    d = relax(net, x, **kw)
    assert np.array_equal(c.state, d.state) and np.array_equal(c.heat, d.heat)


def _fresh_relax(net, x, **kw):
    from analogsim.inference import guard_cache

    guard_cache.clear_cache()  # no kept buffers: the start's gradient pass runs
    return relax(net, x, **kw)


def _same_run(a, b):
    return (all(np.array_equal(p, q) for p, q in zip(a.xs, b.xs)) and np.array_equal(a.heat, b.heat)
            and np.array_equal(a.work, b.work) and np.array_equal(a.energy_start, b.energy_start)
            and np.array_equal(a.energy_mean, b.energy_mean))


@pytest.mark.parametrize("dtype, integrator, clamp", [
    ("float64", "em", None), ("float32", "em", None), ("float64", "mala", None),
    ("float64", "em", OutputClamp(np.array([0.2, -0.1]), 2.0)), ("float64", "em", OutputClamp(np.zeros(2), None)),
])
def test_a_continued_relax_reuses_the_end_gradient_and_equals_a_fresh_start(dtype, integrator, clamp):
    """relax(init=previous.xs) on the same net, input and clamp starts from the gradient its buffers hold (no start
    pass: extra['continued']) and gives, bit for bit, what a run with every cache cleared gives from that state."""
    net = Network.create([3, 8, 8, 2], activations="tanh", kappa=1.0, seed=0, bias_scale=0.1, dtype=dtype)
    x = np.random.default_rng(0).normal(size=(40, 3))
    kw = dict(kT=0.05, dt=0.005, n_steps=4, threads=1, integrator=integrator, output_clamp=clamp)
    r = relax(net, x, seed=1, **kw)
    assert not r.extra["continued"]
    for k in range(3):  # a list, then the flat state, then the result itself
        init = (r.xs, r.state, r)[k]
        c = relax(net, x, seed=2 + k, init=init, **kw)
        assert c.extra["continued"]
        assert _same_run(c, _fresh_relax(net, x, seed=2 + k, init=init, **kw))
        r = relax(net, x, seed=2 + k, init=init, **kw)  # the chain goes on from the last run's end
    np.testing.assert_array_equal(r.energy_end, _fresh_relax(net, x, seed=9, init=r.xs, **kw).energy_start)


def test_a_continuation_is_refused_whenever_what_the_gradient_depends_on_changed():
    """Every change of the state, the parameters, the input or the clamp gives a normal start (extra['continued']
    False) with the numbers of a fresh run; so does a start from a diverged run. Negative control of the previous
    test: a state one bit off is not continued."""
    net = Network.create([3, 8, 8, 2], activations="tanh", kappa=1.0, seed=0, bias_scale=0.1)
    x = np.random.default_rng(0).normal(size=(40, 3))
    kw = dict(kT=0.05, dt=0.005, n_steps=3, threads=1)

    def check(res, *args, **extra):
        a = relax(net, x if not args else args[0], seed=5, init=[v.copy() for v in res.xs], **{**kw, **extra})
        assert not a.extra["continued"]
        assert _same_run(a, _fresh_relax(net, x if not args else args[0], seed=5, init=res.xs, **{**kw, **extra}))

    r = relax(net, x, seed=1, **kw)
    xs = [v.copy() for v in r.xs]
    xs[2][7, 3] = np.nextafter(xs[2][7, 3], np.inf)  # one bit
    a = relax(net, x, seed=5, init=xs, **kw)
    assert not a.extra["continued"] and _same_run(a, _fresh_relax(net, x, seed=5, init=xs, **kw))
    r = relax(net, x, seed=1, **kw)
    x2 = x.copy()
    x2[3, 1] += 1e-9
    check(r, x2)                                          # another input
    r = relax(net, x, seed=1, **kw)
    check(r, output_clamp=OutputClamp(np.zeros(2), 1.0))  # a clamp added
    r = relax(net, x, seed=1, **kw)
    net.biases[1][2] += 1e-12                             # a parameter
    check(r)
    r = relax(net, x, seed=1, **kw)
    r = relax(net, x, seed=1, init=r.xs, **{**kw, "threads": None, "chunk_rows": 7})  # another chunk layout
    assert not r.extra["continued"]
    bad = relax(net, x, kT=0.05, dt=50.0, n_steps=30, seed=1, stability="off", throw=False, threads=1)
    assert bad.status == "diverged"
    check(bad)


def test_large_input_kept_between_calls_only_while_bit_identical():
    """The same for an input above the byte-comparison size (compared by values' bits): an input changed in place,
    or in the sign of a zero, is a new input (the results of a run with every cache cleared)."""
    from analogsim.inference import guard_cache

    net = Network.create([100, 8, 2], activations="tanh", kappa=1.0, seed=0, bias_scale=0.1)
    x = np.random.default_rng(0).normal(size=(100, 100))
    x[0, 0] = 0.0
    assert x.nbytes > 65536  # above same_array's byte-comparison size
    kw = dict(kT=0.05, dt=0.01, n_steps=3, seed=2, threads=1)
    a = relax(net, x, **kw)
    assert _same_run(a, relax(net, x.copy(), **kw))
    for change in (lambda v: v.__setitem__((7, 9), v[7, 9] + 1e-12), lambda v: v.__setitem__((0, 0), -0.0)):
        change(x)
        c = relax(net, x, **kw)
        assert np.array_equal(c.xs[0], np.broadcast_to(x, c.xs[0].shape))  # the clamped input is the new one
        guard_cache.clear_cache()
        assert _same_run(c, relax(net, x, **kw))
