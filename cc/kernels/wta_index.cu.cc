// WtaBuildIndex, WtaQueryIndex and WtaQueryIndexPooled: CUDA functors.
//
// Build: one radix sort of all L * N (table, bucket) keys with the unit ids
// as values; the sort is stable and the ids start ascending, so each table
// comes out in (bucket, unit) order, as on the CPU.
// Query: rows are processed in chunks; for each row a block per table finds
// the bucket's range by binary search and counts collisions in a dense
// per-row count array, listing each unit the first time it is hit; a
// segmented radix sort of (L - count, unit) keys per row then gives the
// CPU's order exactly, and the first C are written out.
// Pooled query: a block per (row, table) adds its bucket's units to one
// count array of N with atomics; a radix sort of (max - count, unit) keys
// over all N units gives the CPU's order.
//
// The GPU kernels cannot report a bad value without a host sync, so they
// follow the documented safe behaviour instead: a unit bucket outside
// [0, num_buckets) is stored as kNoBucket (the unit is in no bucket of that
// table), a query bucket outside [0, num_buckets) matches nothing, and an
// index unit id outside [0, N) is skipped. Nothing is read out of bounds.
#if GOOGLE_CUDA
#define EIGEN_USE_GPU

#include "cc/kernels/wta_index.h"

#include <algorithm>

#include "cc/kernels/gpu_kernel_common.h"
#include "cub/device/device_radix_sort.cuh"
#include "cub/device/device_segmented_radix_sort.cuh"

