// WtaHashedMatmul and WtaHashedMatmulGrad: CUDA functors.
//
// Checking the indices would cost a host sync, so the GPU kernels follow the
// documented safe behaviour instead: an index outside [0, N) is treated like
// -1 (output 0, no gradient) and its weight row is never read.
//
// The gradient groups pairs by unit with cub (radix sort of (unit, pair),
// run-length encode, scan) so every touched row is written by one thread per
// column, in a fixed order (no atomics: deterministic sums). The number of
// distinct units sizes the outputs, so it is read back with one host sync.
//
// float16 and bfloat16 are loaded as __half / __nv_bfloat16 and summed in
// float (AccumulatorT), rounded to T once per output.
#if GOOGLE_CUDA
#define EIGEN_USE_GPU

#include "cc/kernels/hashed_matmul.h"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_run_length_encode.cuh>
#include <cub/device/device_scan.cuh>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cc/kernels/gpu_kernel_common.h"

namespace tensorflow {
namespace wta {
namespace {

constexpr int kWarpSize = 32;

// A value of T as its accumulator type: the 16-bit types through the CUDA
// intrinsics on their bits (Eigen's types share __half's and
// __nv_bfloat16's layout).
template <typename T>
__device__ __forceinline__ AccumulatorT<T> Load(const T& value) {
  return value;
}
template <>
__device__ __forceinline__ float Load<Eigen::half>(
    const Eigen::half& value) {
  return __half2float(*reinterpret_cast<const __half*>(&value));
}
template <>
__device__ __forceinline__ float Load<Eigen::bfloat16>(
    const Eigen::bfloat16& value) {
  return __bfloat162float(*reinterpret_cast<const __nv_bfloat16*>(&value));
}

// An accumulated value rounded to T (round to nearest even).
template <typename T>
__device__ __forceinline__ T Store(AccumulatorT<T> value) {
  return value;
}
template <>
__device__ __forceinline__ Eigen::half Store<Eigen::half>(float value) {
  const __half rounded = __float2half_rn(value);
  return *reinterpret_cast<const Eigen::half*>(&rounded);
}
template <>
__device__ __forceinline__ Eigen::bfloat16 Store<Eigen::bfloat16>(
    float value) {
  const __nv_bfloat16 rounded = __float2bfloat16_rn(value);
  return *reinterpret_cast<const Eigen::bfloat16*>(&rounded);
}

// One warp per (b, c) pair: lanes stride over D, then a shuffle reduction.
template <typename T>
__global__ void HashedMatmulKernel(const T* __restrict__ x,
                                   const T* __restrict__ weights,
                                   const int32_t* __restrict__ indices,
                                   const T* __restrict__ bias, int64_t num_pairs,
                                   int64_t num_candidates, int64_t dim,
                                   int64_t num_units, T* __restrict__ out) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warps = int64_t{gridDim.x} * blockDim.x / kWarpSize;
  for (int64_t pair =
           (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) /
           kWarpSize;
       pair < num_pairs; pair += warps) {
    const int32_t unit = indices[pair];
    if (unit < 0 || unit >= num_units) {  // uniform across the warp
      if (lane == 0) out[pair] = Store<T>(0);
      continue;
    }
    const T* row = weights + unit * dim;
    const T* x_row = x + (pair / num_candidates) * dim;
    AccumulatorT<T> sum = 0;
    for (int64_t d = lane; d < dim; d += kWarpSize) {
      sum += Load(x_row[d]) * Load(row[d]);
    }
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
      sum += __shfl_down_sync(0xffffffffu, sum, offset);
    }
    if (lane == 0) out[pair] = Store<T>(sum + Load(bias[unit]));
  }
}

// grad_x[b, d] = sum_c grad_out[b, c] * weights[indices[b, c], d]; adjacent
// threads take adjacent d, so the weight reads coalesce.
template <typename T>
__global__ void GradXKernel(const T* __restrict__ weights,
                            const int32_t* __restrict__ indices,
                            const T* __restrict__ grad_out, int64_t batch,
                            int64_t num_candidates, int64_t dim,
                            int64_t num_units, T* __restrict__ grad_x) {
  for (const int64_t i : GpuGridRangeX<int64_t>(batch * dim)) {
    const int64_t b = i / dim;
    const int64_t d = i - b * dim;
    AccumulatorT<T> sum = 0;
    for (int64_t c = 0; c < num_candidates; ++c) {
      const int32_t unit = indices[b * num_candidates + c];
      if (unit >= 0 && unit < num_units) {
        sum += Load(grad_out[b * num_candidates + c]) *
               Load(weights[unit * dim + d]);
      }
    }
    grad_x[i] = Store<T>(sum);
  }
}

// Sort keys: the unit, or num_units (sorted last, then dropped) for a pair
// with no valid unit; values: the flat pair id.
__global__ void SortKeysKernel(const int32_t* __restrict__ indices,
                               int64_t num_pairs, int64_t num_units,
                               uint32_t* __restrict__ keys,
                               int32_t* __restrict__ pairs) {
  for (const int64_t p : GpuGridRangeX<int64_t>(num_pairs)) {
    const int32_t unit = indices[p];
    keys[p] = (unit >= 0 && unit < num_units) ? static_cast<uint32_t>(unit)
                                              : static_cast<uint32_t>(num_units);
    pairs[p] = static_cast<int32_t>(p);
  }
}

// scalars[1] = number of runs that are real units (drops the sentinel run).
__global__ void CountUnitsKernel(const uint32_t* __restrict__ unique,
                                 int64_t num_units, int32_t* scalars) {
  int32_t runs = scalars[0];
  if (runs > 0 && unique[runs - 1] == static_cast<uint32_t>(num_units)) --runs;
  scalars[1] = runs;
}

// grad_weight_rows[u, d] = sum over unit u's pairs of grad_out * x[b, d].
template <typename T>
__global__ void GradRowsKernel(const T* __restrict__ x,
                               const T* __restrict__ grad_out,
                               const int32_t* __restrict__ starts,
                               const int32_t* __restrict__ counts,
                               const int32_t* __restrict__ pairs,
                               int64_t num_groups, int64_t num_candidates,
                               int64_t dim, T* __restrict__ grad_weight_rows) {
  for (const int64_t i : GpuGridRangeX<int64_t>(num_groups * dim)) {
    const int64_t u = i / dim;
    const int64_t d = i - u * dim;
    AccumulatorT<T> sum = 0;
    for (int32_t k = starts[u]; k < starts[u] + counts[u]; ++k) {
      const int64_t pair = pairs[k];
      sum += Load(grad_out[pair]) * Load(x[(pair / num_candidates) * dim + d]);
    }
    grad_weight_rows[i] = Store<T>(sum);
  }
}

template <typename T>
__global__ void GradBiasKernel(const T* __restrict__ grad_out,
                               const int32_t* __restrict__ starts,
                               const int32_t* __restrict__ counts,
                               const int32_t* __restrict__ pairs,
                               int64_t num_groups, T* __restrict__ grad_bias) {
  for (const int64_t u : GpuGridRangeX<int64_t>(num_groups)) {
    AccumulatorT<T> sum = 0;
    for (int32_t k = starts[u]; k < starts[u] + counts[u]; ++k) {
      sum += Load(grad_out[pairs[k]]);
    }
    grad_bias[u] = Store<T>(sum);
  }
}

absl::Status AllocateInt32(OpKernelContext* ctx, int64_t size, Tensor* out) {
  return ctx->allocate_temp(DT_INT32, TensorShape({size}), out);
}

}  // namespace

