#!/usr/bin/env bash
# Usage: bash bench/setup.sh
#
# Creates (or reuses) the Python virtual environment the benchmarks need: the peers' generator
# (shared/peers/gen_synthetic.py) and the Python peer (py_pipeline.py, run with --no-inmoose)
# need numpy, pandas, scipy, scikit-learn and pyarrow. Installs from PyPI only. pandas is held
# below 3: py_pipeline.py writes into `DataFrame.to_numpy()`, which pandas 3's copy-on-write
# makes read-only (ValueError in minprob_impute); the peers' reference runs used pandas 2.3.3.
# Prints the venv's python path on stdout.
#
# Environment: EVOMICS_BENCH_VENV (default ~/.cache/evomics-bench-venv).
set -euo pipefail
VENV="${EVOMICS_BENCH_VENV:-$HOME/.cache/evomics-bench-venv}"
if ! "$VENV/bin/python" -c "import numpy, pandas, scipy, sklearn, pyarrow; assert int(pandas.__version__.split('.')[0]) < 3" >/dev/null 2>&1; then
  echo "bench/setup.sh: setting up $VENV (numpy 'pandas<3' scipy scikit-learn pyarrow)" >&2
  [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check numpy 'pandas<3' scipy scikit-learn pyarrow >&2
fi
echo "$VENV/bin/python"
