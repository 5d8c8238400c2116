// Signed random projection (SimHash) bits: functor declarations shared by
// the CPU (simhash.cc) and CUDA (simhash.cu.cc) kernels, and the projection
// both evaluate, so that they give identical bits.
#ifndef TF_WTA_CC_KERNELS_SIMHASH_H_
#define TF_WTA_CC_KERNELS_SIMHASH_H_

#include <cstdint>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor_types.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tensorflow {
namespace wta {

// 1 when sum_k signs[k] * value_of(window[k]) > 0, else 0, summed in float
// in k order. value_of returns 0 for entries that must not count (NaN, and
// on the GPU an entry outside [0, D)).
template <typename ValueOf>
EIGEN_DEVICE_FUNC EIGEN_ALWAYS_INLINE int32_t ProjectionBit(
    const int32_t* window, const float* signs, int64_t window_size,
    ValueOf value_of) {
  float sum = 0.0f;
  for (int64_t k = 0; k < window_size; ++k) sum += signs[k] * value_of(window[k]);
  return sum > 0.0f ? 1 : 0;
}

// x's value as a float for a projection: NaN and denormals count as 0 (TF's
// CPU threads flush denormals, so without this the bits would depend on the
// thread and the device).
template <typename T>
EIGEN_DEVICE_FUNC EIGEN_ALWAYS_INLINE float ProjectedValue(T value) {
  const float v = static_cast<float>(value);
  return Eigen::numext::isnan(v) || Eigen::numext::abs(v) < 1.17549435e-38f ? 0.0f : v;
}

namespace functor {

// codes[b, m] = ProjectionBit over window m of row b. `windows` must already
// hold indices in [0, D) on the CPU.
template <typename Device, typename T>
struct Simhash {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  TTypes<int32_t>::ConstMatrix windows,
                  TTypes<float>::ConstMatrix signs,
                  TTypes<int32_t>::Matrix codes);
};

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_SIMHASH_H_
