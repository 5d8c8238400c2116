// Input checks shared by the kernels. Eager execution skips shape functions,
// so every kernel validates its inputs again with these.
#ifndef TF_WTA_CC_KERNELS_INPUT_CHECKS_H_
#define TF_WTA_CC_KERNELS_INPUT_CHECKS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"
#include "tensorflow/core/framework/tensor_types.h"
#include "tensorflow/core/platform/errors.h"

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
  for (int64_t j = 0; j < codes_per_table; ++j) {
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

// First (row, column) of `matrix` whose value is outside [0, limit), or
// false when there is none.
inline bool FindOutOfRange(TTypes<int32_t>::ConstMatrix matrix, int64_t limit,
                           int64_t* row, int64_t* col) {
  for (int64_t r = 0; r < matrix.dimension(0); ++r) {
    for (int64_t c = 0; c < matrix.dimension(1); ++c) {
      const int32_t v = matrix(r, c);
      if (v < 0 || v >= limit) {
        *row = r;
        *col = c;
        return true;
      }
    }
  }
  return false;
}

}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_INPUT_CHECKS_H_
