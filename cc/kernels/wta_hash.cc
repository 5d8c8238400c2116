// WtaHash and WtaBuckets: op kernels (all devices) and CPU functors.
#define EIGEN_USE_THREADS

#include "cc/kernels/wta_hash.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TF_WTA_AVX2_KEYS 1
#endif

#include "cc/kernels/cpu_loops.h"
#include "cc/kernels/op_kernel_common.h"

namespace tensorflow {
namespace wta {
namespace {

// Rows hashed together by the tiled CPU path: the tile is transposed to
// [D, kTileRows] keys so the argmax over a window runs on kTileRows lanes.
constexpr int kTileRows = 16;

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
    const auto key_of = [row](int32_t d) {
      return OrderKey(static_cast<float>(row[d]));
    };
    for (int64_t m = 0; m < num_hashes; ++m) {
      codes(b, m) = WindowArgmax(&windows(m, 0), window_size, 0, key_of);
    }
  }
}

// Argmax over every window for one tile of transposed keys [D, kTileRows]:
// writes tile_codes[m * kTileRows + j] for lane j. The portable version, used
// where TileArgmaxAvx2 (below) is not.
void TileArgmax(
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

#ifdef TF_WTA_AVX2_KEYS
// The key conversion and the transposition to [D, kTileRows] dominate the
// tiled path; in AVX2 registers they take 8 x 8 blocks (8 rows x 8 columns)
// at a time instead of one scalar and one strided store per element. Built
// with the AVX2 target attribute and called only where UseSimdKernels().

// OrderKey on 8 lanes: NaN -> INT32_MIN, -0.0 -> key of +0.0. Like OrderKey,
// -0.0 is canonicalised on the bits: adding 0.0f would flush denormals to
// zero on TensorFlow's threads (DAZ) and tie them with 0.
__attribute__((target("avx2"))) inline __m256i OrderKeys8(__m256 value) {
  const __m256i raw = _mm256_castps_si256(value);
  const __m256i negative_zero = _mm256_cmpeq_epi32(raw, _mm256_set1_epi32(INT32_MIN));
  const __m256i bits = _mm256_andnot_si256(negative_zero, raw);
  const __m256i flip = _mm256_and_si256(_mm256_srai_epi32(bits, 31),
                                        _mm256_set1_epi32(0x7fffffff));
  const __m256i key = _mm256_xor_si256(bits, flip);
  const __m256 nan = _mm256_cmp_ps(value, value, _CMP_UNORD_Q);
  return _mm256_blendv_epi8(key, _mm256_set1_epi32(kNeverWinsKey),
                            _mm256_castps_si256(nan));
}

// keys[d * kTileRows + j] = OrderKey(x[j * dim + d]) for kTileRows rows.
__attribute__((target("avx2"))) void TransposedKeysAvx2(const float* x,
                                                        int64_t dim,
                                                        int32_t* keys) {
  static_assert(kTileRows % 8 == 0, "rows go in blocks of 8");
  const int64_t full = dim - dim % 8;
  for (int64_t j0 = 0; j0 < kTileRows; j0 += 8) {
    for (int64_t d0 = 0; d0 < full; d0 += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) {
        r[i] = _mm256_castsi256_ps(
            OrderKeys8(_mm256_loadu_ps(x + (j0 + i) * dim + d0)));
      }
      // 8 x 8 transpose: row i, column c -> t[c], lane i.
      const __m256 a0 = _mm256_unpacklo_ps(r[0], r[1]);
      const __m256 a1 = _mm256_unpackhi_ps(r[0], r[1]);
      const __m256 a2 = _mm256_unpacklo_ps(r[2], r[3]);
      const __m256 a3 = _mm256_unpackhi_ps(r[2], r[3]);
      const __m256 a4 = _mm256_unpacklo_ps(r[4], r[5]);
      const __m256 a5 = _mm256_unpackhi_ps(r[4], r[5]);
      const __m256 a6 = _mm256_unpacklo_ps(r[6], r[7]);
      const __m256 a7 = _mm256_unpackhi_ps(r[6], r[7]);
      const __m256 b0 = _mm256_shuffle_ps(a0, a2, 0x44);
      const __m256 b1 = _mm256_shuffle_ps(a0, a2, 0xEE);
      const __m256 b2 = _mm256_shuffle_ps(a1, a3, 0x44);
      const __m256 b3 = _mm256_shuffle_ps(a1, a3, 0xEE);
      const __m256 b4 = _mm256_shuffle_ps(a4, a6, 0x44);
      const __m256 b5 = _mm256_shuffle_ps(a4, a6, 0xEE);
      const __m256 b6 = _mm256_shuffle_ps(a5, a7, 0x44);
      const __m256 b7 = _mm256_shuffle_ps(a5, a7, 0xEE);
      const __m256 t[8] = {
          _mm256_permute2f128_ps(b0, b4, 0x20),
          _mm256_permute2f128_ps(b1, b5, 0x20),
          _mm256_permute2f128_ps(b2, b6, 0x20),
          _mm256_permute2f128_ps(b3, b7, 0x20),
          _mm256_permute2f128_ps(b0, b4, 0x31),
          _mm256_permute2f128_ps(b1, b5, 0x31),
          _mm256_permute2f128_ps(b2, b6, 0x31),
          _mm256_permute2f128_ps(b3, b7, 0x31)};
      for (int c = 0; c < 8; ++c) {
        float* out = reinterpret_cast<float*>(keys + (d0 + c) * kTileRows + j0);
        _mm256_storeu_ps(out, t[c]);
      }
    }
    for (int64_t d = full; d < dim; ++d) {
      for (int64_t i = 0; i < 8; ++i) {
        keys[d * kTileRows + j0 + i] = OrderKey(x[(j0 + i) * dim + d]);
      }
    }
  }
}

// TileArgmax on AVX2 registers: the compiler keeps the scalar version's 16
// lanes in scalar registers, so it is written out here (two 8-lane halves).
__attribute__((target("avx2"))) void TileArgmaxAvx2(
    const int32_t* keys, const int32_t* windows, int64_t num_hashes,
    int64_t window_size, int32_t* tile_codes) {
  static_assert(kTileRows == 16, "two 8-lane halves");
  for (int64_t m = 0; m < num_hashes; ++m) {
    const int32_t* window = windows + m * window_size;
    const int32_t* first = keys + static_cast<int64_t>(window[0]) * kTileRows;
    __m256i best0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(first));
    __m256i best1 =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(first + 8));
    __m256i code0 = _mm256_setzero_si256();
    __m256i code1 = _mm256_setzero_si256();
    for (int64_t k = 1; k < window_size; ++k) {
      const int32_t* lane = keys + static_cast<int64_t>(window[k]) * kTileRows;
      const __m256i key0 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lane));
      const __m256i key1 =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lane + 8));
      const __m256i kk = _mm256_set1_epi32(static_cast<int32_t>(k));
      const __m256i wins0 = _mm256_cmpgt_epi32(key0, best0);  // ties: first k
      const __m256i wins1 = _mm256_cmpgt_epi32(key1, best1);
      best0 = _mm256_max_epi32(best0, key0);
      best1 = _mm256_max_epi32(best1, key1);
      code0 = _mm256_blendv_epi8(code0, kk, wins0);
      code1 = _mm256_blendv_epi8(code1, kk, wins1);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile_codes + m * kTileRows),
                        code0);
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(tile_codes + m * kTileRows + 8), code1);
  }
}
#endif  // TF_WTA_AVX2_KEYS

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
  bool filled = false;
