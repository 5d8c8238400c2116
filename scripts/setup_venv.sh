#!/usr/bin/env bash
# Creates .venv (if missing) and installs tf_wta into it, compiling the op
# library (CUDA kernels too when nvcc is found; TF_WTA_CUDA=0 skips them).
# Usage: bash scripts/setup_venv.sh [pip extras, e.g. test,examples]
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "tensorflow==2.21.*" "setuptools>=77" wheel
# The build needs TensorFlow's headers: reuse the one just installed.
.venv/bin/python -m pip install --quiet --no-build-isolation ".${extras:+[$extras]}"
