// WtaHash and WtaBuckets: op kernels (all devices) and CPU functors.
#define EIGEN_USE_THREADS

#include "cc/kernels/wta_hash.h"

#include <algorithm>
#include <vector>

#include "cc/kernels/input_checks.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/platform/threadpool.h"

namespace tensorflow {
namespace wta {

using CPUDevice = Eigen::ThreadPoolDevice;
using GPUDevice = Eigen::GpuDevice;

namespace {

// Rows hashed together by the tiled CPU path: the tile is transposed to
// [D, kTileRows] keys so the argmax over a window runs on kTileRows lanes.
constexpr int kTileRows = 16;

thread::ThreadPool* WorkerPool(OpKernelContext* ctx) {
  return ctx->device()->tensorflow_cpu_worker_threads()->workers;
}

// The tiled path pays D key conversions per row to save M * K scattered
// loads; it wins unless the windows touch few of the D columns or the batch
// is too small to fill a tile.
bool UseTiledPath(int64_t batch, int64_t dim, int64_t num_hashes,
                  int64_t window_size) {
  return batch >= kTileRows / 2 && dim <= 2 * num_hashes * window_size;
}

template <typename T>
void HashRows(typename TTypes<T>::ConstMatrix x,
              TTypes<int32_t>::ConstMatrix windows,
              TTypes<int32_t>::Matrix codes, int64_t begin, int64_t end) {
  const int64_t num_hashes = windows.dimension(0);
  const int64_t window_size = windows.dimension(1);
  for (int64_t b = begin; b < end; ++b) {
    const T* row = &x(b, 0);
    for (int64_t m = 0; m < num_hashes; ++m) {
      const int32_t* window = &windows(m, 0);
      int32_t best = OrderKey(static_cast<float>(row[window[0]]));
      int32_t code = 0;
      for (int64_t k = 1; k < window_size; ++k) {
        const int32_t key = OrderKey(static_cast<float>(row[window[k]]));
        if (key > best) {
          best = key;
          code = static_cast<int32_t>(k);
        }
      }
      codes(b, m) = code;
    }
  }
}

// Argmax over every window for one tile of transposed keys [D, kTileRows]:
// writes tile_codes[m * kTileRows + j] for lane j. Built for AVX2 and for the
// baseline ISA; the loader picks the one this CPU supports.
__attribute__((target_clones("avx2", "default"))) void TileArgmax(
    const int32_t* keys, const int32_t* windows, int64_t num_hashes,
    int64_t window_size, int32_t* tile_codes) {
  for (int64_t m = 0; m < num_hashes; ++m) {
    const int32_t* window = windows + m * window_size;
    int32_t best[kTileRows];
    int32_t code[kTileRows];
    const int32_t* first = keys + static_cast<int64_t>(window[0]) * kTileRows;
    for (int j = 0; j < kTileRows; ++j) {
      best[j] = first[j];
      code[j] = 0;
    }
    for (int64_t k = 1; k < window_size; ++k) {
      const int32_t* lane = keys + static_cast<int64_t>(window[k]) * kTileRows;
      const int32_t kk = static_cast<int32_t>(k);
      for (int j = 0; j < kTileRows; ++j) {
        const bool wins = lane[j] > best[j];
        best[j] = wins ? lane[j] : best[j];
        code[j] = wins ? kk : code[j];
      }
    }
    for (int j = 0; j < kTileRows; ++j) tile_codes[m * kTileRows + j] = code[j];
  }
}

// Hashes rows [first_row, first_row + kTileRows) clipped to the batch;
// `scratch` holds D * kTileRows keys then M * kTileRows codes.
template <typename T>
void HashTile(typename TTypes<T>::ConstMatrix x,
              TTypes<int32_t>::ConstMatrix windows,
              TTypes<int32_t>::Matrix codes, int64_t first_row,
              int32_t* scratch) {
  const int64_t dim = x.dimension(1);
  const int64_t num_hashes = windows.dimension(0);
  const int64_t rows = std::min<int64_t>(kTileRows, x.dimension(0) - first_row);
  int32_t* keys = scratch;
  int32_t* tile_codes = scratch + dim * kTileRows;
  for (int64_t j = 0; j < kTileRows; ++j) {
    if (j < rows) {
      const T* row = &x(first_row + j, 0);
      for (int64_t d = 0; d < dim; ++d) {
        keys[d * kTileRows + j] = OrderKey(static_cast<float>(row[d]));
      }
    } else {
      for (int64_t d = 0; d < dim; ++d) keys[d * kTileRows + j] = 0;
    }
  }
  TileArgmax(keys, windows.data(), num_hashes, windows.dimension(1), tile_codes);
  for (int64_t j = 0; j < rows; ++j) {
    for (int64_t m = 0; m < num_hashes; ++m) {
      codes(first_row + j, m) = tile_codes[m * kTileRows + j];
    }
  }
}

}  // namespace

namespace functor {

template <typename T>
struct WtaHash<CPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  TTypes<int32_t>::ConstMatrix windows,
                  TTypes<int32_t>::Matrix codes) {
    const int64_t batch = x.dimension(0);
    const int64_t dim = x.dimension(1);
    const int64_t num_hashes = windows.dimension(0);
    const int64_t window_size = windows.dimension(1);
    if (batch == 0 || num_hashes == 0) return;
    const int64_t work_per_row = num_hashes * window_size;
    if (!UseTiledPath(batch, dim, num_hashes, window_size)) {
      WorkerPool(ctx)->ParallelFor(
          batch, 4 * work_per_row, [&](int64_t begin, int64_t end) {
            HashRows<T>(x, windows, codes, begin, end);
          });
      return;
    }
    const int64_t num_tiles = (batch + kTileRows - 1) / kTileRows;
    WorkerPool(ctx)->ParallelFor(
        num_tiles, kTileRows * (2 * dim + work_per_row),
        [&](int64_t begin, int64_t end) {
          std::vector<int32_t> scratch((dim + num_hashes) * kTileRows);
          for (int64_t tile = begin; tile < end; ++tile) {
            HashTile<T>(x, windows, codes, tile * kTileRows, scratch.data());
          }
        });
  }
};

template <>
void WtaBuckets<CPUDevice>::operator()(OpKernelContext* ctx,
                                       TTypes<int32_t>::ConstMatrix codes,
                                       int32_t window_size,
                                       int32_t codes_per_table,
                                       TTypes<int32_t>::Matrix buckets) {
  const int64_t num_tables = buckets.dimension(1);
  WorkerPool(ctx)->ParallelFor(
      codes.dimension(0), 2 * codes.dimension(1),
      [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          for (int64_t t = 0; t < num_tables; ++t) {
            int32_t bucket = 0;
            for (int32_t j = codes_per_table - 1; j >= 0; --j) {
              bucket = bucket * window_size + codes(b, t * codes_per_table + j);
            }
            buckets(b, t) = bucket;
          }
        }
      });
}

}  // namespace functor

