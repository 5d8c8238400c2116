#!/usr/bin/env bash
# Creates .venv (if missing), builds tf_wta's wheel into dist/ (compiling the
# op library, CUDA kernels too when nvcc is found; TF_WTA_CUDA=0 skips them)
# and installs the wheel into .venv.
# Usage: bash scripts/setup_venv.sh [pip extras, e.g. test,examples]
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "tensorflow==2.21.*" "setuptools>=77" wheel
# Build a platform wheel (the compiled library inside; the build needs
# TensorFlow's headers: reuse the one just installed), then install that
# wheel, as a user without a compiler would.
rm -rf dist
.venv/bin/python -m pip wheel --quiet --no-build-isolation --no-deps --wheel-dir dist .
wheel=$(ls dist/tf_wta-*.whl)
.venv/bin/python -m pip install --quiet --force-reinstall --no-deps "$wheel"
.venv/bin/python -m pip install --quiet "${wheel}${extras:+[$extras]}"