namespace functor {

template <>
absl::Status GroupPairsByUnit<GPUDevice>::operator()(
    OpKernelContext* ctx, TTypes<int32_t>::ConstMatrix indices,
    int64_t num_units, UnitGroups* groups) {
  const int64_t num_pairs = indices.size();
  const cudaStream_t stream = ctx->eigen_gpu_device().stream();
  TF_RETURN_IF_ERROR(AllocateInt32(ctx, num_pairs, &groups->starts));
  TF_RETURN_IF_ERROR(AllocateInt32(ctx, num_pairs, &groups->counts));
  TF_RETURN_IF_ERROR(AllocateInt32(ctx, num_pairs, &groups->pairs));
  if (num_pairs == 0) return AllocateInt32(ctx, 0, &groups->units);

  Tensor keys, sorted_keys, unsorted_pairs, unique, scalars;
  TF_RETURN_IF_ERROR(AllocateInt32(ctx, num_pairs, &keys));
  TF_RETURN_IF_ERROR(AllocateInt32(ctx, num_pairs, &sorted_keys));
  TF_RETURN_IF_ERROR(AllocateInt32(ctx, num_pairs, &unsorted_pairs));
  TF_RETURN_IF_ERROR(AllocateInt32(ctx, num_pairs, &unique));
  TF_RETURN_IF_ERROR(AllocateInt32(ctx, 2, &scalars));
  auto as_keys = [](Tensor& t) {
    return reinterpret_cast<uint32_t*>(t.flat<int32_t>().data());
  };
  int32_t* pairs = groups->pairs.flat<int32_t>().data();
  int32_t* starts = groups->starts.flat<int32_t>().data();
  int32_t* counts = groups->counts.flat<int32_t>().data();
  int32_t* num_runs = scalars.flat<int32_t>().data();
  const int items = static_cast<int>(num_pairs);
  int end_bit = 1;  // enough bits for keys up to the sentinel num_units
  while (end_bit < 32 && (int64_t{1} << end_bit) <= num_units) ++end_bit;

  TF_RETURN_IF_ERROR(LaunchGridStride(ctx, num_pairs, SortKeysKernel,
                                      indices.data(), num_pairs, num_units,
                                      as_keys(keys),
                                      unsorted_pairs.flat<int32_t>().data()));
  // Entries of counts past the last run stay 0, so the scan over all of it
  // is harmless.
  TF_RETURN_IF_ERROR(CudaStatus(
      cudaMemsetAsync(counts, 0, num_pairs * sizeof(int32_t), stream),
      "cudaMemsetAsync"));

  TF_RETURN_IF_ERROR(RunCub(
      ctx, "cub::DeviceRadixSort::SortPairs",
      [&](void* scratch, size_t& scratch_bytes) {
        return cub::DeviceRadixSort::SortPairs(
            scratch, scratch_bytes, as_keys(keys), as_keys(sorted_keys),
            unsorted_pairs.flat<int32_t>().data(), pairs, items, 0, end_bit,
            stream);
      }));
  TF_RETURN_IF_ERROR(RunCub(
      ctx, "cub::DeviceRunLengthEncode::Encode",
      [&](void* scratch, size_t& scratch_bytes) {
        return cub::DeviceRunLengthEncode::Encode(
            scratch, scratch_bytes, as_keys(sorted_keys), as_keys(unique),
            counts, num_runs, items, stream);
      }));
  TF_RETURN_IF_ERROR(RunCub(
      ctx, "cub::DeviceScan::ExclusiveSum",
      [&](void* scratch, size_t& scratch_bytes) {
        return cub::DeviceScan::ExclusiveSum(scratch, scratch_bytes, counts,
                                             starts, items, stream);
      }));
  TF_RETURN_IF_ERROR(GpuLaunchKernel(CountUnitsKernel, 1, 1, 0, stream,
                                     as_keys(unique), num_units, num_runs));

  int32_t num_groups = 0;
  TF_RETURN_IF_ERROR(CudaStatus(
      cudaMemcpyAsync(&num_groups, num_runs + 1, sizeof(int32_t),
                      cudaMemcpyDeviceToHost, stream),
      "cudaMemcpyAsync"));
  TF_RETURN_IF_ERROR(
      CudaStatus(cudaStreamSynchronize(stream), "cudaStreamSynchronize"));
  TF_RETURN_IF_ERROR(AllocateInt32(ctx, num_groups, &groups->units));
  return CudaStatus(
      cudaMemcpyAsync(groups->units.flat<int32_t>().data(),
                      unique.flat<int32_t>().data(),
                      num_groups * sizeof(int32_t), cudaMemcpyDeviceToDevice,
                      stream),
      "cudaMemcpyAsync");
}

template <typename T>
struct HashedMatmul<GPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  typename TTypes<T>::ConstMatrix weights,
                  TTypes<int32_t>::ConstMatrix indices,
                  typename TTypes<T>::ConstVec bias,
                  typename TTypes<T>::Matrix out) {
    const int64_t num_pairs = out.size();
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, num_pairs * kWarpSize,
                                         HashedMatmulKernel<T>, x.data(),
                                         weights.data(), indices.data(),
                                         bias.data(), num_pairs,
                                         indices.dimension(1), x.dimension(1),
                                         weights.dimension(0), out.data()));
  }
};

