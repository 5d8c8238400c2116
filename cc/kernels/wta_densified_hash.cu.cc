// WtaDensifiedHash: CUDA functor.
//
// Two passes, one thread per (b, m) each: raw codes (kEmptyWindow for an
// empty window) into a temporary [B, M] tensor, then every window's final
// code from its row of raw codes. A separate buffer keeps the second pass
// free of races (a probe reads other windows' raw codes). The GPU cannot
// report a bad window index without a host sync, so an index outside [0, D)
// is skipped like a zero (it never wins); nothing is read out of bounds.
#if GOOGLE_CUDA
#define EIGEN_USE_GPU

#include "cc/kernels/gpu_launch.h"
#include "cc/kernels/wta_densified_hash.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/util/gpu_kernel_helper.h"

namespace tensorflow {
namespace wta {

using GPUDevice = Eigen::GpuDevice;

namespace {

template <typename T>
__global__ void RawDensifiedCodesKernel(const T* __restrict__ x,
                                        const int32_t* __restrict__ windows,
                                        int64_t batch, int64_t dim,
                                        int64_t num_hashes, int64_t window_size,
                                        int32_t* __restrict__ raw) {
  GRID_STRIDE_LOOP(i, batch * num_hashes) {
    const int64_t b = i / num_hashes;
    const int64_t m = i - b * num_hashes;
    const T* row = x + b * dim;
    const int32_t* window = windows + m * window_size;
    int32_t best = kNeverWinsKey;
    int32_t code = kEmptyWindow;
    for (int64_t k = 0; k < window_size; ++k) {
      const int32_t column = window[k];
      const int32_t key = (column >= 0 && column < dim)
                              ? DensifiedKey(static_cast<float>(row[column]))
                              : kNeverWinsKey;
      if (key > best) {
        best = key;
        code = static_cast<int32_t>(k);
      }
    }
    raw[i] = code;
  }
}

__global__ void BorrowCodesKernel(const int32_t* __restrict__ raw,
                                  int64_t batch, int64_t num_hashes,
                                  int64_t max_probes,
                                  int32_t* __restrict__ codes) {
  GRID_STRIDE_LOOP(i, batch * num_hashes) {
    const int64_t b = i / num_hashes;
    const int64_t m = i - b * num_hashes;
    codes[i] = DensifiedCode(raw + b * num_hashes, num_hashes, m, max_probes);
  }
}

}  // namespace

namespace functor {

template <typename T>
struct WtaDensifiedHash<GPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  TTypes<int32_t>::ConstMatrix windows, int64_t max_probes,
                  TTypes<int32_t>::Matrix codes) {
    const int64_t total = codes.size();
    if (total == 0) return;
    const int64_t batch = x.dimension(0);
    const int64_t num_hashes = windows.dimension(0);
    Tensor raw;
    OP_REQUIRES_OK(ctx, ctx->allocate_temp(DT_INT32,
                                           TensorShape({batch, num_hashes}),
                                           &raw));
    const auto stream = ctx->eigen_gpu_device().stream();
    OP_REQUIRES_OK(
        ctx, GpuLaunchKernel(RawDensifiedCodesKernel<T>, BlocksFor(total),
                             kThreadsPerBlock, 0, stream, x.data(),
                             windows.data(), batch, x.dimension(1), num_hashes,
                             windows.dimension(1), raw.flat<int32_t>().data()));
    OP_REQUIRES_OK(
        ctx, GpuLaunchKernel(BorrowCodesKernel, BlocksFor(total),
                             kThreadsPerBlock, 0, stream,
                             static_cast<const int32_t*>(raw.flat<int32_t>().data()),
                             batch, num_hashes, max_probes, codes.data()));
  }
};

#define DEFINE_GPU_WTA_DENSIFIED_HASH(T) \
  template struct WtaDensifiedHash<GPUDevice, T>;
TF_CALL_float(DEFINE_GPU_WTA_DENSIFIED_HASH);
TF_CALL_half(DEFINE_GPU_WTA_DENSIFIED_HASH);
TF_CALL_bfloat16(DEFINE_GPU_WTA_DENSIFIED_HASH);

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
