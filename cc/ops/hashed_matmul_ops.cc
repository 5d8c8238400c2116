// Op definitions and shape functions of the hashed matmul family.
#include "cc/ops/shape_fns.h"

namespace tensorflow {
namespace wta {

namespace {

// Checks ranks and merges the dimensions x, weights and indices share:
// batch B (x, indices), D (x, weights) and N (weights).
absl::Status MergeInputShapes(InferenceContext* c, DimensionHandle* batch,
                              DimensionHandle* dim, DimensionHandle* units,
                              ShapeHandle* indices) {
  ShapeHandle x, weights;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &x));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &weights));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 2, indices));
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(x, 1), c->Dim(weights, 1), dim));
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(x, 0), c->Dim(*indices, 0), batch));
  *units = c->Dim(weights, 0);
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("WtaHashedMatmul")
    .Input("x: T")
    .Input("weights: T")
    .Input("indices: int32")
    .Input("bias: T")
    .Output("out: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn([](InferenceContext* c) {
      DimensionHandle batch, dim, units;
      ShapeHandle indices, bias;
      TF_RETURN_IF_ERROR(MergeInputShapes(c, &batch, &dim, &units, &indices));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(3), 1, &bias));
      TF_RETURN_IF_ERROR(c->Merge(c->Dim(bias, 0), units, &units));
      c->set_output(0, c->Matrix(batch, c->Dim(indices, 1)));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Dot products of each row of x with the weight rows its indices select.

out[b, c] = x[b] . weights[indices[b, c]] + bias[indices[b, c]], and 0 where
indices[b, c] == -1. Accumulates in T for float32 and float64 (no reduced
precision), in float32 for float16 and bfloat16 (rounded to T once).

x: [B, D] float16, bfloat16, float32 or float64.
weights: [N, D], one row per unit.
indices: [B, C] int32 in [-1, N). On the CPU a value outside is an error; on
  the GPU it is treated like -1.
bias: [N].
out: [B, C].
)doc");

REGISTER_OP("WtaHashedMatmulGrad")
    .Input("x: T")
    .Input("weights: T")
    .Input("indices: int32")
    .Input("grad_out: T")
    .Output("grad_x: T")
    .Output("units: int32")
    .Output("grad_weight_rows: T")
    .Output("grad_bias_rows: T")
    .Attr("T: {half, bfloat16, float, double}")
    .SetShapeFn([](InferenceContext* c) {
      DimensionHandle batch, dim, units;
      ShapeHandle indices, grad_out;
      TF_RETURN_IF_ERROR(MergeInputShapes(c, &batch, &dim, &units, &indices));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(3), 2, &grad_out));
      TF_RETURN_IF_ERROR(c->Merge(grad_out, indices, &grad_out));
      const DimensionHandle touched = c->UnknownDim();
      c->set_output(0, c->Matrix(batch, dim));
      c->set_output(1, c->Vector(touched));
      c->set_output(2, c->Matrix(touched, dim));
      c->set_output(3, c->Vector(touched));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Gradient of WtaHashedMatmul, with one row per distinct selected unit; sums
in float32 for float16 and bfloat16, like the forward op.

x: [B, D] float16, bfloat16, float32 or float64.
weights: [N, D].
indices: [B, C] int32 in [-1, N), as given to WtaHashedMatmul.
grad_out: [B, C], the gradient with respect to its output.
grad_x: [B, D], sum_c grad_out[b, c] * weights[indices[b, c]].
units: [U] int32, the distinct units in indices (no -1), ascending.
grad_weight_rows: [U, D], row u the sum of grad_out[b, c] * x[b] over the
  pairs with indices[b, c] == units[u].
grad_bias_rows: [U], the sum of grad_out[b, c] over the same pairs.
)doc");

}  // namespace wta
}  // namespace tensorflow