template <typename T>
struct HashedMatmulGrad<GPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  typename TTypes<T>::ConstMatrix weights,
                  TTypes<int32_t>::ConstMatrix indices,
                  typename TTypes<T>::ConstMatrix grad_out,
                  const UnitGroups& groups, typename TTypes<T>::Matrix grad_x,
                  typename TTypes<T>::Matrix grad_weight_rows,
                  typename TTypes<T>::Vec grad_bias_rows) {
    const int64_t dim = x.dimension(1);
    const int64_t num_candidates = indices.dimension(1);
    const int64_t num_groups = groups.units.NumElements();
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, grad_x.size(), GradXKernel<T>,
                                         weights.data(), indices.data(),
                                         grad_out.data(), x.dimension(0),
                                         num_candidates, dim,
                                         weights.dimension(0), grad_x.data()));
    const int32_t* starts = groups.starts.flat<int32_t>().data();
    const int32_t* counts = groups.counts.flat<int32_t>().data();
    const int32_t* pairs = groups.pairs.flat<int32_t>().data();
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, grad_weight_rows.size(),
                                         GradRowsKernel<T>, x.data(),
                                         grad_out.data(), starts, counts, pairs,
                                         num_groups, num_candidates, dim,
                                         grad_weight_rows.data()));
    OP_REQUIRES_OK(ctx, LaunchGridStride(ctx, num_groups, GradBiasKernel<T>,
                                         grad_out.data(), starts, counts, pairs,
                                         num_groups, grad_bias_rows.data()));
  }
};

#define DEFINE_GPU_HASHED_MATMUL(T)              \
  template struct HashedMatmul<GPUDevice, T>; \
  template struct HashedMatmulGrad<GPUDevice, T>;
TF_WTA_CALL_HASHED_MATMUL_TYPES(DEFINE_GPU_HASHED_MATMUL);
template struct GroupPairsByUnit<GPUDevice>;

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
