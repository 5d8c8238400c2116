// WtaSimhash: the CUDA functor. A window entry outside [0, D) contributes 0
// (the documented safe behaviour: checking it would cost a host sync).
#if GOOGLE_CUDA
#define EIGEN_USE_GPU

#include "cc/kernels/simhash.h"

#include "cc/kernels/gpu_kernel_common.h"
#include "cc/kernels/wta_hash.h"

namespace tensorflow {
namespace wta {
namespace {

template <typename T>
__global__ void SimhashKernel(const T* __restrict__ x,
                              const int32_t* __restrict__ windows,
                              const float* __restrict__ signs, int64_t batch,
                              int64_t dim, int64_t num_hashes,
                              int64_t window_size, int32_t* __restrict__ codes) {
  for (const int64_t i : GpuGridRangeX<int64_t>(batch * num_hashes)) {
    const int64_t b = i / num_hashes;
    const int64_t m = i - b * num_hashes;
    const T* row = x + b * dim;
    const auto value_of = [=](int32_t column) {
      return column >= 0 && column < dim ? ProjectedValue(row[column]) : 0.0f;
    };
    codes[i] = ProjectionBit(windows + m * window_size, signs + m * window_size,
                             window_size, value_of);
  }
}

}  // namespace

namespace functor {

template <typename T>
struct Simhash<GPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  TTypes<int32_t>::ConstMatrix windows,
                  TTypes<float>::ConstMatrix signs,
                  TTypes<int32_t>::Matrix codes) {
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, codes.size(), SimhashKernel<T>,
                                         x.data(), windows.data(), signs.data(),
                                         x.dimension(0), x.dimension(1),
                                         windows.dimension(0),
                                         windows.dimension(1), codes.data()));
  }
};

#define DEFINE_GPU_SIMHASH(T) template struct Simhash<GPUDevice, T>;
TF_WTA_CALL_HASH_TYPES(DEFINE_GPU_SIMHASH);

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
