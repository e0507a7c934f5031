"""Shared test helpers: a tally of the reliability figures, printed at the end of the run.

No global RNG seeding here: every test seeds what it uses.
"""

from __future__ import annotations

from collections import defaultdict

import pytest


class ReliabilityTally:
    """Distinct cases tried / passed per category (bad input, kill points, determinism checks)."""

    def __init__(self):
        self.tried = defaultdict(set)
        self.passed = defaultdict(set)

    def attempt(self, category: str, case) -> None:
        self.tried[category].add(repr(case))

    def ok(self, category: str, case) -> None:
        self.tried[category].add(repr(case))
        self.passed[category].add(repr(case))


_TALLY = ReliabilityTally()


@pytest.fixture(scope="session")
def tally() -> ReliabilityTally:
    return _TALLY


def pytest_terminal_summary(terminalreporter):
    if not _TALLY.tried:
        return
    terminalreporter.section("reliability figures (distinct cases: passed / tried)")
    for cat in sorted(_TALLY.tried):
        terminalreporter.write_line(f"{cat}: {len(_TALLY.passed[cat])} / {len(_TALLY.tried[cat])}")
