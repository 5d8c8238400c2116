#!/usr/bin/env bash
# Runs the tests that exercise Keras internals (LazyAdam's slots, the
# WTAModel/WTASequential training step and compile, loading a .keras file)
# against the oldest Keras that pyproject.toml allows. That Keras goes,
# without its dependencies (the same as the newest's, already in .venv),
# into .keras_oldest/, first on PYTHONPATH; the tests refuse to run unless
# it is the Keras they import (TF_WTA_EXPECT_KERAS, tests/conftest.py).
# Needs .venv from scripts/setup_venv.sh.
# Usage: bash scripts/test_oldest_keras.sh [pytest args; default: the tests below]
set -euo pipefail
cd "$(dirname "$0")/.."
KERAS_INTERNALS_TESTS=(
    tests/test_sparse_apply.py
    tests/test_mixed_precision.py::test_loss_scale_optimizer_unscales_sparse_gradients
    tests/test_mixed_precision.py::test_sparse_optimizers_take_half_gradients_for_float32_variables
    tests/test_wta_model.py::test_lazy_adam_matches_adam_on_the_rows_it_updates
    tests/test_wta_model.py::test_lazy_adam_updates_only_selected_rows
    "tests/test_wta_model.py::test_wta_sequential_trains_like_wta_model[shared]"
    tests/test_wta_model.py::test_wta_model_without_a_wta_output_trains_like_keras_model
    tests/test_wta_model.py::test_compile_sees_through_the_loss_scale_optimizer
    tests/test_wta_model.py::test_a_layer_built_after_compile_is_checked_once_when_training_starts
    tests/test_wta_saving.py::test_keras_file_reloads_in_a_fresh_process
)
[ $# -gt 0 ] || set -- "${KERAS_INTERNALS_TESTS[@]}"
oldest=$(grep -o '"keras>=[0-9.]*' pyproject.toml | cut -d= -f2)
target=.keras_oldest
if ! grep -qs "^Version: ${oldest}\(\.\|$\)" "$target"/keras-*.dist-info/METADATA; then
    rm -rf "$target"
    .venv/bin/python -m pip install --quiet --no-deps --target "$target" "keras==${oldest}.*"
fi
export TF_CPP_MIN_LOG_LEVEL=2 TF_WTA_EXPECT_KERAS="$oldest"
PYTHONPATH="$PWD/$target" exec .venv/bin/pytest -q "$@"
