"""Graph networks: physical training (separated fidelity, kT > 0) of conv nets on the digits, with its books."""

from __future__ import annotations

import numpy as np
import pytest

from analogsim.graph import GraphBuilder
from analogsim.data.images import as_images, digits_images
from analogsim.training.graph import fixed_point_minimum, train


def digits_conv_net(small=False, seed=0):
    ds, shape = digits_images(seed=0)
    b = GraphBuilder(shape)
    if small:
        c = b.conv(b.input, 4, 3, stride=2, padding=1, activation="tanh")
    else:
        c = b.conv(b.conv(b.input, 8, 3, padding=1, activation="tanh"), 16, 3, stride=2, padding=1,
                   activation="tanh")
    b.dense(c, 10)
    return b.build(seed=seed, kappa=1.0), ds


def test_training_books_close_and_loss_falls():
    net, ds = digits_conv_net(small=True)
    kw = dict(presentations=60, mu=50.0, kT=1e-9, kappa_out=1e-3, batch_size=16, seed=1, n_records=3)
    res = train(net, ds.x_train[:400], ds.t_train[:400], ds.x_test[:200], ds.t_test[:200], **kw)
    assert res.records["test_loss"][-1] < 0.5 * res.records["test_loss"][0]
    # first law per presentation: Delta E = W_sw - Q_x - Q_theta (exact energy differences; rounding only)
    assert res.first_law_residual_max < 1e-11  # per-presentation energies are O(100): rounding is ~1e-14
    assert abs(res.delta_E - (res.W_sw - res.Q_x - res.Q_theta)) < 1e-12 * abs(res.W_sw)
    assert res.n_params == net.n_params and res.fallbacks == 0 and res.max_grad_norm <= 1e-10
    assert np.isfinite(res.bound) and res.W_eq15 > 0
    assert "first law residual" in res.summary()
    res2 = train(net, ds.x_train[:400], ds.t_train[:400], ds.x_test[:200], ds.t_test[:200], **kw)
    assert np.array_equal(res.net.theta, res2.net.theta)   # seeded: same run
    assert not np.array_equal(net.theta, res.net.theta)     # the input net is left as it was; the copy trained
    assert as_images(ds.x_test[:3], (1, 8, 8)).shape == (3, 1, 8, 8)


def test_fixed_point_minimum_agrees_with_newton():
    from analogsim.model.graph.equilibrium import clamped_minimum

    net, ds = digits_conv_net(small=True)
    net = net.with_kappa([1.0, 1e-3])
    x, t = ds.x_train[:4], ds.t_train[:4]
    xs, ok, gn, _, _ = fixed_point_minimum(net, x, t, tol=1e-12)
    m = clamped_minimum(net, x, t)
    assert ok.all() and m.converged
    np.testing.assert_allclose(xs[1], m.xs[1], atol=1e-12)


def test_training_rejects_bad_input():
    net, ds = digits_conv_net(small=True)
    with pytest.raises(ValueError, match="t_train must have"):
        train(net, ds.x_train[:10], ds.t_train[:9], presentations=1, mu=1.0, kT=0.0)
    with pytest.raises(ValueError, match="kT must be >= 0"):
        train(net, ds.x_train[:10], ds.t_train[:10], presentations=1, mu=1.0, kT=-1.0)
    with pytest.raises(ValueError, match="batch_size must be <="):
        train(net, ds.x_train[:10], ds.t_train[:10], presentations=1, mu=1.0, kT=0.0, batch_size=11)


@pytest.mark.slow
def test_conv_net_learns_digits_physically():
    """conv 1->8 3x3, conv 8->16 3x3 stride 2, dense -> 10; kT = 1e-9, kappa_out/kappa_hidden = 1e-3, hard clamp;
    1000 presentations of 16 entries: held-out accuracy 0.9555 measured (seed 1)."""
    net, ds = digits_conv_net()
    res = train(net, ds.x_train, ds.t_train, ds.x_test, ds.t_test, presentations=1000, mu=50.0, kT=1e-9,
                kappa_out=1e-3, batch_size=16, seed=1)
    assert res.records["test_accuracy"][-1] >= 0.94, res.summary()
    assert res.first_law_residual_max < 1e-11


