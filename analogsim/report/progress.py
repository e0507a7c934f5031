"""One progress reporter for every long command: a bar on a terminal, timestamped lines elsewhere.

On a terminal (stderr is a TTY) :class:`Progress` draws a tqdm bar. When stderr is a file or a pipe
(batch jobs, ``nohup``, CI) it prints a line when the work starts, one every ``interval`` seconds while
it runs (from a background thread, so a long first call — numba compiling its kernels — is not silent
either) and one at the end::

    [2026-12-05 19:50:01] train: started, 100000 presentations (first call compiles the numba kernels, ~1 min)
    [2026-12-05 19:50:31] train: 12000/100000 presentations (12%), 30 s elapsed, ~220 s left
    [2026-12-05 19:54:12] train: done, 100000/100000 presentations in 251 s

``enabled=False`` (the commands' ``--no-progress``) prints nothing. The line interval is 30 s by default
and may be set with the environment variable ``ANALOGSIM_PROGRESS_INTERVAL`` (seconds).

Examples
--------
>>> import io
>>> buf = io.StringIO()
>>> with Progress(total=3, desc="demo", unit="pt", stream=buf, interval=1e9) as p:
...     p.update(3)
>>> "demo: done, 3/3 pt" in buf.getvalue()
True
"""

from __future__ import annotations

import os
import sys
import threading
import time

__all__ = ["Progress", "default_interval", "warn_long_run", "format_seconds"]

_COMPILE_NOTE = "first call compiles the numba kernels (cached on disk afterwards)"


def default_interval() -> float:
    """Seconds between progress lines off a terminal: ``ANALOGSIM_PROGRESS_INTERVAL`` or 30.

    Examples
    --------
    >>> default_interval() > 0
    True
    """
    try:
        v = float(os.environ.get("ANALOGSIM_PROGRESS_INTERVAL", "30"))
    except ValueError:
        return 30.0
    return v if v > 0 else 30.0


def format_seconds(s: float) -> str:
    """A duration for people: '42 s', '12 min', '3.5 h', '40 days', '3e+05 years'.

    Examples
    --------
    >>> format_seconds(42.0), format_seconds(720.0), format_seconds(12600.0)
    ('42 s', '12 min', '3.5 h')
    """
    s = float(s)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    if s < 365 * 86400:
        return f"{s / 86400:.0f} days"
    return f"{s / (365 * 86400):.2g} years"


def warn_long_run(what: str, seconds: float, how_to_shorten: str, *, stream=None, threshold: float = 3600.0) -> bool:
    """Print one warning line when a run's estimated duration exceeds ``threshold`` seconds.

    Returns whether it warned. The estimate is a lower bound from a measured or typical step cost.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> warn_long_run("relax", 7200.0, "lower --tau", stream=buf)
    True
    >>> "2.0 h" in buf.getvalue()
    True
    """
    if not (seconds > threshold):
        return False
    stream = sys.stderr if stream is None else stream
    print(f"analogsim {what}: warning: this run needs at least about {format_seconds(seconds)} "
          f"({how_to_shorten}; Ctrl-C stops it)", file=stream, flush=True)
    return True


class Progress:
    """Progress of one long piece of work (see the module docstring).

    Parameters
    ----------
    total : int, optional
        Units of work; None when unknown (lines then report the elapsed time only).
    desc : str
        What runs ('train', 'sweep', ...); starts every line.
    unit : str
        Name of a unit of work ('presentations', 'pt', ...).
    enabled : bool, optional
        False: silent. None or True: a bar on a terminal, lines otherwise.
    initial : int
        Units already done (a resumed run).
    interval : float, optional
        Seconds between lines off a terminal (default :func:`default_interval`).
    stream : file, optional
        Where to write (default ``sys.stderr``, looked up when the reporter is made).
    compile_note : bool
        Say in the first line that the first call compiles the numba kernels.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> p = Progress(total=10, desc="x", stream=buf, interval=1e9)
    >>> p.update(4); p.close()
    >>> "x: started" in buf.getvalue() and "4/10" in buf.getvalue()
    True
    """

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it", *, enabled: bool | None = None,
                 initial: int = 0, interval: float | None = None, stream=None, compile_note: bool = False):
        self.total = None if total is None else int(total)
        self.desc, self.unit = desc, unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled is not False
        self.n = int(initial)
        self.initial = int(initial)
        self.t0 = time.monotonic()
        self.interval = default_interval() if interval is None else float(interval)
        self._bar = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self._closed = False
        if not self.enabled:
            return
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if tty:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, initial=self.initial, desc=desc, unit=unit, file=self.stream,
                             leave=False, dynamic_ncols=True)
            if compile_note:
                self._bar.write(f"{desc}: {_COMPILE_NOTE}", file=self.stream)
            return
        what = f", {self.total} {unit}" if self.total is not None else ""
        resumed = f", {self.initial} already done" if self.initial else ""
        note = f"; {_COMPILE_NOTE}" if compile_note else ""
        self._line(f"started{what}{resumed}{note}")
        self._thread = threading.Thread(target=self._beat, name=f"analogsim-progress-{desc}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ lines
    def _line(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            print(f"[{stamp}] {self.desc}: {text}", file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed or broken stream must not break the run
            pass

    def _status(self) -> str:
        el = time.monotonic() - self.t0
        if self.total is None:
            return f"{self.n} {self.unit}, {format_seconds(el)} elapsed" if self.n else \
                f"running, {format_seconds(el)} elapsed"
        pct = 100.0 * self.n / self.total if self.total else 100.0
        left = ""
        done_here = self.n - self.initial
        if 0 < done_here and self.n < self.total:
            left = f", ~{format_seconds(el / done_here * (self.total - self.n))} left"
        return f"{self.n}/{self.total} {self.unit} ({pct:.0f}%), {format_seconds(el)} elapsed{left}"

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if self._closed:
                    return
                self._line(self._status())

    # ------------------------------------------------------------------ interface
    def update(self, n: int = 1) -> None:
        """Add ``n`` finished units."""
        with self._lock:
            self.n += int(n)
        if self._bar is not None:
            self._bar.update(n)

    def set(self, done: int) -> None:
        """Set the number of finished units."""
        self.update(int(done) - self.n)

    def __call__(self, done: int, total: int | None = None) -> None:
        """``progress(done, total)`` callback form (used by :func:`analogsim.training.train`)."""
        if total is not None:
            self.total = int(total)
        self.set(done)

    def note(self, text: str) -> None:
        """Print one message without breaking the bar."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(f"{self.desc}: {text}", file=self.stream)
        else:
            self._line(text)

    def close(self, ok: bool = True) -> None:
        """Stop the line thread and write the final line (or remove the bar); ``ok=False``: 'stopped'."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            el = format_seconds(time.monotonic() - self.t0)
            if self.total is not None:
                what = f", {self.n}/{self.total} {self.unit}"
            else:
                what = f", {self.n} {self.unit}" if self.n else ""
            self._line(f"{'done' if ok else 'stopped'}{what} in {el}")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(ok=exc_type is None)
