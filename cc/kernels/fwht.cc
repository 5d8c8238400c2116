// WtaFwht: the op kernel (all devices) and the CPU functor.
//
// Each row is transformed in place in a float buffer (the output itself for
// float32, read from the input by the first pass; a per-shard scratch row
// otherwise) by iterative radix-2/4 butterflies. The first stages (butterfly spans below kBlock floats) run
// block by block, so a cache-sized chunk of the row is finished before the
// next is touched; the remaining stages run two at a time (radix 4) over the
// whole row, halving its passes through memory. The loops are written so
// that GCC vectorises them at -O3. Rows are sharded over TF's worker pool.
#define EIGEN_USE_THREADS

#include "cc/kernels/fwht.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cc/kernels/op_kernel_common.h"

namespace tensorflow {
namespace wta {
namespace {

// Floats of a row transformed completely before moving on (16 KiB: half a
// typical L1 data cache).
constexpr int64_t kBlock = 4096;

// Stages of span 1, 2 and 4 (a radix-8 Hadamard) on every 8 floats of
// src[0, n), written to dst (which may be src: each group of 8 is read
// before it is written).
inline void FirstThreeStages(const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    const float* s = src + i;
    float* p = dst + i;
    const float a0 = s[0] + s[1], a1 = s[0] - s[1];
    const float a2 = s[2] + s[3], a3 = s[2] - s[3];
    const float a4 = s[4] + s[5], a5 = s[4] - s[5];
    const float a6 = s[6] + s[7], a7 = s[6] - s[7];
    const float b0 = a0 + a2, b1 = a1 + a3, b2 = a0 - a2, b3 = a1 - a3;
    const float b4 = a4 + a6, b5 = a5 + a7, b6 = a4 - a6, b7 = a5 - a7;
    p[0] = b0 + b4; p[1] = b1 + b5; p[2] = b2 + b6; p[3] = b3 + b7;
    p[4] = b0 - b4; p[5] = b1 - b5; p[6] = b2 - b6; p[7] = b3 - b7;
  }
}

// One radix-2 stage of span h on v[0, n).
inline void Radix2Stage(float* __restrict__ v, int64_t n, int64_t h) {
  for (int64_t i = 0; i < n; i += 2 * h) {
    float* __restrict__ lo = v + i;
    float* __restrict__ hi = v + i + h;
    for (int64_t j = 0; j < h; ++j) {
      const float a = lo[j], b = hi[j];
      lo[j] = a + b;
      hi[j] = a - b;
    }
  }
}

// The stages of spans h and 2h together (radix 4) on v[0, n).
inline void Radix4Stage(float* __restrict__ v, int64_t n, int64_t h) {
  for (int64_t i = 0; i < n; i += 4 * h) {
    float* __restrict__ p0 = v + i;
    float* __restrict__ p1 = p0 + h;
    float* __restrict__ p2 = p1 + h;
    float* __restrict__ p3 = p2 + h;
    for (int64_t j = 0; j < h; ++j) {
      const float a = p0[j], b = p1[j], c = p2[j], d = p3[j];
      const float s0 = a + b, s1 = a - b, s2 = c + d, s3 = c - d;
      p0[j] = s0 + s2;
      p1[j] = s1 + s3;
      p2[j] = s0 - s2;
      p3[j] = s1 - s3;
    }
  }
}

// The stages of spans first_h, 2 first_h, ..., n / 2 on v[0, n).
inline void Stages(float* v, int64_t n, int64_t first_h) {
  int64_t h = first_h;
  for (; 4 * h <= n; h *= 4) Radix4Stage(v, n, h);
  if (2 * h <= n) Radix2Stage(v, n, h);
}

// The transform of src[0, n) into v[0, n) (v may be src). The first pass
// over each block reads src, so float32 rows need no separate copy.
void TransformRow(const float* src, float* v, int64_t n) {
  if (n < 8) {
    if (src != v) std::copy_n(src, n, v);
    for (int64_t h = 1; h < n; h *= 2) Radix2Stage(v, n, h);
    return;
  }
  const int64_t block = std::min(n, kBlock);
  for (int64_t start = 0; start < n; start += block) {
    FirstThreeStages(src + start, v + start, block);
    Stages(v + start, block, 8);
  }
  if (block < n) Stages(v, n, block);
}

}  // namespace

namespace functor {

template <typename T>
struct Fwht<CPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  typename TTypes<T>::Matrix y) {
    const int64_t batch = x.dimension(0);
    const int64_t d = x.dimension(1);
    if (batch == 0 || d == 0) return;
    int64_t log_d = 0;
    while ((int64_t{1} << log_d) < d) ++log_d;
    const int64_t cost_per_row = d * (2 + log_d);
    WorkerPool(ctx)->ParallelFor(batch, cost_per_row, [&](int64_t begin, int64_t end) {
      if constexpr (std::is_same<T, float>::value) {
        for (int64_t b = begin; b < end; ++b) {
          TransformRow(&x(b, 0), &y(b, 0), d);
        }
      } else {
        std::vector<float> scratch(d);
        for (int64_t b = begin; b < end; ++b) {
          const T* in = &x(b, 0);
          for (int64_t j = 0; j < d; ++j) scratch[j] = static_cast<float>(in[j]);
          TransformRow(scratch.data(), scratch.data(), d);
          T* out = &y(b, 0);
          for (int64_t j = 0; j < d; ++j) out[j] = static_cast<T>(scratch[j]);
        }
      }
    });
  }
};

}  // namespace functor

namespace {

template <typename Device, typename T>
class FwhtOp : public OpKernel {
 public:
  explicit FwhtOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    OP_REQUIRES_OK(ctx, CheckMatrix(x, "x"));
    OP_REQUIRES(ctx, IsPowerOfTwo(x.dim_size(1)),
                errors::InvalidArgument(
                    "x must have a power-of-two number of columns d (pad it), "
                    "got shape ", x.shape().DebugString()));
    OP_REQUIRES(ctx, x.dim_size(1) <= (int64_t{1} << 30),
                errors::InvalidArgument("x has ", x.dim_size(1),
                                        " columns; at most 2**30 are supported"));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    if (y->NumElements() == 0) return;
    functor::Fwht<Device, T>()(ctx, x.matrix<T>(), y->matrix<T>());
  }
};

}  // namespace

#define TF_WTA_CALL_FWHT_TYPES(m) \
  TF_CALL_float(m) TF_CALL_half(m) TF_CALL_bfloat16(m)

#define REGISTER_FWHT(DEVICE_TYPE, DEVICE, T)                         \
  REGISTER_KERNEL_BUILDER(                                            \
      Name("WtaFwht").Device(DEVICE_TYPE).TypeConstraint<T>("T"),     \
      FwhtOp<DEVICE, T>);

#define REGISTER_FWHT_CPU(T) REGISTER_FWHT(DEVICE_CPU, CPUDevice, T)
TF_WTA_CALL_FWHT_TYPES(REGISTER_FWHT_CPU);

#if GOOGLE_CUDA
#define DECLARE_GPU_FWHT(T) extern template struct functor::Fwht<GPUDevice, T>;
TF_WTA_CALL_FWHT_TYPES(DECLARE_GPU_FWHT);

#define REGISTER_FWHT_GPU(T) REGISTER_FWHT(DEVICE_GPU, GPUDevice, T)
TF_WTA_CALL_FWHT_TYPES(REGISTER_FWHT_GPU);
#endif  // GOOGLE_CUDA

}  // namespace wta
}  // namespace tensorflow
