// Launch helpers shared by the CUDA kernels (grid-stride loops).
#ifndef TF_WTA_CC_KERNELS_GPU_LAUNCH_H_
#define TF_WTA_CC_KERNELS_GPU_LAUNCH_H_

#include <algorithm>
#include <cstdint>

namespace tensorflow {
namespace wta {

constexpr int kThreadsPerBlock = 256;

// Blocks for a grid-stride loop over `work` threads: enough to cover them,
// at least one, at most 2**20 (the loop strides over the rest).
inline int BlocksFor(int64_t work) {
  const int64_t blocks = (work + kThreadsPerBlock - 1) / kThreadsPerBlock;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(blocks, 1 << 20)));
}

}  // namespace wta
}  // namespace tensorflow

#define GRID_STRIDE_LOOP(i, n)                                              \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) +          \
                   threadIdx.x;                                             \
       i < (n); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

#endif  // TF_WTA_CC_KERNELS_GPU_LAUNCH_H_
