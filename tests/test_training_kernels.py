"""The fixed point's vectorised activation passes against the element-by-element path they replace.

``clamped_min`` (analogsim.kernels.train) updates f(y) and f'(y) of a layer block in one pass: the first sweep by
the branch-free tanh/sigmoid (:func:`_act_block`), the later sweeps by a second-order Taylor step once a
vectorised check has seen every pre-activation move by at most d_max (:func:`_moved_block`); a block with a
larger or non-finite move is left to the element-by-element loop.
"""

from __future__ import annotations

import numpy as np
import pytest

from analogsim.kernels.train import IDENTITY, RELU, SIGMOID, SOFTPLUS, TANH, _act, _act_block, _moved_block

CODES = {"tanh": TANH, "sigmoid": SIGMOID, "identity": IDENTITY, "relu": RELU, "softplus": SOFTPLUS}


def _scalar(code, y):
    out = np.array([_act(code, float(v)) for v in y])
    return out[:, 0], out[:, 1]


@pytest.mark.parametrize("name", list(CODES))
def test_block_activation_matches_the_scalar_one(name):
    code = CODES[name]
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.normal(scale=3.0, size=997), [0.0, -0.0, 0.6249, 0.625, -0.625, 21.9, 22.1, -40.0, 1e-9]])
    f, fp = np.empty_like(y), np.empty_like(y)
    _act_block(code, y, f, fp)
    f0, fp0 = _scalar(code, y)
    # float64: within 4e-16 of libm's tanh (measured 4.0e-16), and f' = 1 - f^2 from that f
    assert np.allclose(f, f0, rtol=1e-15, atol=1e-300), np.max(np.abs(f - f0) / np.abs(f0).clip(1e-300))
    assert np.allclose(fp, fp0, rtol=1e-14, atol=1e-16)
    if name == "tanh":
        assert np.max(np.abs(f - np.tanh(y)) / np.abs(np.tanh(y)).clip(1e-300)) < 5e-16


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_block_activation_float32(dtype):
    y = np.random.default_rng(1).normal(scale=2.0, size=513).astype(dtype)
    f, fp = np.empty_like(y), np.empty_like(y)
    _act_block(TANH, y, f, fp)
    assert np.allclose(f, np.tanh(y.astype(np.float64)), rtol=2 * np.finfo(dtype).eps, atol=0)


def _taylor(code, yn, y, f0, fp0):
    d = yn - y
    if code == TANH:
        f = f0 + fp0 * d * (1.0 - f0 * d)
        return f, 1.0 - f * f
    f = f0 + fp0 * d * (1.0 + 0.5 * (1.0 - 2.0 * f0) * d)
    return f, f * (1.0 - f)


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_moved_block_takes_the_taylor_step_when_every_move_is_small(name):
    code = CODES[name]
    rng = np.random.default_rng(2)
    y = rng.normal(size=300)
    dmax = 1e-4
    yn = y + rng.uniform(-dmax, dmax, size=y.size)
    f0, fp0 = _scalar(code, y)
    yv, fv, pv = y.copy(), f0.copy(), fp0.copy()
    assert _moved_block(code, yn, yv, fv, pv, dmax)
    ft, fpt = _taylor(code, yn, y, f0, fp0)
    assert np.array_equal(yv, yn)
    assert np.allclose(fv, ft, rtol=1e-15, atol=1e-300) and np.allclose(pv, fpt, rtol=1e-14, atol=1e-300)
    f1, _ = _scalar(code, yn)  # and the step is exact to the fixed point's tolerance (error ~ d^3)
    assert np.max(np.abs(fv - f1)) < dmax ** 3


@pytest.mark.parametrize("bad", [2e-4, np.nan, np.inf])
def test_moved_block_leaves_a_large_or_non_finite_move_to_the_exact_path(bad):
    y = np.linspace(-1.0, 1.0, 64)
    yn = y + 1e-5
    yn[37] = y[37] + bad  # negative control: one element past d_max (or not finite) sends the block back
    f0, fp0 = _scalar(TANH, y)
    yv, fv, pv = y.copy(), f0.copy(), fp0.copy()
    assert not _moved_block(TANH, yn, yv, fv, pv, 1e-4)
    assert np.array_equal(yv, y) and np.array_equal(fv, f0) and np.array_equal(pv, fp0)  # nothing written


@pytest.mark.parametrize("name", ["identity", "relu", "softplus"])
def test_moved_block_only_for_tanh_and_sigmoid(name):
    y = np.zeros(8)
    assert not _moved_block(CODES[name], y + 1e-9, y.copy(), y.copy(), y.copy(), 1e-4)