def test_joint_fidelity_learns_with_closed_books():
    net, ds = digits_conv_net(small=True)
    kw = dict(presentations=30, mu=2.0, kT=1e-7, kappa_out=0.05, batch_size=16, seed=1, n_records=2,
              fidelity="joint", neuron_mobility=5.0, dt=0.05)
    res = train(net, ds.x_train[:400], ds.t_train[:400], ds.x_test[:200], ds.t_test[:200], **kw)
    assert res.records["test_loss"][-1] < 0.5 * res.records["test_loss"][0]
    assert res.first_law_residual_max < 1e-12
    assert res.Q_x > 0 and res.W_sw > 0 and res.settings["fidelity"] == "joint"
    with pytest.raises(ValueError, match="unstable for the neurons"):
        train(net, ds.x_train[:40], ds.t_train[:40], presentations=1, mu=1.0, kT=0.0, kappa_out=0.05,
              fidelity="joint", neuron_mobility=100.0, dt=0.5)
    with pytest.raises(ValueError, match="fidelity must be"):
        train(net, ds.x_train[:40], ds.t_train[:40], presentations=1, mu=1.0, kT=0.0, fidelity="both")


@pytest.mark.parametrize("fidelity", ["separated", "joint"])
def test_checkpoint_resume_equals_uninterrupted_run(tmp_path, fidelity):
    from analogsim.errors import CheckpointError

    net, ds = digits_conv_net(small=True)
    kw = dict(presentations=12, mu=2.0, kT=1e-6, kappa_out=0.05, batch_size=8, seed=3, n_records=4,
              fidelity=fidelity, neuron_mobility=5.0, dt=0.1)
    data = (ds.x_train[:100], ds.t_train[:100], ds.x_test[:50], ds.t_test[:50])
    full = train(net, *data, **kw)
    path = tmp_path / "ck.npz"
    part = train(net, *data, **{**kw, "presentations": 12}, checkpoint=path, checkpoint_every=5)
    assert np.array_equal(part.net.theta, full.net.theta)
    # a run killed after presentation 5: keep the checkpoint written then, and resume from it
    path2 = tmp_path / "ck2.npz"
    import shutil

    class Stop(Exception):
        pass

    from analogsim.graph import io as gio
    orig = gio.save_train_state

    def save_then_stop(p, digest, sc, ar):
        orig(p, digest, sc, ar)
        if sc["s"] == 5:
            raise Stop

    gio.save_train_state = save_then_stop
    try:
        with pytest.raises(Stop):
            train(net, *data, **kw, checkpoint=path2, checkpoint_every=5)
    finally:
        gio.save_train_state = orig
    shutil.copy(path2, tmp_path / "kept.npz")
    res = train(net, *data, **kw, checkpoint=path2, checkpoint_every=5)
    assert np.array_equal(res.net.theta, full.net.theta)
    assert res.records == full.records and res.W_sw == full.W_sw and res.Q_theta == full.Q_theta
    with pytest.raises(CheckpointError, match="another run"):
        train(net, *data, **{**kw, "mu": 3.0}, checkpoint=tmp_path / "kept.npz")


@pytest.mark.slow
def test_residual_conv_net_learns_digits_physically():
    """conv 1->8 3x3 tanh, conv 8->8 3x3 tanh, residual join (fixed identities), avg pool 2, dense -> 10;
    600 presentations of 16: held-out accuracy 0.9399 measured (seed 1)."""
    ds, shape = digits_images(seed=0)
    b = GraphBuilder(shape)
    c1 = b.conv(b.input, 8, 3, padding=1, activation="tanh")
    r = b.add([c1, b.conv(c1, 8, 3, padding=1, activation="tanh")])
    b.dense(b.avg_pool(r, 2), 10)
    net = b.build(seed=0, kappa=1.0)
    res = train(net, ds.x_train, ds.t_train, ds.x_test, ds.t_test, presentations=600, mu=50.0, kT=1e-9,
                kappa_out=1e-3, batch_size=16, seed=1)
    assert res.records["test_accuracy"][-1] >= 0.92, res.summary()
    assert res.first_law_residual_max < 1e-11


