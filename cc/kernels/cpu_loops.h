// Helpers for the CPU kernels' innermost loops over rows.
#ifndef TF_WTA_CC_KERNELS_CPU_LOOPS_H_
#define TF_WTA_CC_KERNELS_CPU_LOOPS_H_

#include <cstdint>

namespace tensorflow {
namespace wta {

// The library is built for baseline x86-64 (SSE2). The hot loops are also
// compiled for AVX2 + FMA, and each call picks one of the two versions:
// the AVX2 one where UseSimdKernels() (below) is true. Unlike GCC's
// target_clones, which the loader resolves from the CPU alone, this lets
// TF_WTA_PORTABLE_KERNELS force the portable versions on an AVX2 machine,
// so that both are tested there.
#if defined(__x86_64__) && defined(__GNUC__)
#define TF_WTA_SIMD_DISPATCH 1
#endif

// Whether the AVX2 + FMA versions run: the CPU has both, and the environment
// variable TF_WTA_PORTABLE_KERNELS was unset, empty or "0" when the library
// was loaded (read once). Always false where there is no AVX2 build.
bool UseSimdKernels();

// A hot loop: `loop` is a lambda marked TF_WTA_HOT_LOOP, so that it is
// inlined into, and vectorised for, each of the two versions below.
#define TF_WTA_HOT_LOOP __attribute__((always_inline))

#ifdef TF_WTA_SIMD_DISPATCH
template <typename Loop, typename... Args>
__attribute__((target("avx2,fma"), noinline)) auto RunSimd(const Loop& loop,
                                                           Args... args) {
  return loop(args...);
}
#endif

template <typename Loop, typename... Args>
__attribute__((noinline)) auto RunPortable(const Loop& loop, Args... args) {
  return loop(args...);
}

// loop(args...), in its AVX2 + FMA version where UseSimdKernels().
template <typename Loop, typename... Args>
inline auto RunHotLoop(const Loop& loop, Args... args) {
#ifdef TF_WTA_SIMD_DISPATCH
  if (UseSimdKernels()) return RunSimd(loop, args...);
#endif
  return RunPortable(loop, args...);
}

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
