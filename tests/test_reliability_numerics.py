"""Divergence and numerical faults: an unstable time step, exploding weights at a high learning rate,
overflow in float32. Each must be stopped with the step, the cause and a suggested fix, and the last good
state must be kept (the returned state of a non-throwing run, the checkpoint of a training run).
"""

from __future__ import annotations

import numpy as np
import pytest

from analogsim import Network
from analogsim.errors import DivergenceError


def _tanh_net(dtype="float64"):
    return Network.create([3, 8, 2], activations="tanh", kappa=1.0, seed=0, dtype=dtype)


# ============================================================================ Langevin relaxation
def test_unstable_dt_is_refused_before_any_step(tally):
    from analogsim.inference.simulate import relax

    with pytest.raises(ValueError) as ei:
        relax(_tanh_net(), [0.1, 0.2, 0.3], kT=0.01, dt=5.0, n_steps=10, n_replicas=4, seed=1)
    msg = str(ei.value)
    assert "dt = 5" in msg and "unstable" in msg and "dt <=" in msg  # the cause and a safe value
    tally.ok("numerical faults stopped", "relax: unstable dt refused")


@pytest.mark.parametrize("dtype, dt", [("float64", 50.0), ("float32", 5.0)])
def test_divergence_stops_with_step_cause_and_fix(tally, dtype, dt):
    from analogsim.inference.simulate import relax

    net = _tanh_net(dtype)
    kw = dict(kT=0.01, dt=dt, n_steps=400, n_replicas=4, seed=1, stability="off")
    with pytest.raises(DivergenceError) as ei:
        relax(net, [0.1, 0.2, 0.3], **kw)
    exc = ei.value
    assert 0 < exc.step < 400
    assert f"step {exc.step}" in str(exc) and "reduce dt" in exc.cause  # where, why, what to do
    res = relax(net, [0.1, 0.2, 0.3], throw=False, **kw)  # the same run, not raising
    assert res.status == "diverged" and res.diverged_step == exc.step
    tally.ok("numerical faults stopped", f"relax: divergence ({dtype})")


@pytest.mark.parametrize("dtype, dt", [("float64", 50.0), ("float32", 5.0)])
def test_diverged_run_returns_its_last_finite_state(tally, dtype, dt):
    from analogsim.inference.simulate import relax

    res = relax(_tanh_net(dtype), [0.1, 0.2, 0.3], kT=0.01, dt=dt, n_steps=400, n_replicas=4, seed=1,
                stability="off", throw=False)
    assert res.status == "diverged"
    assert all(np.all(np.isfinite(x)) for x in res.xs)  # the last good state is what comes back
    tally.ok("numerical faults stopped", f"relax: last finite state kept ({dtype})")


def test_runaway_energy_is_not_reported_ok():
    from analogsim.inference.simulate import relax

    res = relax(_tanh_net(), [0.1, 0.2, 0.3], kT=0.01, dt=2.5, n_steps=200, n_replicas=4, seed=1,
                stability="off", throw=False)
    assert not (res.status == "ok" and np.max(res.energy_end) > 1e30)


# ============================================================================ training
def _data(n=32, outlier_at=None, outlier=1e200):
    from analogsim.data import teacher_student

    ds = teacher_student(n_in=3, n_out=1, n_train=n, n_test=16, seed=0)
    t = ds.t_train.copy()
    if outlier_at is not None:
        t[outlier_at] = outlier
    return ds.x_train, t, ds.x_test, ds.t_test


def _train_net(dtype="float64"):
    return Network.create([3, 8, 1], activations=["tanh", "identity"], kappa=1.0, seed=1, dtype=dtype)


