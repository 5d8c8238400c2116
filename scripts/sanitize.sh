#!/usr/bin/env bash
# Builds the op library with AddressSanitizer + UndefinedBehaviorSanitizer
# (CPU kernels only) and runs the op tests and a short fuzz under it.
#
#   scripts/sanitize.sh                 # op tests + 200 fuzz cases per op
#   FUZZ_CASES=1000 scripts/sanitize.sh
#   PYTHON=.venv/bin/python scripts/sanitize.sh
#
# The sanitized library is tf_wta/_tf_wta_ops_sanitized.so (the normal
# build is left alone); TF_WTA_OPS_LIBRARY points tf_wta at it. The
# sanitizer runtimes are preloaded into Python, which is not built with
# them; leak detection is off (Python and TensorFlow leak by design).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
SANITIZERS=${SANITIZERS:-address,undefined}
FUZZ_CASES=${FUZZ_CASES:-200}

TF_WTA_SANITIZE=$SANITIZERS TF_WTA_CUDA=0 "$PYTHON" setup.py build_ext --inplace

preload="$(g++ -print-file-name=libasan.so)"
[[ $SANITIZERS == *undefined* ]] && preload="$preload:$(g++ -print-file-name=libubsan.so)"
export LD_PRELOAD="$preload"
export ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0:abort_on_error=1:symbolize=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export TF_WTA_OPS_LIBRARY="$PWD/tf_wta/_tf_wta_ops_sanitized.so"
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$PYTHON" -m pytest -q -p no:cacheprovider \
  tests/test_bad_inputs.py tests/test_densified_wta_hash_bad_inputs.py \
  tests/test_hashed_matmul_bad_inputs.py tests/test_index_bad_inputs.py \
  tests/test_wta_hash.py tests/test_densified_wta_hash.py tests/test_index.py \
  tests/test_hashed_matmul.py tests/test_sparse_apply.py tests/test_wta_buckets_and_windows.py \
  tests/test_simhash.py tests/test_fwht.py tests/test_pooled_query.py \
  tests/test_thread_determinism.py tests/test_sparse_apply_races.py tests/test_simd_paths.py \
  "$@"
"$PYTHON" scripts/fuzz_ops.py --cases "$FUZZ_CASES" --workers "${FUZZ_WORKERS:-2}" --timeout 300
