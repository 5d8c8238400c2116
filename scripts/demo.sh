#!/usr/bin/env bash
# Sets up .venv with tf_wta installed and runs the offline main example:
# retrain the output layer of a frozen CNN, Dense against WTADense, on the
# glyphs dataset that examples/glyphs.py generates (6,000 classes, no network).
# Extra arguments go to examples/retrain_top.py (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh examples
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python examples/retrain_top.py "$@"
