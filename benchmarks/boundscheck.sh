#!/usr/bin/env bash
# Build the kernels with Cython bounds/wraparound/initialisation checks on (R3D_BOUNDSCHECK=1) in a
# scratch copy of HEAD and run the whole test suite against that build. Writes
# benchmarks/results/boundscheck.md. Usage: bash benchmarks/boundscheck.sh  (inside a venv with the
# build and test requirements installed).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
git archive HEAD | tar -x -C "$work"
cd "$work"
R3D_BOUNDSCHECK=1 python setup.py build_ext --inplace > build.log 2>&1
checks=$(grep -c "__Pyx_RaiseBufferIndexError" r3d/_ext/_locpoly.c || true)
set +e
PYTHONPATH="$work" python -m pytest tests -q -p no:cacheprovider > tests.log 2>&1
rc=$?
set -e
{
  echo "# Test suite with bounds checking on"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); commit: $(git -C "$repo" rev-parse --short HEAD)"
  echo "- build: \`R3D_BOUNDSCHECK=1 python setup.py build_ext --inplace\` (bounds-check call sites in _locpoly.c: $checks)"
  echo "- tests: \`python -m pytest tests -q\` against that build, exit code $rc"
  echo
  echo '```'
  tail -n 3 tests.log
  echo '```'
} > "$repo/benchmarks/results/boundscheck.md"
cat "$repo/benchmarks/results/boundscheck.md"
rm -rf "$work"
exit $rc
