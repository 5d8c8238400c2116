// What the op library was built against, for tf_wta/_ops.py to check after
// loading it (through ctypes: no op, no TensorFlow runtime needed). Lives in
// the library itself, so no build writes a Python file. The GraphDef version
// of the TensorFlow headers changes with every TensorFlow release; setup.py
// also passes the release (TF_WTA_TENSORFLOW_VERSION) for the error message.
#include "tensorflow/core/public/version.h"

#ifndef TF_WTA_TENSORFLOW_VERSION
#define TF_WTA_TENSORFLOW_VERSION "unknown"
#endif

#if GOOGLE_CUDA
#define TF_WTA_WITH_CUDA "1"
#else
#define TF_WTA_WITH_CUDA "0"
#endif

extern "C" const char* TfWtaBuildInfo() {
  return "tensorflow=" TF_WTA_TENSORFLOW_VERSION ";graph_def=" TF_STR(TF_GRAPH_DEF_VERSION)
      ";cuda=" TF_WTA_WITH_CUDA;
}
