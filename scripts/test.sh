#!/usr/bin/env bash
# Sets up .venv with tf_wta installed (not the source tree) and runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh test,examples
export TF_CPP_MIN_LOG_LEVEL=2
# `pytest` (not `python -m pytest`) keeps the source tree off sys.path, so
# the tests exercise the installed package.
exec .venv/bin/pytest -q "$@"
