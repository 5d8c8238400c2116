// Helpers for the CPU kernels' innermost loops over rows.
#ifndef TF_WTA_CC_KERNELS_CPU_LOOPS_H_
#define TF_WTA_CC_KERNELS_CPU_LOOPS_H_

#include <cstdint>

// The library is built for baseline x86-64 (SSE2); the hot loops get an
// AVX + FMA clone as well, picked at load time where the CPU has it.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TF_WTA_HOT_LOOP __attribute__((target_clones("fma", "default")))
#else
#define TF_WTA_HOT_LOOP
#endif

namespace tensorflow {
namespace wta {

enum class Access { kRead = 0, kWrite = 1 };

// Selected rows are scattered, so the hardware prefetcher only catches up
// part way into each one; asking for the next row while working on this one
// hides that latency (measured: ~1.2x on the hashed matmul forward pass).
template <Access kAccess = Access::kRead, typename T>
void PrefetchRow(const T* row, int64_t n) {
  const char* bytes = reinterpret_cast<const char*>(row);
  for (int64_t i = 0; i < n * static_cast<int64_t>(sizeof(T)); i += 64) {
    __builtin_prefetch(bytes + i, static_cast<int>(kAccess));
  }
}

}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_CPU_LOOPS_H_
