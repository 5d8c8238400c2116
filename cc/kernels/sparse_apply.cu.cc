// WtaSparseApplySgd and WtaSparseApplyAdam: CUDA functors.
//
// One thread per element of the touched rows. Checking row_ids would cost a
// host sync, so an id outside [0, N) is skipped instead (its row is neither
// read nor written).
#if GOOGLE_CUDA
#define EIGEN_USE_GPU

#include "cc/kernels/sparse_apply.h"

#include "cc/kernels/gpu_kernel_common.h"

namespace tensorflow {
namespace wta {
namespace {

template <typename T>
__global__ void SgdKernel(T* __restrict__ var, T learning_rate,
                          const T* __restrict__ rows,
                          const int32_t* __restrict__ row_ids, int64_t total,
                          int64_t dim, int64_t num_var_rows) {
  for (const int64_t i : GpuGridRangeX<int64_t>(total)) {
    const int32_t row = row_ids[i / dim];
    if (row < 0 || row >= num_var_rows) continue;
    var[row * dim + i % dim] -= learning_rate * rows[i];
  }
}

template <typename T>
__global__ void AdamKernel(T* __restrict__ var, T* __restrict__ m,
                           T* __restrict__ v, T alpha, T beta_1, T beta_2,
                           T epsilon, const T* __restrict__ rows,
                           const int32_t* __restrict__ row_ids, int64_t total,
                           int64_t dim, int64_t num_var_rows) {
  for (const int64_t i : GpuGridRangeX<int64_t>(total)) {
    const int32_t row = row_ids[i / dim];
    if (row < 0 || row >= num_var_rows) continue;
    const int64_t at = row * dim + i % dim;
    const T g = rows[i];
    const T m_i = beta_1 * m[at] + (T(1) - beta_1) * g;
    const T v_i = beta_2 * v[at] + (T(1) - beta_2) * g * g;
    m[at] = m_i;
    v[at] = v_i;
    var[at] -= alpha * m_i / (sqrt(v_i) + epsilon);
  }
}

}  // namespace

namespace functor {

template <typename T>
struct CopyVariableTensor<GPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstFlat from,
                  typename TTypes<T>::Flat to) {
    ctx->eigen_device<GPUDevice>().memcpy(to.data(), from.data(),
                                          from.size() * sizeof(T));
  }
};

template <typename T>
struct SparseApplySgd<GPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::Matrix var,
                  T learning_rate, typename TTypes<T>::ConstMatrix rows,
                  TTypes<int32_t>::ConstVec row_ids) {
    const int64_t total = rows.size();
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, total, SgdKernel<T>, var.data(),
                                         learning_rate, rows.data(),
                                         row_ids.data(), total,
                                         var.dimension(1), var.dimension(0)));
  }
};

template <typename T>
struct SparseApplyAdam<GPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::Matrix var,
                  typename TTypes<T>::Matrix m, typename TTypes<T>::Matrix v,
                  T alpha, T beta_1, T beta_2, T epsilon,
                  typename TTypes<T>::ConstMatrix rows,
                  TTypes<int32_t>::ConstVec row_ids) {
    const int64_t total = rows.size();
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, total, AdamKernel<T>, var.data(),
                                         m.data(), v.data(), alpha, beta_1,
                                         beta_2, epsilon, rows.data(),
                                         row_ids.data(), total,
                                         var.dimension(1), var.dimension(0)));
  }
};

#define DEFINE_GPU_SPARSE_APPLY(T)                  \
  template struct CopyVariableTensor<GPUDevice, T>; \
  template struct SparseApplySgd<GPUDevice, T>;     \
  template struct SparseApplyAdam<GPUDevice, T>;
TF_CALL_float(DEFINE_GPU_SPARSE_APPLY);
TF_CALL_double(DEFINE_GPU_SPARSE_APPLY);

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
