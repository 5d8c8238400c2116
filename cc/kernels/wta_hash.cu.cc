// WtaHash and WtaBuckets: CUDA functors.
//
// The GPU kernels cannot report a bad index without a host sync, so they
// follow the documented safe behaviour instead: a window entry outside
// [0, D) never wins (like NaN), and a table whose codes are outside
// [0, window_size) gets bucket -1. Nothing is read out of bounds.
#if GOOGLE_CUDA
#define EIGEN_USE_GPU

#include "cc/kernels/wta_hash.h"

#include "cc/kernels/gpu_kernel_common.h"

namespace tensorflow {
namespace wta {
namespace {

template <typename T>
__global__ void WtaHashKernel(const T* __restrict__ x,
                              const int32_t* __restrict__ windows,
                              int64_t batch, int64_t dim, int64_t num_hashes,
                              int64_t window_size, int32_t* __restrict__ codes) {
  for (const int64_t i : GpuGridRangeX<int64_t>(batch * num_hashes)) {
    const int64_t b = i / num_hashes;
    const int64_t m = i - b * num_hashes;
    const T* row = x + b * dim;
    const auto key_of = [=](int32_t column) {
      return column >= 0 && column < dim
                 ? OrderKey(static_cast<float>(row[column]))
                 : kNeverWinsKey;
    };
    codes[i] = WindowArgmax(windows + m * window_size, window_size, 0, key_of);
  }
}

__global__ void WtaBucketsKernel(const int32_t* __restrict__ codes,
                                 int64_t total_buckets, int32_t window_size,
                                 int32_t codes_per_table,
                                 int32_t* __restrict__ buckets) {
  for (const int64_t i : GpuGridRangeX<int64_t>(total_buckets)) {
    const int32_t* table_codes = codes + i * codes_per_table;
    int32_t bucket = 0;
    for (int32_t j = codes_per_table - 1; j >= 0; --j) {
      const int32_t code = table_codes[j];
      if (code < 0 || code >= window_size) {
        bucket = kInvalidBucket;
        break;
      }
      bucket = bucket * window_size + code;
    }
    buckets[i] = bucket;
  }
}

}  // namespace

namespace functor {

template <typename T>
struct WtaHash<GPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  TTypes<int32_t>::ConstMatrix windows,
                  TTypes<int32_t>::Matrix codes) {
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, codes.size(), WtaHashKernel<T>,
                                         x.data(), windows.data(),
                                         x.dimension(0), x.dimension(1),
                                         windows.dimension(0),
                                         windows.dimension(1), codes.data()));
  }
};

template <>
void WtaBuckets<GPUDevice>::operator()(OpKernelContext* ctx,
                                       TTypes<int32_t>::ConstMatrix codes,
                                       int32_t window_size,
                                       int32_t codes_per_table,
                                       TTypes<int32_t>::Matrix buckets) {
  const int64_t total = buckets.size();
  OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, total, WtaBucketsKernel,
                                       codes.data(), total, window_size,
                                       codes_per_table, buckets.data()));
}

#define DEFINE_GPU_WTA_HASH(T) template struct WtaHash<GPUDevice, T>;
TF_WTA_CALL_HASH_TYPES(DEFINE_GPU_WTA_HASH);
template struct WtaBuckets<GPUDevice>;

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