namespace tensorflow {
namespace wta {
namespace {

// Threads of a block that counts the units of one bucket.
constexpr int kCountThreads = 256;

// Count and key scratch of the query: at most this many row-by-unit entries
// (24 bytes each) at once, so memory stays bounded for any batch.
constexpr int64_t kQueryScratchEntries = int64_t{1} << 25;

int BitWidth(uint64_t value) {
  int bits = 0;
  while (value >> bits) ++bits;
  return bits;
}

// keys[t * N + n] = t * (num_buckets + 1) + bucket of unit n in table t,
// with num_buckets standing for an out-of-range bucket; units[.] = n.
__global__ void BuildKeysKernel(const int32_t* __restrict__ unit_buckets,
                                int64_t num_units, int64_t num_tables,
                                int32_t num_buckets,
                                uint64_t* __restrict__ keys,
                                int32_t* __restrict__ units) {
  for (const int64_t i : GpuGridRangeX<int64_t>(num_units * num_tables)) {
    const int64_t t = i / num_units;
    const int64_t n = i - t * num_units;
    const int32_t bucket = unit_buckets[n * num_tables + t];
    const uint64_t key = (bucket >= 0 && bucket < num_buckets)
                             ? static_cast<uint64_t>(bucket)
                             : static_cast<uint64_t>(num_buckets);
    keys[i] =
        static_cast<uint64_t>(t) * (static_cast<uint64_t>(num_buckets) + 1) +
        key;
    units[i] = static_cast<int32_t>(n);
  }
}

__global__ void UnpackKeysKernel(const uint64_t* __restrict__ keys,
                                 int64_t num_units, int64_t total,
                                 int32_t num_buckets,
                                 int32_t* __restrict__ sorted_buckets) {
  for (const int64_t i : GpuGridRangeX<int64_t>(total)) {
    const uint64_t t = static_cast<uint64_t>(i / num_units);
    const uint64_t key = keys[i] - t * (static_cast<uint64_t>(num_buckets) + 1);
    sorted_buckets[i] = key >= static_cast<uint64_t>(num_buckets)
                            ? kNoBucket
                            : static_cast<int32_t>(key);
  }
}

__global__ void FillKernel(int32_t* __restrict__ out, int64_t total,
                           int32_t value) {
  for (const int64_t i : GpuGridRangeX<int64_t>(total)) out[i] = value;
}

// Block-wide: range = [first, last) of the entries of `query` in keys[0, n)
// (sorted ascending), last cut to first + max_bucket_size when that is >= 0.
// Every thread of the block must call it.
__device__ void BucketRange(const int32_t* __restrict__ keys, int64_t n,
                            int32_t query, int64_t max_bucket_size,
                            int64_t* range) {
  if (threadIdx.x < 2) {
    // Thread 0: first key >= query; thread 1: first key > query.
    int64_t lo = 0, hi = n;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      const bool go_right =
          threadIdx.x == 0 ? keys[mid] < query : keys[mid] <= query;
      if (go_right) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    range[threadIdx.x] = lo;
  }
  __syncthreads();
  if (threadIdx.x == 0 && max_bucket_size >= 0) {
    range[1] = min(range[1], range[0] + max_bucket_size);
  }
  __syncthreads();
}

// One block per (row r of the chunk, table t): counts the units of the
// query's bucket in counts[r * N + unit], listing new ones in touched.
__global__ void CountKernel(const int32_t* __restrict__ query_buckets,
                            const int32_t* __restrict__ sorted_buckets,
                            const int32_t* __restrict__ sorted_units,
                            int64_t first_row, int64_t num_tables,
                            int64_t num_units, int32_t num_buckets,
                            int64_t max_bucket_size,
                            int32_t* __restrict__ counts,
                            int32_t* __restrict__ touched,
                            int32_t* __restrict__ touched_count) {
  const int64_t r = blockIdx.x / num_tables;
  const int64_t t = blockIdx.x - r * num_tables;
  const int32_t query = query_buckets[(first_row + r) * num_tables + t];
  if (query < 0 || query >= num_buckets) return;
  __shared__ int64_t range[2];
  BucketRange(sorted_buckets + t * num_units, num_units, query,
              max_bucket_size, range);
  const int32_t* units = sorted_units + t * num_units;
  int32_t* row_counts = counts + r * num_units;
  for (int64_t i = range[0] + threadIdx.x; i < range[1]; i += blockDim.x) {
    const int32_t unit = units[i];
    if (unit < 0 || unit >= num_units) continue;
    if (atomicAdd(row_counts + unit, 1) == 0) {
      touched[r * num_units + atomicAdd(touched_count + r, 1)] = unit;
    }
  }
}

// Sort keys (L - count) << 32 | unit: ascending order is count descending,
// then unit ascending. Also writes each row's segment bounds.
__global__ void RankKeysKernel(const int32_t* __restrict__ counts,
                               const int32_t* __restrict__ touched,
                               const int32_t* __restrict__ touched_count,
                               int64_t rows, int64_t num_units,
                               int64_t num_tables, uint64_t* __restrict__ keys,
                               int* __restrict__ begins,
                               int* __restrict__ ends) {
  for (const int64_t i : GpuGridRangeX<int64_t>(rows * num_units)) {
    const int64_t r = i / num_units;
    const int64_t j = i - r * num_units;
    if (j == 0) {
      begins[r] = static_cast<int>(i);
      ends[r] = static_cast<int>(i + touched_count[r]);
    }
    if (j < touched_count[r]) {
      const int32_t unit = touched[i];
      const int64_t count =
          min(static_cast<int64_t>(counts[r * num_units + unit]), num_tables);
      keys[i] = (static_cast<uint64_t>(num_tables - count) << 32) |
                static_cast<uint32_t>(unit);
    }
  }
}

// One block per (row, table): adds the units of the row's bucket to the
// batch's counts[unit].
__global__ void PooledCountKernel(const int32_t* __restrict__ query_buckets,
                                  const int32_t* __restrict__ sorted_buckets,
                                  const int32_t* __restrict__ sorted_units,
                                  int64_t num_tables, int64_t num_units,
                                  int32_t num_buckets, int64_t max_bucket_size,
                                  int32_t* __restrict__ counts) {
  const int64_t t = blockIdx.x % num_tables;
  const int32_t query = query_buckets[blockIdx.x];
  if (query < 0 || query >= num_buckets) return;
  __shared__ int64_t range[2];
  BucketRange(sorted_buckets + t * num_units, num_units, query,
              max_bucket_size, range);
  const int32_t* units = sorted_units + t * num_units;
  for (int64_t i = range[0] + threadIdx.x; i < range[1]; i += blockDim.x) {
    const int32_t unit = units[i];
    if (unit >= 0 && unit < num_units) atomicAdd(counts + unit, 1);
  }
}

// keys[n] = (max_count - counts[n]) << 32 | n: ascending order is count
// descending, then unit ascending.
__global__ void PooledRankKeysKernel(const int32_t* __restrict__ counts,
                                     int64_t num_units, int64_t max_count,
                                     uint64_t* __restrict__ keys) {
  for (const int64_t n : GpuGridRangeX<int64_t>(num_units)) {
    keys[n] = (static_cast<uint64_t>(max_count - counts[n]) << 32) |
              static_cast<uint32_t>(n);
  }
}

__global__ void WritePooledCandidatesKernel(const uint64_t* __restrict__ keys,
                                            int64_t num_units,
                                            int64_t max_count,
                                            int64_t num_candidates,
                                            int32_t* __restrict__ candidates) {
  for (const int64_t c : GpuGridRangeX<int64_t>(num_candidates)) {
    const bool hit = c < num_units &&
                     static_cast<int64_t>(keys[c] >> 32) < max_count;
    candidates[c] = hit ? static_cast<int32_t>(keys[c] & 0xffffffffu) : -1;
  }
}

__global__ void WriteCandidatesKernel(const uint64_t* __restrict__ keys,
                                      const int32_t* __restrict__ touched_count,
                                      int64_t rows, int64_t num_units,
                                      int64_t num_candidates,
                                      int32_t* __restrict__ candidates) {
  for (const int64_t i : GpuGridRangeX<int64_t>(rows * num_candidates)) {
    const int64_t r = i / num_candidates;
    const int64_t c = i - r * num_candidates;
    candidates[i] =
        c < touched_count[r]
            ? static_cast<int32_t>(keys[r * num_units + c] & 0xffffffffu)
            : -1;
  }
}

// Scratch tensor of `bytes` bytes.
absl::Status AllocateBytes(OpKernelContext* ctx, int64_t bytes,
                           Tensor* tensor) {
  return ctx->allocate_temp(DT_INT8, TensorShape({std::max<int64_t>(bytes, 1)}),
                            tensor);
}

template <typename T>
T* Data(Tensor* tensor) {
  return reinterpret_cast<T*>(tensor->flat<int8_t>().data());
}

}  // namespace

namespace functor {

template <>
void WtaBuildIndex<GPUDevice>::operator()(
    OpKernelContext* ctx, TTypes<int32_t>::ConstMatrix unit_buckets,
    int32_t num_buckets, TTypes<int32_t>::Matrix sorted_buckets,
    TTypes<int32_t>::Matrix sorted_units) {
  const int64_t num_units = unit_buckets.dimension(0);
  const int64_t num_tables = unit_buckets.dimension(1);
  const int64_t total = num_units * num_tables;
  const cudaStream_t stream = ctx->eigen_gpu_device().stream();
  Tensor keys_in, keys_out, units_in;
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, total * 8, &keys_in));
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, total * 8, &keys_out));
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, total * 4, &units_in));
  OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, total, BuildKeysKernel,
                                       unit_buckets.data(), num_units,
                                       num_tables, num_buckets,
                                       Data<uint64_t>(&keys_in),
                                       Data<int32_t>(&units_in)));
  const int end_bit = BitWidth(static_cast<uint64_t>(num_tables) *
                                   (static_cast<uint64_t>(num_buckets) + 1) -
                               1);
  OP_REQUIRES_OK(
      ctx, RunCub(ctx, "cub::DeviceRadixSort::SortPairs",
                  [&](void* scratch, size_t& scratch_bytes) {
                    return cub::DeviceRadixSort::SortPairs(
                        scratch, scratch_bytes, Data<uint64_t>(&keys_in),
                        Data<uint64_t>(&keys_out), Data<int32_t>(&units_in),
                        sorted_units.data(), total, 0, end_bit, stream);
                  }));
  OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, total, UnpackKeysKernel,
                                       Data<uint64_t>(&keys_out), num_units,
                                       total, num_buckets,
                                       sorted_buckets.data()));
}

