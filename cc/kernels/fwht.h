// Fast Walsh-Hadamard transform: the functor declaration shared by the CPU
// (fwht.cc) and CUDA (fwht.cu.cc) kernels, and the dimension check both use.
#ifndef TF_WTA_CC_KERNELS_FWHT_H_
#define TF_WTA_CC_KERNELS_FWHT_H_

#include <cstdint>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor_types.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tensorflow {
namespace wta {

// True for 1, 2, 4, 8, ...
inline bool IsPowerOfTwo(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

namespace functor {

// y[b, :] = x[b, :] @ H_d for every row b: H_d the unnormalised
// Sylvester-ordered Hadamard matrix (entries +-1), d = x.dimension(1) a
// power of two. Accumulates in float whatever T is; y may not alias x.
template <typename Device, typename T>
struct Fwht {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  typename TTypes<T>::Matrix y);
};

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_FWHT_H_