def test_training_blowup_keeps_the_last_good_checkpoint(tally, tmp_path):
    """A wild entry (target 1e200) presented at s = 20 blows the parameters up; the run stops there."""
    from analogsim.data.checkpoint import load_checkpoint
    from analogsim.training import train

    net = _train_net()
    theta0 = net.theta.copy()
    ck = tmp_path / "ck.npz"
    kw = dict(presentations=64, mu=10.0, tau_inf=1.0, kappa_out=1e-3, kT=1e-6, order="cyclic", seed=3,
              checkpoint=ck, checkpoint_every=5)
    with pytest.raises(DivergenceError) as ei:
        train(net, _data(outlier_at=20), **kw)
    exc = ei.value
    assert 20 <= exc.step <= 22 and str(exc.step) in str(exc) and exc.cause
    arrays, meta = load_checkpoint(ck, kind="train")
    assert meta["s"] == 20 and np.all(np.isfinite(arrays["theta"]))  # the last good state, before the entry
    assert np.array_equal(net.theta, theta0)  # the caller's net is untouched
    snapshot = ck.read_bytes()
    with pytest.raises(DivergenceError) as again:  # a resume meets the same entry at the same step ...
        train(net, _data(outlier_at=20), **kw)
    assert again.value.step == exc.step
    assert ck.read_bytes() == snapshot  # ... and never overwrites the good checkpoint
    tally.ok("numerical faults stopped", "train: blow-up keeps last good checkpoint")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_overflowing_parameter_step_is_stopped(tally, dtype):
    from analogsim.training import train

    mu = 1e15 if dtype == "float32" else 1e25
    with pytest.raises(DivergenceError) as ei:
        train(_train_net(dtype), _data(), presentations=50, mu=mu, tau_inf=1.0, kappa_out=1e-3, kT=0.0, seed=2)
    exc = ei.value
    assert exc.step == 1 and "presentation 1" in str(exc)
    assert "reduce mu*tau_inf" in exc.cause  # the cause and the fix
    tally.ok("numerical faults stopped", f"train: overflow ({dtype})")


def test_exploding_weights_at_high_learning_rate_are_stopped(tally):
    """Learning rate mu*tau_inf*kappa_out = 10: the loss runs away from 2.1 towards 1e4-1e5 and |theta| grows."""
    from analogsim.training import train

    with pytest.raises(DivergenceError) as ei:
        train(_train_net(), _data(n=64), presentations=200, mu=1e4, tau_inf=1.0, kappa_out=1e-3, kT=0.0, seed=2,
              eval_every=20)
    assert 0 < ei.value.step <= 200 and "mu" in ei.value.cause
    tally.ok("numerical faults stopped", "train: exploding weights at high learning rate")


def test_divergence_at_high_learning_rate_names_the_learning_rate(tally):
    from analogsim.training import train

    with pytest.raises(DivergenceError) as ei:
        train(_train_net(), _data(), presentations=50, mu=1e15, tau_inf=1.0, kappa_out=1e-3, kT=0.0, seed=2)
    assert "mu" in ei.value.cause
    tally.ok("numerical faults stopped", "train: divergence names the learning rate")


def test_a_diverged_sweep_point_records_the_suggested_fix(tally):
    from analogsim.sweeps.engine_tasks import train_task
    from analogsim.sweeps.worker import run_point

    params = dict(source="teacher", n_in=3, n_out=1, width=8, depth=2, activation="tanh",
                  output_activation="identity", kappa=1.0, kappa_ratio=None, init="he", bias_scale=0.0,
                  dtype="float64", n_train=16, n_test=8, noise=0.1, teacher_width=4, input_scale=1.0, kT=0.0,
                  presentations=20, mu=1e25, tau_inf=1.0, kappa_out=1e-3, weight_decay=0.0, order="iid",
                  batch_size=1, fidelity="separated", substeps=None, sizes=None)
    rec = run_point(train_task, params, 5)
    assert rec["status"] == "failed" and "DivergenceError" in rec["error"]
    assert "reduce" in rec["error"]
    tally.ok("numerical faults stopped", "sweep: diverged point records the fix")


def test_the_command_line_prints_the_suggested_fix(monkeypatch, capsys):
    from analogsim import cli
    from analogsim.cli import validate

    def boom(args):
        raise DivergenceError("non-finite state at step 17", step=17, cause="reduce dt below 0.05")

    monkeypatch.setattr(validate, "run", boom)
    assert cli.main(["validate", "--claims", "stress"]) == 3
    err = capsys.readouterr().err
    assert "step 17" in err and "reduce dt below 0.05" in err


# ============================================================================ float32 overflow in sampling
def test_float32_overflow_in_the_sampler_is_reported():
    from analogsim import sample_equilibrium

    net = Network.create([3, 8, 2], activations="identity", kappa=1.0, seed=0, dtype="float32")
    with pytest.raises(DivergenceError) as ei:
        sample_equilibrium(net, [3e38, 3e38, 3e38], 0.1, n_replicas=4, seed=0)
    assert "float64" in ei.value.cause
