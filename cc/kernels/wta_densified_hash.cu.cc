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

#include "cc/kernels/wta_densified_hash.h"

#include "cc/kernels/gpu_kernel_common.h"

namespace tensorflow {
namespace wta {
namespace {

template <typename T>
__global__ void RawDensifiedCodesKernel(const T* __restrict__ x,
                                        const int32_t* __restrict__ windows,
                                        int64_t batch, int64_t dim,
                                        int64_t num_hashes, int64_t window_size,
                                        int32_t* __restrict__ raw) {
  for (const int64_t i : GpuGridRangeX<int64_t>(batch * num_hashes)) {
    const int64_t b = i / num_hashes;
    const int64_t m = i - b * num_hashes;
    const T* row = x + b * dim;
    const auto key_of = [=](int32_t column) {
      return column >= 0 && column < dim
                 ? DensifiedKey(static_cast<float>(row[column]))
                 : kNeverWinsKey;
    };
    raw[i] = WindowArgmax(windows + m * window_size, window_size,
                          kEmptyWindow, key_of);
  }
}

__global__ void BorrowCodesKernel(const int32_t* __restrict__ raw,
                                  int64_t batch, int64_t num_hashes,
                                  int64_t max_probes,
                                  int32_t* __restrict__ codes) {
  for (const int64_t i : GpuGridRangeX<int64_t>(batch * num_hashes)) {
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
    int32_t* raw_codes = raw.flat<int32_t>().data();
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, total, RawDensifiedCodesKernel<T>,
                                         x.data(), windows.data(), batch,
                                         x.dimension(1), num_hashes,
                                         windows.dimension(1), raw_codes));
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, total, BorrowCodesKernel,
                                         raw_codes, batch, num_hashes,
                                         max_probes, codes.data()));
  }
};

#define DEFINE_GPU_WTA_DENSIFIED_HASH(T) \
  template struct WtaDensifiedHash<GPUDevice, T>;
TF_WTA_CALL_HASH_TYPES(DEFINE_GPU_WTA_DENSIFIED_HASH);

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
