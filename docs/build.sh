#!/usr/bin/env bash
# Build the analogsim documentation site (Sphinx + sphinx-gallery). Every warning is an error.
#
#   bash docs/build.sh          quick mode (CI): tutorials at small sizes, the committed validation-report snapshot
#   bash docs/build.sh full     full mode: tutorials at full sizes and a fresh `analogsim validate --quick` report
#   bash docs/build.sh check    after a build: headless Chromium opens the home page and a tutorial, takes
#                               screenshots (docs/_build/screenshots), checks every image and internal link
#
# Output: docs/_build/html/index.html (DOCS_OUT=DIR: DIR/html). PYTHON selects the interpreter (default
# .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${DOCS_OUT:-docs/_build}
mode=${1:-quick}
export MPLBACKEND=Agg PYTHONHASHSEED=0

case "$mode" in
  quick|full)
    export ANALOGSIM_DOCS_MODE="$mode"
    start=$(date +%s)
    if [ "$mode" = full ] && [ -z "${ANALOGSIM_DOCS_REPORT:-}" ]; then
      echo "docs: running 'analogsim validate --quick' for a fresh report" >&2
      "$PY" -m analogsim.cli validate --quick --out "$OUT/validation-report" >&2
      export ANALOGSIM_DOCS_REPORT="$OUT/validation-report"
    fi
    "$PY" -m sphinx -b html -W --keep-going -q -E -d "$OUT/doctrees" docs "$OUT/html"
    echo "docs: $mode build finished in $(( $(date +%s) - start )) s -> $OUT/html/index.html" >&2
    ;;
  check)
    "$PY" docs/check_site.py "$OUT/html" --screenshots "$OUT/screenshots"
    ;;
  *)
    echo "usage: bash docs/build.sh [quick|full|check]" >&2
    exit 2
    ;;
esac
