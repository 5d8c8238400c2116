#!/usr/bin/env bash
# The benchmark suite against Dense and sampled softmax (about 100 minutes on
# 2 cores): time to accuracy at 10,000 / 100,000 / 1,000,000 units, the same
# on the offline example's CNN features (glyphs/6k through a random, seeded
# DenseNet121 at 32x32, extracted here first), hashed top-k serving against
# exact top-k, and the profile of one WTADense training step. Tables on
# stdout; JSON and PNG in benchmarks/results/.
# Run it alone: timings are shared-machine sensitive and the 1,000,000-unit
# Dense run needs about 13 GB (its 40 steps take 24 s each).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh examples
export TF_CPP_MIN_LOG_LEVEL=2
python=.venv/bin/python
$python benchmarks/bench_time_to_accuracy.py "$@"
# The features docs/benchmarks.md reports on, extracted now with the example's
# own code (not whatever an earlier example run left in ~/.cache).
features=benchmarks/results/features/glyphs-6k_DenseNet121_none-seed0_32
rm -f "${features}"_{train,test}.npz
PYTHONPATH=examples $python - "$features" <<'EOF'
import sys
from example_data import load_image_splits, resized_rgb
from features import cached_features, load_backbone, preprocess_function
datasets, _ = load_image_splits("glyphs/6k", ("train", "test"))
backbone = load_backbone("DenseNet121", None, 32)
for split in ("train", "test"):
    cached_features(f"{sys.argv[1]}_{split}.npz", backbone, preprocess_function("DenseNet121"),
                    resized_rgb(datasets[split], 32), verbose=0)
EOF
$python benchmarks/bench_time_to_accuracy.py --units --name time_to_accuracy_features \
    --features-train "${features}_train.npz" --features-test "${features}_test.npz" \
    --steps 1500 --budget-s 30 --learning-rate 0.5
$python benchmarks/bench_top_k_inference.py
$python benchmarks/profile_wta_step.py
