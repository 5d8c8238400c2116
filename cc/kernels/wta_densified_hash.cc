// WtaDensifiedHash: op kernel (all devices) and CPU functor.
#define EIGEN_USE_THREADS

#include "cc/kernels/wta_densified_hash.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cc/kernels/op_kernel_common.h"

namespace tensorflow {
namespace wta {
namespace {

// Raw codes of one row (kEmptyWindow where a window is empty); returns how
// many windows are not empty. `key(d)` is DensifiedKey of the row's entry d.
template <typename KeyOf>
int64_t RawCodes(KeyOf key_of, TTypes<int32_t>::ConstMatrix windows,
                 int32_t* raw) {
  const int64_t num_hashes = windows.dimension(0);
  const int64_t window_size = windows.dimension(1);
  int64_t non_empty = 0;
  for (int64_t m = 0; m < num_hashes; ++m) {
    const int32_t code =
        WindowArgmax(&windows(m, 0), window_size, kEmptyWindow, key_of);
    raw[m] = code;
    non_empty += code != kEmptyWindow;
  }
  return non_empty;
}

}  // namespace

namespace functor {

template <typename T>
struct WtaDensifiedHash<CPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  TTypes<int32_t>::ConstMatrix windows, int64_t max_probes,
                  TTypes<int32_t>::Matrix codes) {
    const int64_t batch = x.dimension(0);
    const int64_t num_hashes = windows.dimension(0);
    if (batch == 0 || num_hashes == 0) return;
    // Cost per row: the scattered loads of every window, plus a few probes
    // per empty window (their expected number is small unless nearly every
    // window is empty).
    const int64_t dim = x.dimension(1);
    const int64_t cost_per_row = num_hashes * (4 * windows.dimension(1) + 8);
    // Converting the whole row to keys first (D conversions) beats
    // converting each window entry (M * K) unless the windows touch few of
    // the D columns.
    const bool keys_first = dim <= 2 * num_hashes * windows.dimension(1);
    WorkerPool(ctx)->ParallelFor(
        batch, cost_per_row, [&](int64_t begin, int64_t end) {
          std::vector<int32_t> raw(num_hashes);
          std::vector<int32_t> keys(keys_first ? dim : 0);
          for (int64_t b = begin; b < end; ++b) {
            int32_t* out = &codes(b, 0);
            const T* row = &x(b, 0);
            int64_t non_empty;
            if (keys_first) {
              for (int64_t d = 0; d < dim; ++d) {
                keys[d] = DensifiedKey(static_cast<float>(row[d]));
              }
              const int32_t* row_keys = keys.data();
              non_empty = RawCodes([row_keys](int32_t d) { return row_keys[d]; },
                                   windows, raw.data());
            } else {
              non_empty = RawCodes(
                  [row](int32_t d) {
                    return DensifiedKey(static_cast<float>(row[d]));
                  },
                  windows, raw.data());
            }
            if (non_empty == 0) {
              // No window to borrow from: every probe would fail.
              std::fill(out, out + num_hashes, 0);
              continue;
            }
            for (int64_t m = 0; m < num_hashes; ++m) {
              out[m] = DensifiedCode(raw.data(), num_hashes, m, max_probes);
            }
          }
        });
  }
};

}  // namespace functor

namespace {

template <typename Device, typename T>
class WtaDensifiedHashOp : public OpKernel {
 public:
  explicit WtaDensifiedHashOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("max_probes", &max_probes_));
    OP_REQUIRES(ctx, max_probes_ >= 1 && max_probes_ <= INT32_MAX,
                errors::InvalidArgument("max_probes must be in [1, 2**31 - 1], "
                                        "got ", max_probes_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& windows = ctx->input(1);
    // Probes index windows with a uint32 hash modulo M.
    OP_REQUIRES(ctx, windows.dims() != 2 || windows.dim_size(0) <= INT32_MAX,
                errors::InvalidArgument("windows has ", windows.dim_size(0),
                                        " rows; at most 2**31 - 1 are supported"));
    Tensor* codes = nullptr;
    OP_REQUIRES_OK(ctx, CheckAndAllocateHashCodes<Device>(ctx, x, windows, &codes));
    functor::WtaDensifiedHash<Device, T>()(ctx, x.matrix<T>(),
                                           windows.matrix<int32_t>(),
                                           max_probes_, codes->matrix<int32_t>());
  }

 private:
  int64_t max_probes_;
};

}  // namespace

#define REGISTER_WTA_DENSIFIED_HASH(DEVICE_TYPE, DEVICE, T)                  \
  REGISTER_KERNEL_BUILDER(                                                   \
      Name("WtaDensifiedHash").Device(DEVICE_TYPE).TypeConstraint<T>("T"),   \
      WtaDensifiedHashOp<DEVICE, T>);

#define REGISTER_WTA_DENSIFIED_HASH_CPU(T) \
  REGISTER_WTA_DENSIFIED_HASH(DEVICE_CPU, CPUDevice, T)
TF_WTA_CALL_HASH_TYPES(REGISTER_WTA_DENSIFIED_HASH_CPU);

#if GOOGLE_CUDA
#define DECLARE_GPU_WTA_DENSIFIED_HASH(T) \
  extern template struct functor::WtaDensifiedHash<GPUDevice, T>;
TF_WTA_CALL_HASH_TYPES(DECLARE_GPU_WTA_DENSIFIED_HASH);

#define REGISTER_WTA_DENSIFIED_HASH_GPU(T) \
  REGISTER_WTA_DENSIFIED_HASH(DEVICE_GPU, GPUDevice, T)
TF_WTA_CALL_HASH_TYPES(REGISTER_WTA_DENSIFIED_HASH_GPU);
#endif  // GOOGLE_CUDA

}  // namespace wta
}  // namespace tensorflow
