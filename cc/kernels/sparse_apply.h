// Sparse optimizer updates of resource variables: only the given rows of the
// variable (and of its slots) are read and written.
//
// Functor declarations shared by the CPU (sparse_apply.cc) and CUDA
// (sparse_apply.cu.cc) kernels. Every variable is seen as a matrix
// [N, D]: N rows (its first dimension), D the product of the others.
#ifndef TF_WTA_CC_KERNELS_SPARSE_APPLY_H_
#define TF_WTA_CC_KERNELS_SPARSE_APPLY_H_

#include <cstdint>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_types.h"

namespace tensorflow {
namespace wta {
namespace functor {

// to = from (same shape and dtype, both on the device).
template <typename Device, typename T>
struct CopyVariableTensor {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstFlat from,
                  typename TTypes<T>::Flat to);
};

// var[row_ids[u]] -= learning_rate * rows[u] for every u. row_ids are
// distinct; on the CPU they are in [0, N), on the GPU an id outside is
// skipped.
template <typename Device, typename T>
struct SparseApplySgd {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::Matrix var,
                  T learning_rate, typename TTypes<T>::ConstMatrix rows,
                  TTypes<int32_t>::ConstVec row_ids);
};

// Lazy Adam at the rows row_ids[u] only, with g = rows[u]:
//   m <- beta_1 * m + (1 - beta_1) * g
//   v <- beta_2 * v + (1 - beta_2) * g * g
//   var <- var - alpha * m / (sqrt(v) + epsilon)
// where alpha is the bias-corrected step size. Same row_ids contract as
// SparseApplySgd.
template <typename Device, typename T>
struct SparseApplyAdam {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::Matrix var,
                  typename TTypes<T>::Matrix m, typename TTypes<T>::Matrix v,
                  T alpha, T beta_1, T beta_2, T epsilon,
                  typename TTypes<T>::ConstMatrix rows,
                  TTypes<int32_t>::ConstVec row_ids);
};

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_SPARSE_APPLY_H_
