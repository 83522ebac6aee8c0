# Sourced by .ci/test and .ci/book: create .venv if absent or stale, install the
# pinned dependencies and rift_core (editable), and put .venv/bin first on PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
stamp=$(cat requirements.txt .ci/constraints.txt pyproject.toml | sha256sum | cut -c1-16)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.rift-stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "bootstrap: building $VENV with $($PYTHON --version 2>&1)" >&2
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt -c .ci/constraints.txt
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
    "$VENV/bin/python" -m pip check >&2
    echo "$stamp" > "$VENV/.rift-stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"
# One thread per process: these machines have 2 cores and torch/BLAS oversubscribe.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
# Progress bars are for interactive runs; in the book build and CI they would be page noise.
export PYDEVD_DISABLE_FILE_VALIDATION=1 TQDM_DISABLE=${TQDM_DISABLE:-1}
