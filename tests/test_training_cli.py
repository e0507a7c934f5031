"""``analogsim train`` on the command line: flags, config files, JSON summary, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE = ["--data", "teacher", "--sizes", "3,8,1", "--kappa-out", "1e-3", "--mu", "100", "--kT", "1e-6",
        "--weight-decay", "1e-5", "--seed", "3", "--n-train", "64", "--n-test", "32"]


def _env():
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "analogsim.cli", "train", *map(str, args)], env=_env(),
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_cli_json_summary_equals_the_python_api():
    out = _cli(*BASE, "--presentations", "3000", "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["presentations"] == 3000 and s["n_params"] == 41 and s["books"]["W"] > 0
    from analogsim.cli.train import build
    from analogsim.training import train

    params = {"source": "teacher", "sizes": [3, 8, 1], "n_train": 64, "n_test": 32, "noise": 0.1,
              "teacher_width": 8, "activation": "tanh", "output_activation": "identity", "input_scale": 1.0,
              "kappa": 1.0, "kappa_ratio": None, "init": "he", "dtype": "float64"}
    net, ds, run_seed = build(params, 3)
    res = train(net, ds, seed=run_seed, presentations=3000, mu=100.0, kappa_out=1e-3, kT=1e-6, weight_decay=1e-5)
    assert res.summary()["theta_sha256"] == s["theta_sha256"]


def test_cli_config_file_flags_override_and_out_file(tmp_path):
    cfg = tmp_path / "exp.toml"
    cfg.write_text('[experiment]\nkind = "train"\nseed = 3\n[network]\nsizes = [3, 8, 1]\n'
                   '[data]\nn_train = 64\nn_test = 32\n[dynamics]\nkT = 1e-6\n'
                   '[training]\nmu = 50.0\nkappa_out = 1e-3\nweight_decay = 1e-5\npresentations = 3000\n')
    a = _cli("--config", cfg, "--mu", "100", "--json", "--out", tmp_path / "r.npz")
    b = _cli(*BASE, "--presentations", "3000", "--json")
    assert a.returncode == 0, a.stderr
    assert json.loads(a.stdout)["theta_sha256"] == json.loads(b.stdout)["theta_sha256"]
    with np.load(tmp_path / "r.npz", allow_pickle=False) as z:
        assert z["theta"].shape == (41,) and z["records_train_loss"].ndim == 1
    cfg.write_text(cfg.read_text() + "[sweep]\nkT = [1e-6, 1e-5]\n")
    c = _cli("--config", cfg)
    assert c.returncode == 2 and "analogsim sweep" in c.stderr


@pytest.mark.parametrize("args, needle", [
    (["--mu", "-1"], "mu must be > 0"),
    (["--kT=-0.1"], "kT must be a finite temperature >= 0"),
    (["--kT", "1e-3", "--kT-end=-1e-3", "--schedule", "linear"], "schedule.end"),
    (["--data", "nothere.npz"], "does not exist"),
])
def test_cli_bad_input_exits_2_with_a_message(args, needle):
    out = _cli(*BASE, "--presentations", "10", *args)
    assert out.returncode == 2 and needle in out.stderr, out.stderr


def test_kill_9_during_training_then_resume_gives_identical_numbers(tmp_path):
    """SIGKILL a `python -m analogsim.cli train` run after it wrote a checkpoint; the same command resumes
    and ends with the parameters and books of an uninterrupted run."""
    S = "400000"
    ck = tmp_path / "ck.npz"
    cmd = [sys.executable, "-m", "analogsim.cli", "train", *BASE, "--presentations", S, "--checkpoint", str(ck),
           "--checkpoint-every", "5000", "--json"]
    proc = subprocess.Popen(cmd, env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    t0 = time.monotonic()
    try:
        while not ck.exists():
            assert proc.poll() is None, "the run finished before its first checkpoint"
            assert time.monotonic() - t0 < 120
            time.sleep(0.01)
        time.sleep(0.2)
        assert proc.poll() is None, "the run finished before it could be killed; make it longer"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    from analogsim.data.checkpoint import load_checkpoint

    s_kill = load_checkpoint(ck, kind="train")[1]["s"]
    assert 0 < s_kill < int(S)
    resumed = _cli(*cmd[4:])
    assert resumed.returncode == 0, resumed.stderr
    r = json.loads(resumed.stdout)
    assert r["resumed_from"] >= s_kill
    ref = json.loads(_cli(*BASE, "--presentations", S, "--json").stdout)
    assert r["theta_sha256"] == ref["theta_sha256"]
    assert r["books"] == ref["books"] and r["final_test_loss"] == ref["final_test_loss"]
