// What every CPU-side kernel file (cc/kernels/*.cc) shares: TensorFlow's
// kernel and registration headers, the input checks, the device names and
// the CPU worker pool. Define EIGEN_USE_THREADS before including it.
#ifndef TF_WTA_CC_KERNELS_OP_KERNEL_COMMON_H_
#define TF_WTA_CC_KERNELS_OP_KERNEL_COMMON_H_

#include <type_traits>

#include "cc/kernels/input_checks.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/platform/threadpool.h"

namespace tensorflow {
namespace wta {

using CPUDevice = Eigen::ThreadPoolDevice;
using GPUDevice = Eigen::GpuDevice;

// The pool the CPU kernels shard their work over (ParallelFor).
inline thread::ThreadPool* WorkerPool(OpKernelContext* ctx) {
  return ctx->device()->tensorflow_cpu_worker_threads()->workers;
}

// What the hash kernels (WTA, densified WTA, SimHash) do before hashing:
// check x [B, D] and windows [M, K] (on the CPU also that every window entry
// is in [0, D); the GPU kernels skip such entries instead) and allocate the
// int32 codes [B, M].
template <typename Device>
absl::Status CheckAndAllocateHashCodes(OpKernelContext* ctx, const Tensor& x,
                                       const Tensor& windows, Tensor** codes) {
  TF_RETURN_IF_ERROR(CheckHashInputs(x, windows));
  if constexpr (std::is_same<Device, CPUDevice>::value) {
    TF_RETURN_IF_ERROR(CheckWindowsInRange(WorkerPool(ctx), x, windows));
  }
  return ctx->allocate_output(
      0, TensorShape({x.dim_size(0), windows.dim_size(0)}), codes);
}

}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_OP_KERNEL_COMMON_H_
