// What every CUDA kernel file (cc/kernels/*.cu.cc) shares: TensorFlow's GPU
// helpers, the device name, grid-stride launches and CUDA errors as Status.
// Define EIGEN_USE_GPU before including it.
#ifndef TF_WTA_CC_KERNELS_GPU_KERNEL_COMMON_H_
#define TF_WTA_CC_KERNELS_GPU_KERNEL_COMMON_H_

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/util/gpu_kernel_helper.h"

namespace tensorflow {
namespace wta {

using GPUDevice = Eigen::GpuDevice;

// Launches kernel(args...) on ctx's stream in TensorFlow's launch config for
// a loop over `work` items (GpuGridRangeX). The config counts work in int,
// but only to size the grid: the loop strides over what the grid misses.
template <typename... Params, typename... Args>
absl::Status LaunchGridStride(OpKernelContext* ctx, int64_t work,
                              void (*kernel)(Params...), Args... args) {
  if (work == 0) return absl::OkStatus();
  const GPUDevice& device = ctx->eigen_gpu_device();
  const GpuLaunchConfig config = GetGpuLaunchConfig(
      static_cast<int>(std::min<int64_t>(work, INT32_MAX)), device, kernel,
      /*dynamic_shared_memory_size=*/0, /*block_size_limit=*/0);
  return GpuLaunchKernel(kernel, config.block_count, config.thread_per_block,
                         0, device.stream(), args...);
}

inline absl::Status CudaStatus(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return absl::OkStatus();
  return errors::Internal(what, " failed: ", cudaGetErrorString(error));
}

// Runs a cub device algorithm the cub way: call(scratch, scratch_bytes)
// with no scratch sets the bytes it needs, then runs with them allocated.
// `what` names the algorithm in errors.
template <typename CubCall>
absl::Status RunCub(OpKernelContext* ctx, const char* what, CubCall call) {
  size_t scratch_bytes = 0;
  TF_RETURN_IF_ERROR(CudaStatus(call(nullptr, scratch_bytes), what));
  Tensor scratch;
  TF_RETURN_IF_ERROR(ctx->allocate_temp(
      DT_INT8,
      TensorShape({std::max<int64_t>(static_cast<int64_t>(scratch_bytes), 1)}),
      &scratch));
  return CudaStatus(call(scratch.flat<int8_t>().data(), scratch_bytes), what);
}

}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_GPU_KERNEL_COMMON_H_
