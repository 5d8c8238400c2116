#!/usr/bin/env bash
# The benchmark suite against Dense and sampled softmax (about 100 minutes on
# 2 cores): time to accuracy at 10,000 / 100,000 / 1,000,000 units, the same
# on an example's cached CNN features when they exist (run scripts/demo.sh
# first), hashed top-k serving against exact top-k, and the profile of one
# WTADense training step. Tables on stdout; JSON and PNG in benchmarks/results/.
# Run it alone: timings are shared-machine sensitive and the 1,000,000-unit
# Dense run needs about 13 GB (its 40 steps take 24 s each).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh examples
export TF_CPP_MIN_LOG_LEVEL=2
python=.venv/bin/python
$python benchmarks/bench_time_to_accuracy.py "$@"
features=$(ls -t ~/.cache/tf_wta/features/*_train_*.npz 2>/dev/null | head -1 || true)
if [[ -n "$features" ]]; then
  $python benchmarks/bench_time_to_accuracy.py --units --name time_to_accuracy_features \
      --features-train "$features" --features-test "${features/_train_/_test_}" \
      --steps 1500 --budget-s 30 --learning-rate 0.5
fi
$python benchmarks/bench_top_k_inference.py
$python benchmarks/profile_wta_step.py
