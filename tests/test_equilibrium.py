"""Exact equilibrium (docs/theory/equilibrium.md), the free energy, and the clamped minimum (§4).

Statistical tests use fixed seeds and tolerances in standard errors (stated at each assertion); the negative
control (a sampler that scales the noise by kT/kappa instead of sqrt(kT/kappa)) must fail the same check.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

import analogsim.model.clamped as clamped
import analogsim.model.equilibrium as eq
from analogsim import Network, OutputClamp
from analogsim.model import hamiltonian as ham
from analogsim.model.equilibrium import clamped_minimum, equipartition, free_energy, sample_equilibrium

N_SE = 4.0  # statistical tolerance: 4 standard errors


def _net(dtype="float64"):
    rng = np.random.default_rng(7)
    sizes = [3, 5, 4, 2]
    kappa = [rng.uniform(0.5, 4.0, n) for n in sizes[1:]]
    return Network.create(sizes, activations=["tanh", "relu", "sigmoid"], kappa=kappa, seed=8, bias_scale=0.5,
                          dtype=dtype)


def product_gaussian_check(net, xs, kT):
    """Is the law of the residuals (recomputed from the state) prod_i N(0, kT/kappa_i)? Returns (ok, details).

    Every statistic is a z-score (estimate minus exact value, over its standard error) or a KS p-value.
    """
    d = np.concatenate([np.asarray(a, np.float64) for a in ham.residuals(net, xs)], axis=1)
    k = net.kappa_flat.astype(np.float64)
    n = d.shape[0]
    var_exact = kT / k
    u = d / np.sqrt(var_exact)  # standardised: exactly N(0, 1), independent
    ratio, se = equipartition(net.kappa, ham.residuals(net, xs), kT)
    z_layer = (ratio - 1) / se  # <kappa delta^2>/kT = 1 per layer
    z_mean = u.mean(axis=0) * np.sqrt(n)  # SE of a mean of N(0,1): 1/sqrt(n)
    z_var = (u.var(axis=0, ddof=1) - 1) / np.sqrt(2 / (n - 1))  # SE of a Gaussian sample variance
    c = np.corrcoef(u, rowvar=False)
    z_corr = c[np.triu_indices_from(c, 1)] * np.sqrt(n)  # SE of a zero correlation: 1/sqrt(n)
    ks = stats.kstest((u ** 2).ravel(), stats.chi2(1).cdf)  # kappa delta^2/kT ~ chi2(1)
    det = {"z_layer": z_layer, "z_mean": z_mean, "z_var": z_var, "z_corr_max": float(np.abs(z_corr).max()),
           "ks_p": float(ks.pvalue)}
    ok = (np.all(np.abs(z_layer) < N_SE) and np.all(np.abs(z_mean) < N_SE) and np.all(np.abs(z_var) < N_SE)
          # many pairs: 4.5 SE keeps the family-wise false-alarm rate below 1e-3
          and det["z_corr_max"] < 4.5
          and det["ks_p"] > 6e-5)  # p = 6e-5 is a two-sided 4-sigma tail
    return bool(ok), det


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sampler_is_exactly_product_gaussian(dtype):
    net = _net(dtype)
    kT = 0.3
    s = sample_equilibrium(net, [0.2, -0.4, 1.0], kT, n_replicas=20000, seed=11)
    ok, det = product_gaussian_check(net, s.xs, kT)
    assert ok, det
    # the returned residuals are those of the state (to rounding)
    eps = 64 * np.finfo(dtype).eps
    for a, b, x in zip(ham.residuals(net, s.xs), s.deltas, s.xs[1:]):
        assert np.max(np.abs(a - b)) <= eps * (1 + np.max(np.abs(x)))


def test_sampler_statistics_do_not_depend_on_the_inputs():
    net = _net()
    kT = 2.0
    x0 = np.random.default_rng(0).standard_normal((20000, 3)) * 3
    s = sample_equilibrium(net, x0, kT, seed=12)
    ok, det = product_gaussian_check(net, s.xs, kT)
    assert ok, det
    ratio, se = s.equipartition(net.kappa)
    assert np.all(np.abs(ratio - 1) < N_SE * se)


def test_negative_control_wrong_noise_scale_fails():
    net = _net()
    kT = 0.3
    rng = np.random.default_rng(11)
    x = np.broadcast_to(np.array([[0.2, -0.4, 1.0]]), (20000, 3))
    xs = [x]
    for l in range(net.depth):  # the bug: N(0, 1) * kT/kappa instead of * sqrt(kT/kappa)
        d = rng.standard_normal((x.shape[0], net.sizes[l + 1])) * (kT / net.kappa[l])
        x = net.activations[l].f(net.preactivation(l + 1, x)) + d
        xs.append(x)
    ok, det = product_gaussian_check(net, xs, kT)
    assert not ok
    assert np.all(np.abs(det["z_layer"]) > 10)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_seed_same_numbers_any_thread_count_and_path(monkeypatch, dtype):
    numba = pytest.importorskip("numba")
    net = Network.create([4, 16, 16, 1], activations=["tanh", "softplus", "identity"], seed=0, dtype=dtype)
    x = np.random.default_rng(0).standard_normal((300, 4)).astype(dtype)
    a = sample_equilibrium(net, x, 0.3, seed=5)
    b = sample_equilibrium(net, x, 0.3, seed=5)
    assert all(np.array_equal(p, q) for p, q in zip(a.xs, b.xs))
    n0 = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        c = sample_equilibrium(net, x, 0.3, seed=5)
    finally:
        numba.set_num_threads(n0)
    assert all(np.array_equal(p, q) for p, q in zip(a.xs, c.xs))
    # the BLAS path (large nets) draws the same residuals as the one-call path (small nets)
    monkeypatch.setattr(eq, "_SMALL_MACS", 0)
    monkeypatch.setattr(eq, "_LAYOUTS", None)
    d = sample_equilibrium(net, x, 0.3, seed=5)
    assert all(np.array_equal(p, q) for p, q in zip(a.deltas, d.deltas))
    assert max(np.max(np.abs(p - q)) for p, q in zip(a.xs, d.xs)) < 1e3 * np.finfo(dtype).eps
    spare = eq._spare_cores()
    monkeypatch.setattr(eq, "_spare_cores", lambda: not spare)  # the other per-layer kernel
    f = sample_equilibrium(net, x, 0.3, seed=5)
    assert all(np.array_equal(p, q) for p, q in zip(d.xs, f.xs))
    e = sample_equilibrium(net, x, 0.3, seed=6)
    assert not np.array_equal(a.deltas[0], e.deltas[0])


def test_seed_kinds():
    net = Network.create([2, 3, 1], seed=0)
    ss = np.random.SeedSequence(3)
    a = sample_equilibrium(net, [0.0, 1.0], 1.0, n_replicas=5, seed=ss)
    b = sample_equilibrium(net, [0.0, 1.0], 1.0, n_replicas=5, seed=np.random.SeedSequence(3))
    assert np.array_equal(a.xs[2], b.xs[2])
    g1, g2 = np.random.default_rng(1), np.random.default_rng(1)
    assert np.array_equal(sample_equilibrium(net, [0.0, 1.0], 1.0, n_replicas=5, seed=g1).xs[1],
                          sample_equilibrium(net, [0.0, 1.0], 1.0, n_replicas=5, seed=g2).xs[1])
    assert sample_equilibrium(net, [0.0, 1.0], 1.0, n_replicas=5, seed=None).xs[1].shape == (5, 3)


def test_zero_temperature_is_the_forward_pass():
    net = _net()
    x = np.random.default_rng(1).standard_normal((7, 3))
    s = sample_equilibrium(net, x, 0.0, seed=0)
    assert all(np.all(d == 0) for d in s.deltas)
    for a, b in zip(s.xs, net.forward(x)):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-14)


def test_kernel_activations_match_numpy():
    from analogsim.model.activations import ACTIVATIONS
    from analogsim.kernels.sample import activate

    rng = np.random.default_rng(0)
    y = np.concatenate([rng.standard_normal(20000) * 4, rng.uniform(-700, 700, 2000), np.linspace(-2, 2, 4001),
                        rng.uniform(-1e-3, 1e-3, 1000), [0.0, -0.0, 1e-300, -1e-300, 0.625, -0.625]])
    out = np.empty_like(y)
    for name, max_ulp in (("identity", 0), ("relu", 0), ("tanh", 2), ("sigmoid", 4), ("softplus", 4)):
        act = ACTIVATIONS[name]
        activate(y, act.code, out)
        ref = act.f(y)
        ulp = np.abs(out - ref) / np.maximum(np.spacing(np.abs(ref)), np.finfo(float).tiny)
        assert ulp.max() <= max_ulp, (name, ulp.max(), y[np.argmax(ulp)])
    # float32 tanh is computed in float32: within 3 ulp of the correctly rounded value
    y32 = np.concatenate([y[np.abs(y) < 50], np.linspace(-12, 12, 20001)]).astype(np.float32)
    out32 = np.empty_like(y32)
    activate(y32, ACTIVATIONS["tanh"].code, out32)
    ref32 = np.tanh(y32.astype(np.float64)).astype(np.float32)
    ulp32 = np.abs(out32.astype(np.float64) - ref32) / np.spacing(np.maximum(np.abs(ref32), np.float32(1e-37)))
    assert ulp32.max() <= 3, (ulp32.max(), y32[np.argmax(ulp32)])


# --------------------------------------------------------------------------- free energy
def test_free_energy_matches_numerical_partition_function_one_neuron():
    kT, kappa = 0.7, 2.5
    for w, b, x0 in [(0.3, -1.0, 2.0), (-2.0, 0.5, 0.1), (5.0, 3.0, -1.0)]:
        net = Network([np.array([[w]])], [np.array([b])], activations="tanh", kappa=kappa)
        c = np.tanh(w * x0 + b)
        s = np.sqrt(kT / kappa)
        Z, _ = integrate.quad(lambda x: np.exp(-0.5 * kappa * (x - c) ** 2 / kT), c - 20 * s, c + 20 * s,
                              epsabs=0, epsrel=1e-13)
        assert abs(-kT * np.log(Z) - free_energy(net, kT)) < 1e-10


def test_free_energy_independent_of_weights_biases_input_two_layers():
    kT = 0.4
    k1, k2 = 1.5, 3.0
    F = None
    for seed, act in [(0, "tanh"), (1, "sigmoid"), (2, "relu")]:
        rng = np.random.default_rng(seed)
        W1, W2, b1, b2, x0 = rng.standard_normal(5) * 2
        net = Network([np.array([[W1]]), np.array([[W2]])], [np.array([b1]), np.array([b2])],
                      activations=[act, "softplus"], kappa=[k1, k2])
        f1, f2 = net.activations[0].f, net.activations[1].f
        m1 = f1(np.array([W1 * x0 + b1]))[0]
        s1, s2 = np.sqrt(kT / k1), np.sqrt(kT / k2)

        def integrand(x2, x1):
            m2 = f2(np.array([W2 * x1 + b2]))[0]
            return np.exp(-(0.5 * k1 * (x1 - m1) ** 2 + 0.5 * k2 * (x2 - m2) ** 2) / kT)

        def centre(x1):
            return f2(np.array([W2 * x1 + b2]))[0]

        Z, _ = integrate.dblquad(integrand, m1 - 14 * s1, m1 + 14 * s1, lambda x1: centre(x1) - 14 * s2,
                                 lambda x1: centre(x1) + 14 * s2, epsabs=0, epsrel=1e-11)
        Fn = -kT * np.log(Z)
        assert abs(Fn - free_energy(net, kT)) < 1e-8
        F = Fn if F is None else F
        assert abs(Fn - F) < 1e-8  # the same for every W, b, x0 and activation


def test_free_energy_formula_and_bad_kT():
    net = Network.create([2, 3, 2], kappa=[np.array([1.0, 2.0, 3.0]), 4.0], seed=0)
    kT = 0.25
    assert np.isclose(free_energy(net, kT), 0.5 * kT * np.sum(np.log(net.kappa_flat / (2 * np.pi * kT))))
    assert free_energy(net, kT) == free_energy(net.with_theta(np.zeros(net.n_params)), kT)
    with pytest.raises(ValueError, match=r"kT must be > 0.0, got 0.0"):
        free_energy(net, 0.0)


# --------------------------------------------------------------------------- sampler: bad input
def test_sampler_rejects_negative_kT():
    with pytest.raises(ValueError, match=r"kT must be >= 0.0, got -1.0"):
        sample_equilibrium(_net(), [0.0, 0.0, 0.0], -1.0)


def test_sampler_rejects_nonfinite_kT():
    with pytest.raises(ValueError, match=r"kT must be finite, got nan"):
        sample_equilibrium(_net(), [0.0, 0.0, 0.0], float("nan"))


def test_sampler_rejects_input_of_wrong_shape():
    with pytest.raises(ValueError, match=r"x0 must have shape \(batch, 3\) to match the input layer, got \(2, 2\)"):
        sample_equilibrium(_net(), np.zeros((2, 2)), 1.0)


def test_sampler_rejects_inf_input():
    with pytest.raises(ValueError, match=r"x0 must be finite, got 1 NaN/inf"):
        sample_equilibrium(_net(), [0.0, np.inf, 0.0], 1.0)


def test_sampler_rejects_replicas_with_many_rows():
    with pytest.raises(ValueError, match=r"n_replicas needs a single input row, got x0 with 2 rows"):
        sample_equilibrium(_net(), np.zeros((2, 3)), 1.0, n_replicas=4)


def test_sampler_rejects_zero_replicas():
    with pytest.raises(ValueError, match=r"n_replicas must be >= 1, got 0"):
        sample_equilibrium(_net(), np.zeros(3), 1.0, n_replicas=0)


def test_sampler_rejects_negative_seed():
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got -3"):
        sample_equilibrium(_net(), np.zeros(3), 1.0, seed=-3)


def test_sampler_rejects_seed_of_wrong_type():
    with pytest.raises(TypeError, match=r"seed must be an int, a numpy SeedSequence or Generator, or None"):
        sample_equilibrium(_net(), np.zeros(3), 1.0, seed="abc")


# --------------------------------------------------------------------------- clamped minimum
@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "identity"])
@pytest.mark.parametrize("soft", [None, 2.0])
def test_recursion_eq10_at_solver_precision(act, soft):
    rng = np.random.default_rng(3)
    net = Network.create([3, 6, 6, 2], activations=[act, act, "identity"], seed=4, bias_scale=0.5)
    x0, t = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    for r in (1e-6, 1e-3, 1.0):
        m = clamped_minimum(net.with_kappa([1.0, 1.0, r]), x0, t, output_stiffness=soft)
        assert m.recursion_residual < 1e-12, (r, m.recursion_residual)
        assert m.grad_norm < 1e-12 and m.n_kinks == 0
        # the state is a minimum: dH/dx of the free layers vanishes
        g = ham.grad_x(net.with_kappa([1.0, 1.0, r]), m.xs, OutputClamp(t, soft) if soft else None)
        free = g[1:3] if soft is None else g[1:4]
        assert max(np.max(np.abs(a)) for a in free) < 1e-10


def test_relu_minimum_on_kinks_is_held_and_reported():
    # seeded case whose minimum puts 24 relu neurons on their kink; plain Newton oscillated here
    from analogsim.model.crosscheck import make_case_data

    net, x0, t = make_case_data(4, "relu")
    m = clamped_minimum(net.with_kappa([1.0, 1.0, 1.0, 1.0]), x0, t)
    assert m.n_kinks > 0
    assert m.converged and m.grad_norm < 1e-12 and m.n_iter < 40
    assert m.recursion_residual < 1e-12  # Eq. 10 with the kink's effective slope in [0, 1]
    # on a kink, y = 0 to rounding
    ys = [net.preactivation(l, m.xs[l - 1]) for l in range(2, 5)]
    assert sum(int(np.sum(np.abs(y) < 1e-12)) for y in ys) >= m.n_kinks


def test_kink_stress_is_the_derivative_of_the_minimum_energy():
    rng = np.random.default_rng(3)
    net = Network.create([4, 8, 8, 8, 2], activations="relu", seed=1, bias_scale=0.1)
    x0, t = rng.standard_normal((8, 4)), rng.standard_normal((8, 2)) * 0.5
    m = clamped_minimum(net, x0, t)
    assert m.n_kinks > 0 and m.grad_norm < 1e-12
    g = m.grad_theta.sum(axis=0)
    h = 1e-6

    def E(theta):
        return clamped_minimum(net.with_theta(theta), x0, t).energy.sum()

    idx = list(range(net.b_offsets[1], net.b_offsets[1] + 8)) + list(range(net.b_offsets[2], net.b_offsets[2] + 8))
    for i in idx:  # biases of the layers whose neurons sit on kinks
        e = np.zeros(net.n_params)
        e[i] = h
        fd = (E(net.theta + e) - E(net.theta - e)) / (2 * h)
        assert abs(fd - g[i]) < 1e-7 * np.abs(g).max()


def test_dense_hessian_matches_hessian_vector_products():
    rng = np.random.default_rng(0)
    net = Network.create([3, 4, 5, 2], activations=["tanh", "softplus", "sigmoid"], seed=2, bias_scale=0.4)
    x0 = rng.standard_normal((3, 3))
    xs = [x + 0.3 * rng.standard_normal(x.shape) for x in net.forward(x0)]
    clamp = OutputClamp(rng.standard_normal((3, 2)), 1.7)
    ys, deltas, fps = ham.layer_terms(net, xs)
    Hd = clamped._dense_hessian(net, ys, fps, deltas, clamp, 3)
    off = np.concatenate([[0], np.cumsum(net.sizes[1:])])
    for j in range(int(off[-1])):
        e = np.zeros((3, int(off[-1])))
        e[:, j] = 1
        v = [np.zeros((3, 3))] + [e[:, off[l]:off[l + 1]] for l in range(3)]
        col = np.concatenate(ham.hvp_x(net, xs, v, clamp)[1:], axis=1)
        np.testing.assert_allclose(Hd[:, :, j], col, rtol=1e-13, atol=1e-13)


def test_depth_one_hard_clamp_has_nothing_to_minimise():
    net = Network.create([3, 2], activations="sigmoid", kappa=0.5, seed=0)
    x0, t = np.ones((2, 3)), np.zeros((2, 2))
    m = clamped_minimum(net, x0, t)
    y = net.preactivation(1, net.check_input(x0))
    f = net.activations[0]
    np.testing.assert_allclose(m.stress[0], -0.5 * (t - f.f(y)) * f.df(y))
    assert m.converged and m.n_iter == 0


def test_clamped_minimum_rejects_unknown_method():
    with pytest.raises(ValueError, match=r"method must be 'auto', 'newton' or 'newton-cg', got 'bfgs'"):
        clamped_minimum(_net(), np.zeros(3), np.zeros(2), method="bfgs")


def test_clamped_minimum_rejects_target_of_wrong_shape():
    with pytest.raises(ValueError, match=r"target must have shape \(batch, 2\) to match the output layer"):
        clamped_minimum(_net(), np.zeros(3), np.zeros(3))


def test_clamped_minimum_rejects_nonpositive_output_stiffness():
    with pytest.raises(ValueError, match=r"output stiffness must be > 0"):
        clamped_minimum(_net(), np.zeros(3), np.zeros(2), output_stiffness=0.0)


def test_clamped_minimum_rejects_zero_iterations():
    with pytest.raises(ValueError, match=r"max_iter must be >= 1, got 0"):
        clamped_minimum(_net(), np.zeros(3), np.zeros(2), max_iter=0)
