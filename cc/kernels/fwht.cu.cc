// WtaFwht: the CUDA functor.
//
// d <= kSharedDim: one block per row (grid-stride over rows) holds the row in
// shared memory as float and runs every butterfly stage there.
// d > kSharedDim: the same kernel first transforms every kSharedDim-wide
// chunk of every row (the stages of span < kSharedDim), writing float into
// the output (float32) or a float scratch tensor; grid-stride global-memory
// passes then run the remaining stages two at a time (radix 4) in place, and
// a last pass converts the scratch to T for float16/bfloat16.
#if GOOGLE_CUDA
#define EIGEN_USE_GPU

#include "cc/kernels/fwht.h"

#include <type_traits>

#include "cc/kernels/gpu_kernel_common.h"

namespace tensorflow {
namespace wta {
namespace {

// Floats of one row held in shared memory (32 KiB: under the 48 KiB a block
// gets without opting in).
constexpr int64_t kSharedDim = 8192;
constexpr int kMaxThreads = 512;

// Transforms rows [num_rows, dim] of in into out, dim <= kSharedDim a power
// of two; dynamic shared memory of dim floats.
template <typename In, typename Out>
__global__ void FwhtSharedKernel(const In* __restrict__ in, int64_t num_rows,
                                 int dim, Out* __restrict__ out) {
  extern __shared__ float row[];
  const int half = dim / 2;
  for (int64_t r = blockIdx.x; r < num_rows; r += gridDim.x) {
    const In* src = in + r * dim;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) {
      row[j] = static_cast<float>(src[j]);
    }
    for (int h = 1; h < dim; h *= 2) {
      __syncthreads();
      for (int p = threadIdx.x; p < half; p += blockDim.x) {
        const int i = (p / h) * 2 * h + (p % h);
        const float a = row[i], b = row[i + h];
        row[i] = a + b;
        row[i + h] = a - b;
      }
    }
    __syncthreads();
    Out* dst = out + r * dim;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) {
      dst[j] = static_cast<Out>(row[j]);
    }
    __syncthreads();  // the row is reused by the block's next row
  }
}

// The stages of spans h and 2h (radix 4) in place on v [batch, dim]:
// work item q of batch * dim / 4 owns four entries h apart.
__global__ void FwhtRadix4Kernel(float* __restrict__ v, int64_t batch,
                                 int64_t dim, int64_t h) {
  const int64_t per_row = dim / 4;
  for (const int64_t q : GpuGridRangeX<int64_t>(batch * per_row)) {
    const int64_t b = q / per_row;
    const int64_t k = q - b * per_row;
    float* p = v + b * dim + (k / h) * 4 * h + (k % h);
    const float a = p[0], c1 = p[h], c2 = p[2 * h], c3 = p[3 * h];
    const float s0 = a + c1, s1 = a - c1, s2 = c2 + c3, s3 = c2 - c3;
    p[0] = s0 + s2;
    p[h] = s1 + s3;
    p[2 * h] = s0 - s2;
    p[3 * h] = s1 - s3;
  }
}

// One radix-2 stage of span h in place on v [batch, dim].
__global__ void FwhtRadix2Kernel(float* __restrict__ v, int64_t batch,
                                 int64_t dim, int64_t h) {
  const int64_t per_row = dim / 2;
  for (const int64_t q : GpuGridRangeX<int64_t>(batch * per_row)) {
    const int64_t b = q / per_row;
    const int64_t k = q - b * per_row;
    float* p = v + b * dim + (k / h) * 2 * h + (k % h);
    const float a = p[0], c = p[h];
    p[0] = a + c;
    p[h] = a - c;
  }
}

template <typename T>
__global__ void FwhtConvertKernel(const float* __restrict__ in, int64_t size,
                                  T* __restrict__ out) {
  for (const int64_t i : GpuGridRangeX<int64_t>(size)) {
    out[i] = static_cast<T>(in[i]);
  }
}

template <typename In, typename Out>
absl::Status LaunchShared(OpKernelContext* ctx, const In* in, int64_t num_rows,
                          int dim, Out* out) {
  const GPUDevice& device = ctx->eigen_gpu_device();
  const int threads = std::max(32, std::min(kMaxThreads, dim / 2));
  const int64_t blocks = std::min<int64_t>(
      num_rows, static_cast<int64_t>(device.getNumGpuMultiProcessors()) *
                    std::max(1, device.maxGpuThreadsPerMultiProcessor() / threads));
  return GpuLaunchKernel(FwhtSharedKernel<In, Out>, static_cast<int>(blocks),
                         threads, dim * sizeof(float), device.stream(), in,
                         num_rows, dim, out);
}

}  // namespace

namespace functor {

template <typename T>
struct Fwht<GPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  typename TTypes<T>::Matrix y) {
    const int64_t batch = x.dimension(0);
    const int64_t d = x.dimension(1);
    if (batch == 0 || d == 0) return;
    if (d <= kSharedDim) {
      OP_REQUIRES_OK(ctx, LaunchShared(ctx, x.data(), batch, static_cast<int>(d),
                                       y.data()));
      return;
    }
    float* buffer = nullptr;
    Tensor scratch;
    if constexpr (std::is_same<T, float>::value) {
      buffer = y.data();
    } else {
      OP_REQUIRES_OK(ctx, ctx->allocate_temp(DT_FLOAT, TensorShape({batch, d}),
                                             &scratch));
      buffer = scratch.flat<float>().data();
    }
    OP_REQUIRES_OK(ctx, LaunchShared(ctx, x.data(), batch * (d / kSharedDim),
                                     static_cast<int>(kSharedDim), buffer));
    int64_t h = kSharedDim;
    for (; 4 * h <= d; h *= 4) {
      OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, batch * d / 4, FwhtRadix4Kernel,
                                           buffer, batch, d, h));
    }
    if (2 * h <= d) {
      OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, batch * d / 2, FwhtRadix2Kernel,
                                           buffer, batch, d, h));
    }
    if constexpr (!std::is_same<T, float>::value) {
      OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, batch * d, FwhtConvertKernel<T>,
                                           static_cast<const float*>(buffer),
                                           batch * d, y.data()));
    }
  }
};

#define DEFINE_GPU_FWHT(T) template struct Fwht<GPUDevice, T>;
TF_CALL_float(DEFINE_GPU_FWHT) TF_CALL_half(DEFINE_GPU_FWHT)
    TF_CALL_bfloat16(DEFINE_GPU_FWHT)

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
