"""The entry point turns failures no estimate foresaw into one line and an exit code, never a traceback."""

from __future__ import annotations

import io

from analogsim import cli


def _run_with(monkeypatch, capsys, exc):
    def boom(args):
        raise exc

    import analogsim.cli.check_stress as command

    monkeypatch.setattr(command, "run", boom)  # add_parser reads `run` when main() builds the parser
    code = cli.main(["check-stress"])
    return code, capsys.readouterr()


def test_memory_error_is_a_message_not_a_traceback(monkeypatch, capsys):
    code, out = _run_with(monkeypatch, capsys, MemoryError("Unable to allocate 3.07 EiB"))
    assert code == cli.EXIT_RUNTIME
    assert "out of memory" in out.err and "Traceback" not in out.err
    assert "lower the sizes" in out.err


def test_broken_pipe_exits_quietly(monkeypatch, capsys):
    code, out = _run_with(monkeypatch, capsys, BrokenPipeError())
    assert code == cli.EXIT_OK
    assert "Traceback" not in out.err and "Broken pipe" not in out.err


def test_top_level_help_example_uses_the_fast_path(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert "--kappa-out" in cli.EPILOG.split("analogsim train", 1)[1].splitlines()[0]


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`analogsim bounds table1 | head -1`: the closed pipe surfaces at the final flush, quietly."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # block-buffered, as in a shell pipe
    proc = subprocess.Popen([sys.executable, "-m", "analogsim.cli", "bounds", "table1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader leaves before the command writes (it is still importing)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err