template <>
void WtaQueryIndex<GPUDevice>::operator()(
    OpKernelContext* ctx, TTypes<int32_t>::ConstMatrix query_buckets,
    TTypes<int32_t>::ConstMatrix sorted_buckets,
    TTypes<int32_t>::ConstMatrix sorted_units, int32_t num_buckets,
    int64_t max_bucket_size, TTypes<int32_t>::Matrix candidates) {
  const int64_t batch = query_buckets.dimension(0);
  const int64_t num_tables = sorted_buckets.dimension(0);
  const int64_t num_units = sorted_buckets.dimension(1);
  const int64_t num_candidates = candidates.dimension(1);
  const cudaStream_t stream = ctx->eigen_gpu_device().stream();
  if (num_units == 0 || num_tables == 0) {
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, candidates.size(), FillKernel,
                                         candidates.data(),
                                         static_cast<int64_t>(candidates.size()),
                                         -1));
    return;
  }
  // Rows per chunk: rows * num_units < 2**31 fits cub's int offsets, and
  // rows * num_tables fits the count kernel's grid.
  const int64_t chunk =
      std::min({batch, std::max<int64_t>(1, kQueryScratchEntries / num_units),
                std::max<int64_t>(1, INT32_MAX / num_tables)});
  const int64_t entries = chunk * num_units;
  Tensor counts, touched, touched_count, keys_in, keys_out, begins, ends;
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, entries * 4, &counts));
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, entries * 4, &touched));
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, chunk * 4, &touched_count));
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, entries * 8, &keys_in));
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, entries * 8, &keys_out));
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, chunk * sizeof(int), &begins));
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, chunk * sizeof(int), &ends));
  const int end_bit = 32 + BitWidth(static_cast<uint64_t>(num_tables));
  for (int64_t first_row = 0; first_row < batch; first_row += chunk) {
    const int64_t rows = std::min(chunk, batch - first_row);
    OP_REQUIRES_OK(ctx, CudaStatus(cudaMemsetAsync(Data<void>(&counts), 0,
                                                   rows * num_units * 4, stream),
                                   "cudaMemsetAsync"));
    OP_REQUIRES_OK(ctx, CudaStatus(cudaMemsetAsync(Data<void>(&touched_count),
                                                   0, rows * 4, stream),
                                   "cudaMemsetAsync"));
    OP_REQUIRES_OK(
        ctx,
        GpuLaunchKernel(CountKernel, static_cast<int>(rows * num_tables),
                        kCountThreads, 0, stream, query_buckets.data(),
                        sorted_buckets.data(), sorted_units.data(), first_row,
                        num_tables, num_units, num_buckets, max_bucket_size,
                        Data<int32_t>(&counts), Data<int32_t>(&touched),
                        Data<int32_t>(&touched_count)));
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, rows * num_units, RankKeysKernel,
                                         Data<int32_t>(&counts),
                                         Data<int32_t>(&touched),
                                         Data<int32_t>(&touched_count), rows,
                                         num_units, num_tables,
                                         Data<uint64_t>(&keys_in),
                                         Data<int>(&begins), Data<int>(&ends)));
    OP_REQUIRES_OK(
        ctx, RunCub(ctx, "cub::DeviceSegmentedRadixSort::SortKeys",
                    [&](void* scratch, size_t& scratch_bytes) {
                      return cub::DeviceSegmentedRadixSort::SortKeys(
                          scratch, scratch_bytes, Data<uint64_t>(&keys_in),
                          Data<uint64_t>(&keys_out),
                          static_cast<int>(rows * num_units),
                          static_cast<int>(rows), Data<int>(&begins),
                          Data<int>(&ends), 0, end_bit, stream);
                    }));
    OP_REQUIRES_OK(ctx, LaunchGridStride(
                            ctx, rows * num_candidates, WriteCandidatesKernel,
                            Data<uint64_t>(&keys_out),
                            Data<int32_t>(&touched_count), rows, num_units,
                            num_candidates,
                            candidates.data() + first_row * num_candidates));
  }
}