namespace {

// First (row, column) of `matrix` whose value is outside [0, limit), or
// false when there is none.
bool FindOutOfRange(TTypes<int32_t>::ConstMatrix matrix, int64_t limit,
                    int64_t* row, int64_t* col) {
  for (int64_t r = 0; r < matrix.dimension(0); ++r) {
    for (int64_t c = 0; c < matrix.dimension(1); ++c) {
      const int32_t v = matrix(r, c);
      if (v < 0 || v >= limit) {
        *row = r;
        *col = c;
        return true;
      }
    }
  }
  return false;
}

template <typename Device, typename T>
class WtaHashOp : public OpKernel {
 public:
  explicit WtaHashOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& windows = ctx->input(1);
    OP_REQUIRES_OK(ctx, CheckMatrix(x, "x"));
    OP_REQUIRES_OK(ctx, CheckMatrix(windows, "windows"));
    const int64_t dim = x.dim_size(1);
    const int64_t window_size = windows.dim_size(1);
    OP_REQUIRES(ctx, window_size >= 1,
                errors::InvalidArgument(
                    "windows must have at least one column (window_size >= "
                    "1), got shape ", windows.shape().DebugString()));
    OP_REQUIRES(ctx, dim >= 1,
                errors::InvalidArgument("x must have at least one column, got "
                                        "shape ", x.shape().DebugString()));
    OP_REQUIRES(ctx, dim <= INT32_MAX,
                errors::InvalidArgument("x has ", dim, " columns; windows are "
                                        "int32, so at most 2**31 - 1 fit"));
    if constexpr (std::is_same<Device, CPUDevice>::value) {
      int64_t row, col;
      OP_REQUIRES(ctx,
                  !FindOutOfRange(windows.matrix<int32_t>(), dim, &row, &col),
                  errors::InvalidArgument(
                      "windows[", row, ", ", col, "] = ",
                      windows.matrix<int32_t>()(row, col),
                      " is outside [0, D) for x of shape ",
                      x.shape().DebugString()));
    }
    Tensor* codes = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
                            0, TensorShape({x.dim_size(0), windows.dim_size(0)}),
                            &codes));
    functor::WtaHash<Device, T>()(ctx, x.matrix<T>(), windows.matrix<int32_t>(),
                                  codes->matrix<int32_t>());
  }
};

