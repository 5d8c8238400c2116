// Input checks shared by the kernels. Eager execution skips shape functions,
// so every kernel validates its inputs again with these.
#ifndef TF_WTA_CC_KERNELS_INPUT_CHECKS_H_
#define TF_WTA_CC_KERNELS_INPUT_CHECKS_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"
#include "tensorflow/core/framework/tensor_types.h"
#include "tensorflow/core/platform/errors.h"
#include "tensorflow/core/platform/threadpool.h"

namespace tensorflow {
namespace wta {

// OK when `tensor` has rank 2; otherwise an error that names the input.
inline absl::Status CheckMatrix(const Tensor& tensor, const char* name) {
  if (TensorShapeUtils::IsMatrix(tensor.shape())) return absl::OkStatus();
  return errors::InvalidArgument(name, " must be a rank-2 tensor, got shape ",
                                 tensor.shape().DebugString());
}

// window_size ** codes_per_table, the number of distinct bucket keys, or an
// error when it does not fit in int32 (bucket keys are int32).
inline absl::Status NumBuckets(int64_t window_size, int64_t codes_per_table,
                               int64_t* num_buckets) {
  if (window_size < 1 || codes_per_table < 1) {
    return errors::InvalidArgument(
        "window_size and codes_per_table must be >= 1, got window_size=",
        window_size, " codes_per_table=", codes_per_table);
  }
  int64_t n = 1;
  // window_size 1: 1 ** anything; otherwise n overflows within 31 steps, so
  // a huge codes_per_table (an int64 attr) cannot make this loop long.
  for (int64_t j = 0; window_size > 1 && j < codes_per_table; ++j) {
    n *= window_size;
    if (n > INT32_MAX) {
      return errors::InvalidArgument(
          "window_size ** codes_per_table = ", window_size, " ** ",
          codes_per_table, " overflows int32 bucket keys; use fewer codes "
          "per table or a smaller window_size");
    }
  }
  *num_buckets = n;
  return absl::OkStatus();
}

// Lowers *first to value when smaller: parallel shards each report their
// first bad element and the smallest position wins, so errors are
// deterministic.
inline void AtomicMin(std::atomic<int64_t>* first, int64_t value) {
  int64_t current = first->load();
  while (value < current && !first->compare_exchange_weak(current, value)) {
  }
}

// Flat position of the first of data[0, size) outside [lo, hi), or -1.
inline int64_t FirstOutOfRange(thread::ThreadPool* pool, const int32_t* data,
                               int64_t size, int64_t lo, int64_t hi) {
  std::atomic<int64_t> first(size);
  pool->ParallelFor(size, 2, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (data[i] < lo || data[i] >= hi) {
        AtomicMin(&first, i);
        return;
      }
    }
  });
  return first.load() == size ? -1 : first.load();
}

// OK when every value of the int32 tensor `values` is in [lo, hi);
// otherwise "<name>[i, j] = v is outside <expected()>" for the first value
// (in row-major order) that is not. `expected` is only called on error.
template <typename Describe>
absl::Status CheckInRange(thread::ThreadPool* pool, const Tensor& values,
                          const char* name, int64_t lo, int64_t hi,
                          Describe expected) {
  int64_t flat = FirstOutOfRange(pool, values.flat<int32_t>().data(),
                                 values.NumElements(), lo, hi);
  if (flat < 0) return absl::OkStatus();
  const int32_t value = values.flat<int32_t>()(flat);
  std::vector<int64_t> position(values.dims());
  for (int d = values.dims() - 1; d >= 0; --d) {
    position[d] = flat % values.dim_size(d);
    flat /= values.dim_size(d);
  }
  return errors::InvalidArgument(name, "[", absl::StrJoin(position, ", "),
                                 "] = ", value, " is outside ", expected());
}

// CheckInRange's description of [0, bound): "[0, <bound_name>=<bound>)".
inline auto UpTo(const char* bound_name, int64_t bound) {
  return [=] { return absl::StrCat("[0, ", bound_name, "=", bound, ")"); };
}

// Checks shared by the hash kernels: x [B, D] with D in [1, 2**31) and
// windows [M, K] with K >= 1.
inline absl::Status CheckHashInputs(const Tensor& x, const Tensor& windows) {
  TF_RETURN_IF_ERROR(CheckMatrix(x, "x"));
  TF_RETURN_IF_ERROR(CheckMatrix(windows, "windows"));
  if (windows.dim_size(1) < 1) {
    return errors::InvalidArgument(
        "windows must have at least one column (window_size >= 1), got shape ",
        windows.shape().DebugString());
  }
  if (x.dim_size(1) < 1) {
    return errors::InvalidArgument("x must have at least one column, got shape ",
                                   x.shape().DebugString());
  }
  if (x.dim_size(1) > INT32_MAX) {
    return errors::InvalidArgument("x has ", x.dim_size(1), " columns; windows "
                                   "are int32, so at most 2**31 - 1 fit");
  }
  return absl::OkStatus();
}

// On the CPU: an error naming the first window entry outside [0, D).
inline absl::Status CheckWindowsInRange(thread::ThreadPool* pool,
                                        const Tensor& x, const Tensor& windows) {
  return CheckInRange(pool, windows, "windows", 0, x.dim_size(1), [&] {
    return absl::StrCat("[0, D) for x of shape ", x.shape().DebugString());
  });
}

}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_INPUT_CHECKS_H_
