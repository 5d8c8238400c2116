// WtaSimhash: the op kernel (all devices) and the CPU functor.
#define EIGEN_USE_THREADS

#include "cc/kernels/simhash.h"

#include <vector>

#include "cc/kernels/op_kernel_common.h"
#include "cc/kernels/wta_hash.h"

namespace tensorflow {
namespace wta {
namespace functor {

template <typename T>
struct Simhash<CPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  TTypes<int32_t>::ConstMatrix windows,
                  TTypes<float>::ConstMatrix signs,
                  TTypes<int32_t>::Matrix codes) {
    const int64_t num_hashes = windows.dimension(0);
    const int64_t window_size = windows.dimension(1);
    if (x.dimension(0) == 0 || num_hashes == 0) return;
    const int64_t dim = x.dimension(1);
    WorkerPool(ctx)->ParallelFor(
        x.dimension(0), dim + 4 * num_hashes * window_size,
        [&](int64_t begin, int64_t end) {
          // The row's projected values, converted once rather than at each
          // of the num_hashes * window_size reads of a row entry.
          std::vector<float> values(dim);
          const float* row_values = values.data();
          const auto value_of = [row_values](int32_t d) { return row_values[d]; };
          for (int64_t b = begin; b < end; ++b) {
            const T* row = &x(b, 0);
            for (int64_t d = 0; d < dim; ++d) values[d] = ProjectedValue(row[d]);
            for (int64_t m = 0; m < num_hashes; ++m) {
              codes(b, m) = ProjectionBit(&windows(m, 0), &signs(m, 0),
                                          window_size, value_of);
            }
          }
        });
  }
};

}  // namespace functor

namespace {

template <typename Device, typename T>
class SimhashOp : public OpKernel {
 public:
  explicit SimhashOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& windows = ctx->input(1);
    const Tensor& signs = ctx->input(2);
    OP_REQUIRES(ctx, signs.shape() == windows.shape(),
                errors::InvalidArgument(
                    "signs must have the shape of windows, got signs of shape ",
                    signs.shape().DebugString(), " and windows of shape ",
                    windows.shape().DebugString()));
    Tensor* codes = nullptr;
    OP_REQUIRES_OK(ctx, CheckAndAllocateHashCodes<Device>(ctx, x, windows, &codes));
    if (codes->NumElements() == 0) return;
    functor::Simhash<Device, T>()(ctx, x.matrix<T>(), windows.matrix<int32_t>(),
                                  signs.matrix<float>(), codes->matrix<int32_t>());
  }
};

}  // namespace

#define REGISTER_SIMHASH(DEVICE_TYPE, DEVICE, T)                           \
  REGISTER_KERNEL_BUILDER(                                                 \
      Name("WtaSimhash").Device(DEVICE_TYPE).TypeConstraint<T>("T"),       \
      SimhashOp<DEVICE, T>);

#define REGISTER_SIMHASH_CPU(T) REGISTER_SIMHASH(DEVICE_CPU, CPUDevice, T)
TF_WTA_CALL_HASH_TYPES(REGISTER_SIMHASH_CPU);

#if GOOGLE_CUDA
#define DECLARE_GPU_SIMHASH(T) extern template struct functor::Simhash<GPUDevice, T>;
TF_WTA_CALL_HASH_TYPES(DECLARE_GPU_SIMHASH);

#define REGISTER_SIMHASH_GPU(T) REGISTER_SIMHASH(DEVICE_GPU, GPUDevice, T)
TF_WTA_CALL_HASH_TYPES(REGISTER_SIMHASH_GPU);
#endif  // GOOGLE_CUDA

}  // namespace wta
}  // namespace tensorflow