@pytest.mark.slow
def test_joint_fidelity_approaches_the_separated_limit():
    """At fixed mu tau_inf, the joint dynamics' parameters approach the separated run's as Gamma/mu grows
    (measured: relative distance 1.29, 0.88, 0.33 at Gamma = 10, 40, 160 with mu = 2; kT = 0)."""
    net, ds = digits_conv_net(small=True)
    data = (ds.x_train[:400], ds.t_train[:400], ds.x_test[:200], ds.t_test[:200])
    kw = dict(presentations=30, mu=2.0, kT=0.0, kappa_out=0.05, batch_size=16, seed=1, n_records=1)
    sep = train(net, *data, **kw)
    dist = []
    for gam in (10.0, 40.0, 160.0):
        res = train(net, *data, **kw, fidelity="joint", neuron_mobility=gam, dt=0.2 / gam)
        assert res.first_law_residual_max < 1e-12
        dist.append(np.linalg.norm(res.net.theta - sep.net.theta) / np.linalg.norm(sep.net.theta - net.theta))
    assert dist[0] > dist[1] > dist[2] and dist[2] < 0.5, dist


def _mixed_net(seed=0):
    from analogsim.model.graph.operators import Dense

    """conv (channel bias), grouped dilated conv (sigmoid), residual join through fixed identities (no bias),
    avg pool, and an output fed by the pool and by the input (dense): every operator kind."""
    b = GraphBuilder((2, 6, 6))
    h = b.conv(b.input, 4, 3, padding=1, activation="tanh")
    g = b.conv(h, 4, 3, padding=2, dilation=2, groups=2, activation="sigmoid")
    r = b.add([h, g])
    p = b.avg_pool(r, 2)
    b.layer("out", [(p, Dense(b.shape(p), 3)), (b.input, Dense(b.shape(b.input), 3))])  # a skip from the input
    return b.build(seed=seed, kappa=1.0)


