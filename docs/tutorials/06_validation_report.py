"""
6. Read the validation report
=============================

``analogsim validate`` measures every claim of the paper on the simulator and writes a report: for each claim,
criteria — a measured number, its uncertainty, a written rule — and a verdict. A criterion of kind *check* tests
the simulator; one of kind *paper* tests a statement of the paper as printed (and quotes it); one of kind
*identity* holds by algebra and is shown, not judged. This tutorial runs two fast claims,
reads the machine-readable ``report.json`` and shows how to tell "the simulator is right" from "the paper's
statement holds". The full quick report of this version is on the :doc:`validation report page
<../_generated/reports/validation>`.

**Run time on 2 cores:** 10 s in the quick build (CI), 13 s in the full one, measured on a 2-core machine
shared with other jobs (numba's cache warm); the time this build took is at the bottom of the page.
"""

# %%
# Run two claims
# --------------
# The command line is the usual way (``--quick`` is a few minutes on 2 cores for all seven claims,
# ``--full`` about ten); ``--claims`` picks a subset, ``--json`` prints a summary.
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.image as mpimg

out = Path(tempfile.mkdtemp(prefix="analogsim-report-"))
cmd = [sys.executable, "-m", "analogsim.cli", "validate", "--quick", "--claims", "stress,digital_vs_analog",
       "--out", str(out), "--workers", "1", "--json"]
print("$ analogsim validate --quick --claims stress,digital_vs_analog --out DIR --json")
done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
print("exit code", done.returncode, "(0: every check of the simulator passed)")
summary = json.loads(done.stdout)
for c in summary["claims"]:
    print(f"{c['name']:>18}: {c['verdict']}")

# %%
# Read ``report.json``
# --------------------
# ``DIR/report.md`` is for people; ``DIR/report.json`` holds the same numbers for programs.
report = json.loads((out / "report.json").read_text())
print("mode:", report["mode"], "| analogsim", report["version"])
for claim in report["claims"]:
    print(f"\n{claim['title']}  ->  {claim['verdict']}")
    for k in claim["criteria"]:
        unc = k.get("uncertainty")
        unc = f" ± {unc:.2g}" if isinstance(unc, float) and unc > 0 else ""
        ok = "    " if k["kind"] == "identity" else ("ok  " if k["passed"] else "FAIL")
        print(f"  [{k['kind']:>8}] {ok} {k['name']}: "
              f"{k['measured']:.4g}{unc}  (rule: {k['rule']})")

# %%
# Reading a verdict
# -----------------
# A failed criterion of kind *check* means the simulator is wrong — a bug to report. A failed criterion of kind
# *paper* is a finding: the paper's statement, as printed, does not hold, and the measured number says by how
# much. Here the Landauer cells of Table I are not reproduced by the formulas stated in the paper's text, while
# the analog training cell is.
for claim in report["claims"]:
    paper_misses = [k["name"] for k in claim["criteria"] if k["kind"] == "paper" and not k["passed"]]
    sim_fails = [k["name"] for k in claim["criteria"] if k["kind"] == "check" and not k["passed"]]
    print(f"{claim['name']}: simulator checks failed: {len(sim_fails)}; paper statements not holding as printed: "
          f"{len(paper_misses)}")
    for name in paper_misses:
        print("   -", name)

# %%
# Each claim comes with its figures, written next to the report.
fig_path = out / report["claims"][0]["figures"][0]
fig, ax = plt.subplots(figsize=(7, 4.5))
ax.imshow(mpimg.imread(fig_path))
ax.set_axis_off()
fig.tight_layout()
