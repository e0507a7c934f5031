"""What a new user hits on the command line: one test (or a few) per numbered case.

Case 2: CSV/NPZ columns and sizes; 3: the slow default says so; 4: progress off a terminal, dry-run
estimates, long-run warnings; 5: a scheduler address that is not Dask; 6: output paths checked before
the run, results never lost; 7: memory estimates before allocation; 8: output channels and argument
parsing. Also: extending a finished run, the checkpoint lock, ``--model file.pt``.
Every network connection here is to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["--kappa-out", "1e-3", "--mu", "100", "--kT", "1e-6", "--seed", "3", "--no-progress"]
FAST = ["--data", "teacher", "--sizes", "3,8,1", "--n-train", "32", "--n-test", "16", *SETTINGS]


def _env(**extra):
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.update({k: str(v) for k, v in extra.items()})
    return e


def _cli(*args, timeout=300, cwd=None, **env):
    return subprocess.run([sys.executable, "-m", "analogsim.cli", *map(str, args)], env=_env(**env),
                          capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT)


class _Out:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _main(capsys, *args):
    """The command in this process (fast: no interpreter start-up); same exit code and output as the CLI."""
    from analogsim import cli

    capsys.readouterr()
    try:
        rc = cli.main([str(a) for a in args])
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    out = capsys.readouterr()
    return _Out(rc, out.out, out.err)


def _no_traceback(out):
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    T = np.stack([X.sum(1), X[:, 0] - X[:, 1]], 1) * 0.3
    np.savetxt(d / "two.csv", np.hstack([X, T]), delimiter=",", header="a,b,c,y1,y2", comments="")
    np.savetxt(d / "semi.csv", np.hstack([X, T]), delimiter=";")
    np.savez(d / "d.npz", x=X, t=T)
    np.savez(d / "named.npz", features=X, labels=T)
    return d


# ----------------------------------------------------------------------------- case 2: data columns and sizes
@pytest.mark.parametrize("extra, sizes", [
    (["--sizes", "3,8,2"], [3, 8, 2]),                  # was silently [4, 8, 1]
    (["--n-out", "2", "--width", "8"], [3, 8, 2]),      # --n-out was ignored
    (["--targets", "y1,y2", "--width", "8"], [3, 8, 2]),
    (["--inputs", "0-2", "--targets", "3,4", "--sizes", "3,8,2"], [3, 8, 2]),
])
def test_case2_csv_with_two_targets_trains_the_asked_problem(files, extra, sizes, capsys):
    out = _main(capsys, "train", *SETTINGS, "--data", files / "two.csv", *extra, "--presentations", "50", "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["net_sizes"] == sizes


@pytest.mark.parametrize("data, extra, needle", [
    ("d.npz", ["--sizes", "5,8,2"], "does not match the data"),        # was silently [3, 8, 2]
    ("two.csv", ["--sizes", "3,8,3"], "does not match the data"),
    ("two.csv", ["--n-in", "4", "--n-out", "2"], "--n-in 4 does not match"),
    ("two.csv", ["--targets", "y9"], "neither a 0-based column index"),
    ("two.csv", ["--inputs", "0-3", "--targets", "3,4"], "both inputs and targets"),
    ("d.npz", ["--delimiter", ";"], "--delimiter applies to .csv"),
])
def test_case2_sizes_or_columns_that_do_not_match_are_refused(files, data, extra, needle, capsys):
    out = _main(capsys, "train", *SETTINGS, "--data", files / data, *extra, "--presentations", "10")
    assert out.returncode == 2 and needle in out.stderr, out.stderr
    _no_traceback(out)


def test_case2_npz_array_names_and_csv_delimiter(files, capsys):
    a = _main(capsys, "train", *SETTINGS, "--data", files / "named.npz", "--inputs", "features", "--targets", "labels",
             "--width", "8", "--presentations", "20", "--json")
    assert a.returncode == 0, a.stderr
    assert json.loads(a.stdout)["net_sizes"] == [3, 8, 2]
    b = _main(capsys, "train", *SETTINGS, "--data", files / "semi.csv", "--delimiter", ";", "--n-out", "2",
              "--width", "8", "--presentations", "20", "--json")
    assert b.returncode == 0, b.stderr
    assert json.loads(b.stdout)["net_sizes"] == [3, 8, 2]


# ----------------------------------------------------------------------------- case 3: the slow default
def test_case3_hard_clamp_default_says_once_what_is_slow_and_flags_the_fallbacks(capsys):
    out = _main(capsys, "train", "--data", "teacher", "--sizes", "3,8,1", "--presentations", "30", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("--kappa-out") >= 1 and out.stderr.count("note: no --kappa-out") == 1
    assert re.search(r"100 ?%.*Newton fallback", out.stderr)
    assert re.search(r"fallback_fraction\s+1", out.stdout)
    fast = _main(capsys, "train", *FAST, "--presentations", "30")
    assert "note: no --kappa-out" not in fast.stderr and "fallback" not in fast.stderr


# ----------------------------------------------------------------------------- case 4: progress and estimates
def _lines_before_done(text, desc):
    stamp = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] " + re.escape(desc) + r": (.*)$")
    msgs = [m.group(1) for m in map(stamp.match, text.splitlines()) if m]
    assert msgs and msgs[0].startswith("started") and "compiles" in msgs[0], text
    assert msgs[-1].startswith("done"), text
    return msgs[1:-1]


def test_case4_train_prints_progress_lines_when_stderr_is_a_file(tmp_path, capsys):
    err = tmp_path / "err.txt"
    with open(err, "w") as fh:
        r = subprocess.run([sys.executable, "-m", "analogsim.cli", "train", *FAST[:-1], "--presentations", "20000"],
                           env=_env(ANALOGSIM_PROGRESS_INTERVAL=0.05),
                           stdout=subprocess.PIPE, stderr=fh, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0
    mid = _lines_before_done(err.read_text(), "train")
    assert any(re.match(r"\d+/20000 presentations \(\d+%\)", m) for m in mid), err.read_text()
    quiet = _main(capsys, "train", *FAST, "--presentations", "20")
    assert "train: started" not in quiet.stderr


def test_case4_sweep_prints_progress_lines_and_dry_run_estimates_time(tmp_path, capsys):
    cfg = tmp_path / "eq.toml"
    cfg.write_text('[experiment]\nkind = "equilibrium"\n[dynamics]\nkT = 0.1\nn_replicas = 16\n'
                   '[sweep]\nwidth = [2, 3]\n')
    dry = _main(capsys, "sweep", cfg, "--out", tmp_path / "r", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    est = json.loads(dry.stdout)["estimate"]
    assert est["compute_s"] > 0 and est["max_point_bytes"] > 0 and est["too_big"] == []
    err = tmp_path / "err.txt"
    with open(err, "w") as fh:
        r = subprocess.run([sys.executable, "-m", "analogsim.cli", "sweep", str(cfg), "--out", str(tmp_path / "r"),
                            "--workers", "1"], env=_env(ANALOGSIM_PROGRESS_INTERVAL=0.05), stdout=subprocess.PIPE,
                           stderr=fh, text=True, timeout=300, cwd=ROOT)
    assert r.returncode in (0, 1), err.read_text()
    mid = _lines_before_done(err.read_text(), "sweep")
    assert any(re.match(r"\d/2 points", m) for m in mid), err.read_text()


def test_case4_a_run_whose_size_implies_hours_is_warned_before_it_starts():
    proc = subprocess.Popen([sys.executable, "-m", "analogsim.cli", "train", *FAST, "--presentations", "1e15"],
                            env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        line = ""
        t0 = time.monotonic()
        while "warning" not in line and time.monotonic() - t0 < 120:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
        assert "needs at least about" in line and "years" in line, line
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(30)


# ----------------------------------------------------------------------------- case 5: not a Dask scheduler
class _Listener:
    """A TCP server on 127.0.0.1 that is not Dask: 'http' answers like a web server, 'silent' says nothing,
    'banner' speaks first."""

    def __init__(self, kind):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.kind = kind
        self.conns = []
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            if self.kind == "banner":  # speaks first, like an SSH server: once misread as a frame of exabytes
                try:
                    c.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
                except OSError:
                    pass
            if self.kind == "http":
                threading.Thread(target=self._http, args=(c,), daemon=True).start()

    @staticmethod
    def _http(c):
        try:
            c.settimeout(30)
            c.recv(4096)
            c.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("kind", ["silent", "http", "banner"])
def test_case5_sweep_to_a_listener_that_is_not_dask_fails_clearly_within_the_timeout(tmp_path, kind):
    cfg = tmp_path / "eq.toml"
    cfg.write_text('[experiment]\nkind = "equilibrium"\n[dynamics]\nkT = 0.1\n[sweep]\nwidth = [2]\n')
    srv = _Listener(kind)
    try:
        t0 = time.monotonic()
        out = _cli("sweep", cfg, "--out", tmp_path / "r", "--scheduler", f"tcp://127.0.0.1:{srv.port}",
                   "--connect-timeout", "1", timeout=120)
        took = time.monotonic() - t0
    finally:
        srv.close()
    assert out.returncode == 2, out.stderr
    assert "not a Dask scheduler" in out.stderr and "--connect-timeout" not in out.stdout
    _no_traceback(out)
    assert "MemoryError" not in out.stderr
    assert took < 60  # the process start-up included; the wait itself is bounded by --connect-timeout
    assert not (tmp_path / "r").exists()


def test_case5_validate_to_a_silent_listener_fails_clearly(tmp_path):
    srv = _Listener("silent")
    try:
        out = _cli("validate", "--claims", "stress", "--out", tmp_path / "rep", "--scheduler",
                   f"tcp://127.0.0.1:{srv.port}", timeout=180)
    finally:
        srv.close()
    assert out.returncode == 2, out.stderr
    assert "not a Dask scheduler" in out.stderr
    _no_traceback(out)


# ----------------------------------------------------------------------------- case 6: output paths
@pytest.mark.parametrize("cmd, opt", [("train", "--out"), ("relax", "--save"), ("train", "--checkpoint")])
@pytest.mark.parametrize("where, needle", [("folder", "is a folder"), ("missing", "does not exist"),
                                           ("under_a_file", "is not a folder")])
def test_case6_unwritable_output_is_refused_before_the_run(tmp_path, cmd, opt, where, needle, capsys):
    (tmp_path / "afile").write_text("x")
    target = {"folder": tmp_path, "missing": tmp_path / "nope" / "o.npz",
              "under_a_file": tmp_path / "afile" / "o.npz"}[where]
    args = [*FAST, "--presentations", "200"] if cmd == "train" else ["--kT", "0.1", "--n-steps", "200"]
    out = _main(capsys, cmd, *args, opt, target)
    assert out.returncode == 2 and f"{opt} {str(target)!r}" in out.stderr and needle in out.stderr, out.stderr
    assert "progress" not in out.stderr and out.stdout == ""  # refused before the run: nothing ran
    _no_traceback(out)


def test_case6_a_finished_result_is_kept_when_its_write_fails(tmp_path, monkeypatch, capsys):
    from analogsim.cli import _common

    def boom(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("analogsim._io.atomic_write_bytes", boom)
    monkeypatch.chdir(tmp_path)
    where, err = _common.write_or_rescue(tmp_path / "out.npz", b"result", "--out")
    assert err and Path(where).read_bytes() == b"result" and "analogsim-rescued" in where
    assert where in capsys.readouterr().err


# ----------------------------------------------------------------------------- case 7: memory before allocation
@pytest.mark.parametrize("args, needle", [
    (["train", *FAST, "--sizes", "100000,100000,1"], "--sizes: training a network"),
    (["train", *FAST, "--sizes", "4,9223372036854775807,1"], "must be a layer width from 1 to"),
    (["relax", "--kT", "0.1", "--replicas", "10000000000"], "--replicas:"),
    (["relax", "--kT", "0.1", "--tau", "1e12"], "--tau:"),
])
def test_case7_sizes_that_cannot_fit_are_refused_with_setting_estimate_and_available_memory(args, needle, capsys):
    out = _main(capsys, *args)
    assert out.returncode == 2 and needle in out.stderr, out.stderr
    if "width from 1" not in needle:
        assert re.search(r"would need about [\d.e+]+ [kMGT]?B.*available \([\d.e+]+ [kMGT]?B\)", out.stderr)
    _no_traceback(out)


def test_case7_sweep_dry_run_refuses_a_point_that_cannot_fit(tmp_path, capsys):
    cfg = tmp_path / "big.toml"
    cfg.write_text('[experiment]\nkind = "train"\n[dynamics]\nkT = 0.0\n[training]\nkappa_out = 1e-3\n'
                   '[sweep]\nwidth = [4, 4000000000]\n')
    out = _main(capsys, "sweep", cfg, "--out", tmp_path / "r", "--dry-run")
    assert out.returncode == 2 and "TOOBIG" in out.stdout and "cannot fit in memory" in out.stderr, out.stderr
    run = _main(capsys, "sweep", cfg, "--out", tmp_path / "r", "--no-progress")
    assert run.returncode == 2 and "network.width" in run.stderr and not (tmp_path / "r").exists(), run.stderr


# ----------------------------------------------------------------------------- case 8: channels and parsing
def test_case8_train_summary_on_stdout_and_diverged_json_on_stdout(capsys):
    out = _main(capsys, "train", *FAST, "--presentations", "50")
    assert out.returncode == 0 and "final_train_loss" in out.stdout and "final_train_loss" not in out.stderr
    bad = _main(capsys, "train", *FAST, "--mu", "1e9", "--presentations", "50", "--json")
    assert bad.returncode == 3, bad.stderr
    s = json.loads(bad.stdout)
    assert s["status"] == "diverged" and s["step"] >= 0 and "reduce mu" in s["cause"]


@pytest.mark.parametrize("args, needle", [
    (["relax", "--kT", "-1e-6"], "kT must be >= 0"),
    (["check-stress", "--ratios", "-1,0"], "--ratios must be finite numbers > 0"),
    (["train", *FAST, "--presentations", "1.5"], "expected a whole number"),
])
def test_case8_negative_numbers_are_values_then_validated(args, needle, capsys):
    out = _main(capsys, *args)
    assert out.returncode == 2 and needle in out.stderr and "expected one argument" not in out.stderr, out.stderr


def test_case8_presentations_in_exponent_notation_are_an_integer(capsys):
    out = _main(capsys, "train", *FAST, "--presentations", "1e2", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["presentations"] == 100


def test_case8_config_kinds(tmp_path, capsys):
    no_kind = tmp_path / "nokind.toml"
    no_kind.write_text('[network]\nsizes = [2, 4, 1]\n[dynamics]\nkT = 0.1\n')
    out = _main(capsys, "relax", "--config", no_kind)
    assert out.returncode == 2 and 'kind = "relax"' in out.stderr and '"stress"' not in out.stderr, out.stderr
    relax_cfg = tmp_path / "relax.toml"
    relax_cfg.write_text('[experiment]\nkind = "relax"\n[network]\nsizes = [2, 4, 1]\n[dynamics]\nkT = 0.1\n')
    out = _main(capsys, "train", "--config", relax_cfg, "--no-progress")
    assert out.returncode == 2 and "kind = 'relax'" in out.stderr and "analogsim relax" in out.stderr, out.stderr


def test_case8_help_has_no_rest_markup(capsys):
    for cmd in ("train", "relax", "sweep", "check-stress"):
        out = _main(capsys, cmd, "--help")
        assert out.returncode == 0
        assert "``" not in out.stdout and not re.search(r":(mod|func|class):`", out.stdout), (cmd, out.stdout)


def test_case8_relax_speed_excludes_compilation_and_low_ess_jarzynski_is_flagged(capsys):
    out = _main(capsys, "relax", "--sizes", "1,4,4,1", "--kT", "0.01", "--tau", "64", "--x0", "-1", "--x1", "1",
               "--integrator", "mala", "--json", "--no-progress")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["compile_s"] >= 0 and s["steps_per_s"] == pytest.approx(s["n_steps"] / s["wall_s"])
    assert s["jarzynski"]["ess"] < 25 and s["jarzynski"]["usable"] is False
    assert "effective sample size" in out.stderr


# ----------------------------------------------------------------------------- expected and missing
def test_a_finished_run_is_extended_to_more_presentations(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    a = _main(capsys, "train", *FAST, "--presentations", "200", "--checkpoint", ck, "--json")
    assert a.returncode == 0, a.stderr
    b = _main(capsys, "train", *FAST, "--presentations", "400", "--checkpoint", ck, "--json")
    assert b.returncode == 0, b.stderr
    ref = _main(capsys, "train", *FAST, "--presentations", "400", "--json")
    sb, sr = json.loads(b.stdout), json.loads(ref.stdout)
    assert sb["resumed_from"] == 200 and sb["theta_sha256"] == sr["theta_sha256"]
    assert sb["books"]["W"] == pytest.approx(sr["books"]["W"], rel=1e-12)
    c = _main(capsys, "train", *FAST, "--presentations", "400", "--mu", "50", "--checkpoint", ck)
    assert c.returncode == 2 and "config.mu: checkpoint 100.0, now 50.0" in c.stderr, c.stderr


def test_two_runs_cannot_share_one_checkpoint(tmp_path, capsys):
    from analogsim.data.checkpoint import CheckpointLock

    ck = tmp_path / "ck.npz"
    with CheckpointLock(ck):
        out = _main(capsys, "train", *FAST, "--presentations", "50", "--checkpoint", ck)
    assert out.returncode == 2 and "in use by another run" in out.stderr, out.stderr
    after = _main(capsys, "train", *FAST, "--presentations", "50", "--checkpoint", ck)
    assert after.returncode == 0, after.stderr


def test_model_file_on_the_command_line(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    torch.save(model, tmp_path / "m.pt")
    torch.save(model.state_dict(), tmp_path / "sd.pt")
    a = _main(capsys, "train", *FAST, "--model", tmp_path / "m.pt", "--presentations", "50", "--json")
    b = _main(capsys, "train", *FAST, "--model", tmp_path / "sd.pt", "--presentations", "50", "--json")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    sa, sb = json.loads(a.stdout), json.loads(b.stdout)
    assert sa["net_sizes"] == [3, 8, 1] and sa["theta_sha256"] == sb["theta_sha256"]

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    c = _main(capsys, "train", *FAST, "--model", tmp_path / "evil.pt", "--presentations", "10")
    assert c.returncode == 2 and "cannot be read safely" in c.stderr and not (tmp_path / "pwned").exists()