template <typename Device>
class WtaBucketsOp : public OpKernel {
 public:
  explicit WtaBucketsOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("window_size", &window_size_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("codes_per_table", &codes_per_table_));
    int64_t num_buckets;
    OP_REQUIRES_OK(ctx, NumBuckets(window_size_, codes_per_table_, &num_buckets));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& codes = ctx->input(0);
    OP_REQUIRES_OK(ctx, CheckMatrix(codes, "codes"));
    const int64_t num_hashes = codes.dim_size(1);
    OP_REQUIRES(ctx, num_hashes % codes_per_table_ == 0,
                errors::InvalidArgument(
                    "codes has ", num_hashes, " columns, which codes_per_table=",
                    codes_per_table_, " does not divide"));
    if constexpr (std::is_same<Device, CPUDevice>::value) {
      int64_t row, col;
      OP_REQUIRES(ctx,
                  !FindOutOfRange(codes.matrix<int32_t>(), window_size_, &row,
                                  &col),
                  errors::InvalidArgument(
                      "codes[", row, ", ", col, "] = ",
                      codes.matrix<int32_t>()(row, col),
                      " is outside [0, window_size=", window_size_, ")"));
    }
    Tensor* buckets = nullptr;
    OP_REQUIRES_OK(
        ctx, ctx->allocate_output(
                 0,
                 TensorShape({codes.dim_size(0), num_hashes / codes_per_table_}),
                 &buckets));
    if (buckets->NumElements() == 0) return;
    functor::WtaBuckets<Device>()(ctx, codes.matrix<int32_t>(), window_size_,
                                  codes_per_table_, buckets->matrix<int32_t>());
  }

 private:
  int32_t window_size_;
  int32_t codes_per_table_;
};

}  // namespace

#define REGISTER_WTA_HASH(DEVICE_TYPE, DEVICE, T)                          \
  REGISTER_KERNEL_BUILDER(                                                 \
      Name("WtaHash").Device(DEVICE_TYPE).TypeConstraint<T>("T"),          \
      WtaHashOp<DEVICE, T>);

#define REGISTER_WTA_HASH_CPU(T) REGISTER_WTA_HASH(DEVICE_CPU, CPUDevice, T)
TF_CALL_float(REGISTER_WTA_HASH_CPU);
TF_CALL_half(REGISTER_WTA_HASH_CPU);
TF_CALL_bfloat16(REGISTER_WTA_HASH_CPU);
REGISTER_KERNEL_BUILDER(Name("WtaBuckets").Device(DEVICE_CPU),
                        WtaBucketsOp<CPUDevice>);

#if GOOGLE_CUDA
#define DECLARE_GPU_WTA_HASH(T) \
  extern template struct functor::WtaHash<GPUDevice, T>;
TF_CALL_float(DECLARE_GPU_WTA_HASH);
TF_CALL_half(DECLARE_GPU_WTA_HASH);
TF_CALL_bfloat16(DECLARE_GPU_WTA_HASH);
template <>
void functor::WtaBuckets<GPUDevice>::operator()(
    OpKernelContext* ctx, TTypes<int32_t>::ConstMatrix codes,
    int32_t window_size, int32_t codes_per_table,
    TTypes<int32_t>::Matrix buckets);

#define REGISTER_WTA_HASH_GPU(T) REGISTER_WTA_HASH(DEVICE_GPU, GPUDevice, T)
TF_CALL_float(REGISTER_WTA_HASH_GPU);
TF_CALL_half(REGISTER_WTA_HASH_GPU);
TF_CALL_bfloat16(REGISTER_WTA_HASH_GPU);
REGISTER_KERNEL_BUILDER(Name("WtaBuckets").Device(DEVICE_GPU),
                        WtaBucketsOp<GPUDevice>);
#endif  // GOOGLE_CUDA

}  // namespace wta
}  // namespace tensorflow