#ifdef TF_WTA_AVX2_KEYS
  if constexpr (std::is_same<T, float>::value) {
    if (rows == kTileRows && UseSimdKernels()) {
      TransposedKeysAvx2(&x(first_row, 0), dim, keys);
      filled = true;
    }
  }
#endif
  for (int64_t j = 0; j < kTileRows && !filled; ++j) {
    if (j < rows) {
      const T* row = &x(first_row + j, 0);
      for (int64_t d = 0; d < dim; ++d) {
        keys[d * kTileRows + j] = OrderKey(static_cast<float>(row[d]));
      }
    } else {
      for (int64_t d = 0; d < dim; ++d) keys[d * kTileRows + j] = 0;
    }
  }
#ifdef TF_WTA_AVX2_KEYS
  if (UseSimdKernels()) {
    TileArgmaxAvx2(keys, windows.data(), num_hashes, windows.dimension(1),
                   tile_codes);
  } else {
    TileArgmax(keys, windows.data(), num_hashes, windows.dimension(1),
               tile_codes);
  }
#else
  TileArgmax(keys, windows.data(), num_hashes, windows.dimension(1), tile_codes);
#endif
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

template <typename Device, typename T>
class WtaHashOp : public OpKernel {
 public:
  explicit WtaHashOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& windows = ctx->input(1);
    Tensor* codes = nullptr;
    OP_REQUIRES_OK(ctx, CheckAndAllocateHashCodes<Device>(ctx, x, windows, &codes));
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
      OP_REQUIRES_OK(ctx, CheckInRange(WorkerPool(ctx), codes, "codes", 0,
                                       window_size_,
                                       UpTo("window_size", window_size_)));
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
TF_WTA_CALL_HASH_TYPES(REGISTER_WTA_HASH_CPU);
REGISTER_KERNEL_BUILDER(Name("WtaBuckets").Device(DEVICE_CPU),
                        WtaBucketsOp<CPUDevice>);

#if GOOGLE_CUDA
#define DECLARE_GPU_WTA_HASH(T) \
  extern template struct functor::WtaHash<GPUDevice, T>;
TF_WTA_CALL_HASH_TYPES(DECLARE_GPU_WTA_HASH);
extern template struct functor::WtaBuckets<GPUDevice>;

#define REGISTER_WTA_HASH_GPU(T) REGISTER_WTA_HASH(DEVICE_GPU, GPUDevice, T)
TF_WTA_CALL_HASH_TYPES(REGISTER_WTA_HASH_GPU);
REGISTER_KERNEL_BUILDER(Name("WtaBuckets").Device(DEVICE_GPU),
                        WtaBucketsOp<GPUDevice>);
#endif  // GOOGLE_CUDA

}  // namespace wta
}  // namespace tensorflow
