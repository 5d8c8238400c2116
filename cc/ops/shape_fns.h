// What the op definitions (cc/ops/*_ops.cc) share: TensorFlow's op and
// shape-inference headers, and the shape functions of more than one family.
#ifndef TF_WTA_CC_OPS_SHAPE_FNS_H_
#define TF_WTA_CC_OPS_SHAPE_FNS_H_

#include "absl/status/status.h"
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {
namespace wta {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

// Hash ops: x [B, D] and windows [M, K] give codes [B, M].
inline absl::Status HashCodesShape(InferenceContext* c) {
  ShapeHandle x, windows;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &x));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &windows));
  c->set_output(0, c->Matrix(c->Dim(x, 0), c->Dim(windows, 0)));
  return absl::OkStatus();
}

}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_OPS_SHAPE_FNS_H_
