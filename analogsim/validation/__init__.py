"""The validation report: one module per claim of the paper, each measuring, judging and plotting.

Every claim module defines ``NAME``, ``TITLE``, ``STATEMENT`` (what the paper says) and
``run(ctx) -> ClaimResult``. A criterion is a measured number with its uncertainty against an explicit
threshold; the claim's verdict is "pass" only if every criterion passes. The pure ``judge_*`` functions
of each module turn measurements into criteria, so the test suite can feed them deliberately broken
measurements (negative controls) and watch them fail.
"""

from .framework import CLAIMS, ClaimResult, Context, Criterion, run_validation  # noqa: F401
