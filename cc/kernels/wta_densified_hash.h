// Densified Winner-Take-All hash (DWTA; Chen & Shrivastava, UAI 2018).
//
// Functor declaration shared by the CPU (wta_densified_hash.cc) and CUDA
// (wta_densified_hash.cu.cc) kernels, plus the device-agnostic pieces (the
// key of an entry, the probe sequence, the borrowing rule) that make both
// produce identical codes.
#ifndef TF_WTA_CC_KERNELS_WTA_DENSIFIED_HASH_H_
#define TF_WTA_CC_KERNELS_WTA_DENSIFIED_HASH_H_

#include <cstdint>

#include "cc/kernels/wta_hash.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor_types.h"

namespace tensorflow {
namespace wta {

// Raw code of a window that sees no non-zero, non-NaN entry.
constexpr int32_t kEmptyWindow = -1;

// OrderKey of an entry that can win a densified window; zero (either sign)
// and NaN get kNeverWinsKey, below the key of every other value (-inf too).
EIGEN_DEVICE_FUNC EIGEN_ALWAYS_INLINE int32_t DensifiedKey(float value) {
  // Zero of either sign, tested on the bits: `value == 0.0f` is also true
  // for denormals on TensorFlow's threads (DAZ), which are not empty.
  if ((Eigen::numext::bit_cast<uint32_t>(value) & 0x7fffffffu) == 0) {
    return kNeverWinsKey;
  }
  return OrderKey(value);  // NaN -> kNeverWinsKey as well
}

// murmur3's 32-bit finaliser: every input bit affects every output bit.
EIGEN_DEVICE_FUNC EIGEN_ALWAYS_INLINE uint32_t Fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// Window probed by empty window m at attempt t (1-based):
// fmix32(m * 0x9e3779b9 + t) mod M, in uint32 arithmetic (wrapping).
EIGEN_DEVICE_FUNC EIGEN_ALWAYS_INLINE int64_t ProbedWindow(int64_t m, int64_t t,
                                                           int64_t num_hashes) {
  const uint32_t mixed =
      Fmix32(static_cast<uint32_t>(m) * 0x9e3779b9u + static_cast<uint32_t>(t));
  return static_cast<int64_t>(mixed % static_cast<uint32_t>(num_hashes));
}

// Final code of window m from one row's raw codes (kEmptyWindow where the
// window is empty): its own code, else the code of the first non-empty
// probed window, else 0. num_hashes must be in [1, 2**32).
EIGEN_DEVICE_FUNC EIGEN_ALWAYS_INLINE int32_t DensifiedCode(
    const int32_t* raw_row, int64_t num_hashes, int64_t m, int64_t max_probes) {
  if (raw_row[m] != kEmptyWindow) return raw_row[m];
  for (int64_t t = 1; t <= max_probes; ++t) {
    const int32_t borrowed = raw_row[ProbedWindow(m, t, num_hashes)];
    if (borrowed != kEmptyWindow) return borrowed;
  }
  return 0;
}

namespace functor {

// codes[b, m] = argmax over the non-zero, non-NaN entries x[b, windows[m, k]]
// (ties to the smallest k); an empty window borrows by probing (see
// DensifiedCode). `windows` must already hold indices in [0, D) on the CPU;
// on the GPU an index outside [0, D) is skipped like a zero.
template <typename Device, typename T>
struct WtaDensifiedHash {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  TTypes<int32_t>::ConstMatrix windows, int64_t max_probes,
                  TTypes<int32_t>::Matrix codes);
};

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_WTA_DENSIFIED_HASH_H_
