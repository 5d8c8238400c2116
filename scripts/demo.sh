#!/usr/bin/env bash
# Sets up .venv with tf_wta installed and runs the offline demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh examples
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python examples/hash_demo.py "$@"
