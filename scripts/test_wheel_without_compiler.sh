#!/usr/bin/env bash
# Installs the wheel in dist/ (scripts/setup_venv.sh builds it) into a fresh
# venv, with no compiler on PATH, no index and no source tree, then imports
# tf_wta from a directory outside the source tree and runs an op and a
# WTADense forward pass. TensorFlow, Keras and numpy come from .venv through
# a .pth file rather than a second download.
set -euo pipefail
cd "$(dirname "$0")/.."
wheel=$(ls "$PWD"/dist/tf_wta-*.whl)
dependencies=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
.venv/bin/python -m venv "$scratch/venv"
site=$("$scratch/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
# A subshell, so that the trap runs with the full PATH.
(
cd "$scratch"
export PATH="$scratch/venv/bin"  # the venv's python and pip, nothing else
unset PYTHONPATH CC CXX NVCC 2>/dev/null || true
for compiler in gcc g++ cc c++ clang nvcc; do
    if command -v "$compiler" >/dev/null; then
        echo "$compiler is still on PATH" >&2; exit 1
    fi
done
pip install --quiet --no-deps --no-index "$wheel"
# Only now, so that pip does not take .venv's tf_wta for this one: appended
# to sys.path after the venv's own site-packages, so the venv's tf_wta wins
# over the one installed in .venv (checked below).
echo "$dependencies" > "$site/tf_wta_test_dependencies.pth"
TF_CPP_MIN_LOG_LEVEL=2 python - "$scratch/venv" <<'PYTHON'
import os
import sys

import numpy as np
import tf_wta

venv = os.path.realpath(sys.argv[1])
where = os.path.realpath(tf_wta.__file__)
assert where.startswith(venv + os.sep), f"tf_wta imported from {where}, not from {venv}"
x = np.random.default_rng(0).normal(size=(4, 32)).astype(np.float32)
codes = tf_wta.wta_hash(x, tf_wta.wta_windows(32, 16, 8, seed=0)).numpy()
assert codes.shape == (4, 16) and codes.min() >= 0 and codes.max() < 8, codes
layer = tf_wta.WTADense(64, mode="hidden", num_candidates=8, seed=0)
outputs = layer(x).numpy()
assert outputs.shape == (4, 64) and np.all((outputs != 0).sum(axis=1) <= 8), outputs
print(f"the wheel works without a compiler: tf_wta from {os.path.dirname(where)}, "
      f"built for {tf_wta.build_info()}")
PYTHON
)