@pytest.mark.parametrize("which", ["conv", "mixed"])
def test_column_layout_minimum_matches_the_reference(which):
    """The training loop's column-layout clamped minimum (ColumnPlan, numba gather/scatter) against the row-layout
    reference: the same state to 1e-10, H and the stress gradient to rounding, the reported gradient norm equal to
    the one measured by energy.grad_x on the returned state."""
    from analogsim.graph import energy as E
    from analogsim.training.graph import _fixed_point_cols

    net = digits_conv_net()[0] if which == "conv" else _mixed_net()
    net = net.with_kappa([1.0] * (net.depth - 1) + [1e-3])
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, net.sizes[0]))
    t = rng.standard_normal((5, net.sizes[-1]))
    xs, ok, gn, sweeps, H = fixed_point_minimum(net, x, t, tol=1e-10)
    plan = E.ColumnPlan(net)
    xc, tc = np.ascontiguousarray(x.T), np.ascontiguousarray(t.T)
    cols, ok_c, gn_c, sweeps_c, H_c, sig_c = _fixed_point_cols(plan, xc, tc, plan.inputs(xc), 1e-10)
    assert ok.all() and ok_c.all() and sweeps_c <= sweeps
    rows = [np.ascontiguousarray(c.T) for c in cols]
    for a, b in zip(xs, rows):
        np.testing.assert_allclose(b, a, atol=1e-10, rtol=0)
    np.testing.assert_allclose(H_c, E.energy(net, rows), rtol=1e-12)
    g = E.grad_x(net, rows)
    scale = np.max(np.abs(net.kappa[-1] * E.residuals(net, rows)[-1]), axis=1)
    gn_ref = np.sqrt(sum(np.sum(g[m] ** 2, axis=1) for m in range(1, net.depth))) / scale
    np.testing.assert_allclose(gn_c, gn_ref, rtol=1e-6, atol=1e-14)
    ref = E.params_from_stress(net, rows, E.stress(net, rows), per_sample=False)
    np.testing.assert_allclose(plan.param_grad(cols, sig_c), ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_column_layout_operators_match_row_layout():
    from analogsim.model.graph.operators import AvgPool, Conv, Dense, Identity

    rng = np.random.default_rng(0)
    ops = [Conv((3, 7, 6), 4, 3, stride=2, padding=1, weight=rng.standard_normal((4, 3, 3, 3))),
           Conv((4, 9), 6, 3, dilation=2, groups=2, padding=2, weight=rng.standard_normal((6, 2, 3))),
           Conv((2, 5, 5), 2, (2, 3), stride=(1, 2), groups=2, weight=rng.standard_normal((2, 1, 2, 3))),
           Dense((3, 4), 5, weight=rng.standard_normal((5, 12))), AvgPool((2, 6, 6), 2),
           Identity((3,), (7,), offset=2), Identity((4,))]
    for op in ops:
        x, g = rng.standard_normal((5, op.n_in)), rng.standard_normal((5, op.n_out))
        xc, gc = np.ascontiguousarray(x.T), np.ascontiguousarray(g.T)
        np.testing.assert_allclose(op.forward_cols(xc).T, op.forward(x), rtol=0, atol=1e-13, err_msg=repr(op))
        np.testing.assert_allclose(op.adjoint_cols(gc).T, op.adjoint(g), rtol=0, atol=1e-13, err_msg=repr(op))
        if op.weight is not None:
            np.testing.assert_allclose(op.param_grad_cols(xc, gc), op.param_grad(x, g), rtol=0, atol=1e-12)


def test_training_presentations_match_the_reference_loop():
    """Five presentations of train() (column layout, shared passes) against a plain loop over the row-layout
    reference functions with the same draws: the parameters agree to 1e-12 relative and the books to 1e-9."""
    from analogsim.graph import energy as E
    from analogsim.model.hamiltonian import OutputClamp

    net, ds = digits_conv_net(small=True)
    X, T = ds.x_train[:64], ds.t_train[:64]
    kw = dict(mu=20.0, kT=1e-8, kappa_out=1e-3, batch_size=8, seed=2)
    res = train(net, X, T, presentations=5, n_records=1, **kw)
    ref = net.with_kappa([1.0, 1e-3])
    rng = np.random.default_rng(2)
    order = rng.permutation(64)
    e_old, W_sw = None, 0.0
    for s in range(5):
        idx = order[8 * s:8 * s + 8]
        x0, t = X[idx], T[idx]
        if e_old is not None:
            W_sw += float(np.mean(E.energy(ref, [x0] + xs[1:-1] + [t], OutputClamp(t)))) - e_old
        xs = fixed_point_minimum(ref, x0, t, tol=1e-10)[0]
        g = E.params_from_stress(ref, xs, E.stress(ref, xs), per_sample=False) / 8
        ref.theta += -kw["mu"] * g + np.sqrt(2 * kw["kT"] * kw["mu"]) * rng.standard_normal(ref.n_params)
        e_old = float(np.mean(E.energy(ref, xs, OutputClamp(t))))
    np.testing.assert_allclose(res.net.theta, ref.theta, rtol=0, atol=1e-12 * np.abs(ref.theta).max())
    assert abs(res.W_sw - W_sw) < 1e-9 * abs(W_sw)


def test_kept_gathers_give_the_same_numbers_and_follow_the_state():
    """ColumnPlan(keep_gathers=True) (a convolution's im2col kept per edge for the same state array) gives bit for bit
    the numbers of a plan that gathers every time, on a sequence of states and parameters; a new state array is
    gathered anew (negative control: the kept im2col of the old state gives other numbers)."""
    from analogsim.graph import energy as E

    net = _mixed_net()
    rng = np.random.default_rng(7)
    kept, plain = E.ColumnPlan(net, keep_gathers=True), E.ColumnPlan(net)
    for step in range(3):
        cols = [rng.standard_normal((n, 4)) for n in net.sizes]
        for rep in range(2):  # the second pass reuses the kept gathers (same arrays)
            Ik, Ip = kept.inputs(cols[0]), plain.inputs(cols[0])
            Hk, sk, _ = kept.evaluate(cols, Ik)
            Hp, sp, _ = plain.evaluate(cols, Ip)
            assert np.array_equal(Hk, Hp)
            assert np.array_equal(kept.param_grad(cols, sk), plain.param_grad(cols, sp))
        net.theta += 0.01 * rng.standard_normal(net.n_params)  # the same arrays under new parameters
        assert np.array_equal(kept.evaluate(cols, kept.inputs(cols[0]))[0],
                              plain.evaluate(cols, plain.inputs(cols[0]))[0])
    k = next(k for k, e in enumerate(net.edges) if e.op.kind == "conv" and net.src[k] != 0)
    m = int(net.src[k])
    stale = kept._gathered[k][1]
    fresh = cols[m] + 1.0
    assert not np.array_equal(net.edges[k].op.forward_cols(fresh, cols=stale), plain._forward(k, net.edges[k].op, fresh))
    assert np.array_equal(kept._forward(k, net.edges[k].op, fresh), plain._forward(k, net.edges[k].op, fresh))
