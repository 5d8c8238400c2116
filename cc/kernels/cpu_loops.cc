// UseSimdKernels, decided once when the library is loaded, and
// TfWtaCpuKernels, which reports the decision to tf_wta/_ops.py through
// ctypes.
#include "cc/kernels/cpu_loops.h"

#include <cstdlib>
#include <cstring>

namespace tensorflow {
namespace wta {
namespace {

bool PortableKernelsRequested() {
  const char* value = std::getenv("TF_WTA_PORTABLE_KERNELS");
  return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
}

bool DecideSimdKernels() {
#ifdef TF_WTA_SIMD_DISPATCH
  __builtin_cpu_init();  // may run before libgcc's own initialiser
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         !PortableKernelsRequested();
#else
  return false;
#endif
}

// Initialised when the library is loaded, before any kernel runs.
const bool kUseSimdKernels = DecideSimdKernels();

}  // namespace

bool UseSimdKernels() { return kUseSimdKernels; }

}  // namespace wta
}  // namespace tensorflow

// "avx2" or "portable": the versions of the hot loops this process runs.
extern "C" const char* TfWtaCpuKernels() {
  return tensorflow::wta::UseSimdKernels() ? "avx2" : "portable";
}
