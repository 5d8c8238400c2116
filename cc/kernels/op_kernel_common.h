// What every CPU-side kernel file (cc/kernels/*.cc) shares: TensorFlow's
// kernel and registration headers, the input checks, the device names and
// the CPU worker pool. Define EIGEN_USE_THREADS before including it.
#ifndef TF_WTA_CC_KERNELS_OP_KERNEL_COMMON_H_
#define TF_WTA_CC_KERNELS_OP_KERNEL_COMMON_H_

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

}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_OP_KERNEL_COMMON_H_
