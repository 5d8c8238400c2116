#!/usr/bin/env bash
# Sets up .venv with tf_wta installed (not the source tree) and runs the
# tests. Without arguments (as CI runs it) it then also installs the wheel
# in a venv without a compiler (scripts/test_wheel_without_compiler.sh) and
# runs the Keras-internals tests on the oldest Keras allowed
# (scripts/test_oldest_keras.sh); with pytest arguments it runs just those.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh test,examples
export TF_CPP_MIN_LOG_LEVEL=2
# `pytest` (not `python -m pytest`) keeps the source tree off sys.path, so
# the tests exercise the installed package.
.venv/bin/pytest -q "$@"
if [ $# -eq 0 ]; then
    bash scripts/test_wheel_without_compiler.sh
    bash scripts/test_oldest_keras.sh
fi
