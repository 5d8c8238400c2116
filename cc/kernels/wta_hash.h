// Winner-Take-All hash codes and their packing into bucket keys.
//
// Functor declarations shared by the CPU (wta_hash.cc) and CUDA
// (wta_hash.cu.cc) kernels, plus the device-agnostic comparison key that
// makes both produce identical codes.
#ifndef TF_WTA_CC_KERNELS_WTA_HASH_H_
#define TF_WTA_CC_KERNELS_WTA_HASH_H_

#include <cstdint>
#include <limits>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor_types.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tensorflow {
namespace wta {

// Key used for every WTA comparison: a signed integer with the same order as
// the float value, where NaN is below -inf (so NaN never wins against a
// number) and -0.0 equals +0.0 (so they tie, and ties go to the smaller k).
// Comparing integer keys lets the CPU kernel vectorise the argmax.
EIGEN_DEVICE_FUNC EIGEN_ALWAYS_INLINE int32_t OrderKey(float value) {
  if (Eigen::numext::isnan(value)) return std::numeric_limits<int32_t>::min();
  // -0.0f -> +0.0f on the bits: float arithmetic (value + 0.0f) would also
  // flush denormals to zero on TensorFlow's threads (FTZ/DAZ), tying them
  // with 0 against the op's contract.
  int32_t bits = Eigen::numext::bit_cast<int32_t>(value);
  if (bits == std::numeric_limits<int32_t>::min()) bits = 0;
  return bits ^ ((bits >> 31) & 0x7fffffff);
}

// Key of a window entry that points outside [0, D); only the GPU kernel can
// meet one (the CPU kernel rejects such windows before hashing).
constexpr int32_t kNeverWinsKey = std::numeric_limits<int32_t>::min();

// Position k of the largest key_of(window[k]) over the window (ties to the
// smallest k), or `none` when no key is above kNeverWinsKey. The argmax of
// both hashes on both devices.
template <typename KeyOf>
EIGEN_DEVICE_FUNC EIGEN_ALWAYS_INLINE int32_t WindowArgmax(
    const int32_t* window, int64_t window_size, int32_t none, KeyOf key_of) {
  int32_t best = kNeverWinsKey;
  int32_t code = none;
  for (int64_t k = 0; k < window_size; ++k) {
    const int32_t key = key_of(window[k]);
    if (key > best) {
      best = key;
      code = static_cast<int32_t>(k);
    }
  }
  return code;
}

// Bucket written by the GPU kernel for a table whose codes are outside
// [0, window_size) (the CPU kernel rejects such codes instead).
constexpr int32_t kInvalidBucket = -1;

// Calls m(T) for each dtype of x the hash kernels are registered for.
#define TF_WTA_CALL_HASH_TYPES(m) \
  TF_CALL_float(m) TF_CALL_half(m) TF_CALL_bfloat16(m)

namespace functor {

// codes[b, m] = argmax_k x[b, windows[m, k]], ties to the smallest k, NaN
// never wins. `windows` must already hold indices in [0, D) on the CPU.
template <typename Device, typename T>
struct WtaHash {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  TTypes<int32_t>::ConstMatrix windows,
                  TTypes<int32_t>::Matrix codes);
};

// buckets[b, t] = sum_j codes[b, t * m + j] * window_size ** j.
template <typename Device>
struct WtaBuckets {
  void operator()(OpKernelContext* ctx, TTypes<int32_t>::ConstMatrix codes,
                  int32_t window_size, int32_t codes_per_table,
                  TTypes<int32_t>::Matrix buckets);
};

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_WTA_HASH_H_