template <>
void WtaQueryIndexPooled<GPUDevice>::operator()(
    OpKernelContext* ctx, TTypes<int32_t>::ConstMatrix query_buckets,
    TTypes<int32_t>::ConstMatrix sorted_buckets,
    TTypes<int32_t>::ConstMatrix sorted_units, int32_t num_buckets,
    int64_t max_bucket_size, TTypes<int32_t>::Vec candidates) {
  const int64_t num_tables = sorted_buckets.dimension(0);
  const int64_t num_units = sorted_buckets.dimension(1);
  const int64_t num_candidates = candidates.dimension(0);
  // The op checks that rows * tables < 2**31, so every count fits.
  const int64_t max_count = query_buckets.size();
  const cudaStream_t stream = ctx->eigen_gpu_device().stream();
  if (num_units == 0 || max_count == 0) {
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, num_candidates, FillKernel,
                                         candidates.data(), num_candidates,
                                         -1));
    return;
  }
  Tensor counts, keys_in, keys_out;
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, num_units * 4, &counts));
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, num_units * 8, &keys_in));
  OP_REQUIRES_OK(ctx, AllocateBytes(ctx, num_units * 8, &keys_out));
  OP_REQUIRES_OK(ctx, CudaStatus(cudaMemsetAsync(Data<void>(&counts), 0,
                                                 num_units * 4, stream),
                                 "cudaMemsetAsync"));
  OP_REQUIRES_OK(ctx, GpuLaunchKernel(PooledCountKernel,
                                      static_cast<int>(max_count),
                                      kCountThreads, 0, stream,
                                      query_buckets.data(),
                                      sorted_buckets.data(),
                                      sorted_units.data(), num_tables,
                                      num_units, num_buckets, max_bucket_size,
                                      Data<int32_t>(&counts)));
  OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, num_units, PooledRankKeysKernel,
                                       Data<int32_t>(&counts), num_units,
                                       max_count, Data<uint64_t>(&keys_in)));
  const int end_bit = 32 + BitWidth(static_cast<uint64_t>(max_count));
  OP_REQUIRES_OK(
      ctx, RunCub(ctx, "cub::DeviceRadixSort::SortKeys",
                  [&](void* scratch, size_t& scratch_bytes) {
                    return cub::DeviceRadixSort::SortKeys(
                        scratch, scratch_bytes, Data<uint64_t>(&keys_in),
                        Data<uint64_t>(&keys_out), num_units, 0, end_bit,
                        stream);
                  }));
  OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, num_candidates,
                                       WritePooledCandidatesKernel,
                                       Data<uint64_t>(&keys_out), num_units,
                                       max_count, num_candidates,
                                       candidates.data()));
}

template struct WtaBuildIndex<GPUDevice>;
template struct WtaQueryIndex<GPUDevice>;
template struct WtaQueryIndexPooled<GPUDevice>;

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
