// The CPU kernels' access to TensorFlow's intra-op thread pool.
#ifndef TF_WTA_CC_KERNELS_CPU_WORKERS_H_
#define TF_WTA_CC_KERNELS_CPU_WORKERS_H_

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/platform/threadpool.h"

namespace tensorflow {
namespace wta {

// The pool the CPU kernels shard their work over (ParallelFor).
inline thread::ThreadPool* WorkerPool(OpKernelContext* ctx) {
  return ctx->device()->tensorflow_cpu_worker_threads()->workers;
}

}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_CPU_WORKERS_H_
