// Op definitions and shape functions of the sparse variable updates.
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tensorflow {
namespace wta {

using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

namespace {

// Checks rows [U, ...] against row_ids [U] and, where the variable's shape is
// known from its handle, rows[1:] against var.shape[1:].
absl::Status CheckRowsShape(InferenceContext* c, int rows_input) {
  ShapeHandle rows, row_ids, unused;
  TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(rows_input), 1, &rows));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(rows_input + 1), 1, &row_ids));
  TF_RETURN_IF_ERROR(c->Merge(c->Vector(c->Dim(rows, 0)), row_ids, &unused));
  const auto* handle = c->input_handle_shapes_and_types(0);
  if (handle != nullptr && handle->size() == 1 &&
      c->RankKnown((*handle)[0].shape)) {
    ShapeHandle var_rest, rows_rest;
    TF_RETURN_IF_ERROR(c->Subshape((*handle)[0].shape, 1, &var_rest));
    TF_RETURN_IF_ERROR(c->Subshape(rows, 1, &rows_rest));
    TF_RETURN_IF_ERROR(c->Merge(var_rest, rows_rest, &unused));
  }
  return absl::OkStatus();
}

}  // namespace

REGISTER_OP("WtaSparseApplySgd")
    .Input("var: resource")
    .Input("learning_rate: T")
    .Input("rows: T")
    .Input("row_ids: int32")
    .Attr("T: {float, double}")
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle unused;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 0, &unused));
      return CheckRowsShape(c, 2);
    })
    .Doc(R"doc(
Sparse SGD in place: var[row_ids[u]] -= learning_rate * rows[u].

Updates under the variable's exclusive lock without switching it to
copy-on-read mode, so later full reads of var stay free (see
ResourceScatterSub, which makes every later read copy the variable).

var: a resource variable of shape [N, ...], dtype T (float32 or float64).
learning_rate: scalar T.
rows: [U, ...var.shape[1:]] T, the gradient rows.
row_ids: [U] int32, distinct ids in [0, N). On the CPU an id outside or
  repeated is an error; on the GPU an id outside is skipped and a repeated id
  gives an unspecified (in-bounds) result.
)doc");

REGISTER_OP("WtaSparseApplyAdam")
    .Input("var: resource")
    .Input("m: resource")
    .Input("v: resource")
    .Input("alpha: T")
    .Input("beta_1: T")
    .Input("beta_2: T")
    .Input("epsilon: T")
    .Input("rows: T")
    .Input("row_ids: int32")
    .Attr("T: {float, double}")
    .SetIsStateful()
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle unused;
      for (int i = 3; i < 7; ++i) {
        TF_RETURN_IF_ERROR(c->WithRank(c->input(i), 0, &unused));
      }
      return CheckRowsShape(c, 7);
    })
    .Doc(R"doc(
Lazy (sparse) Adam in place, at the rows row_ids only; with g = rows[u] and
r = row_ids[u]:
  m[r] = beta_1 * m[r] + (1 - beta_1) * g
  v[r] = beta_2 * v[r] + (1 - beta_2) * g * g
  var[r] -= alpha * m[r] / (sqrt(v[r]) + epsilon)
Same locking as WtaSparseApplySgd.

var: a resource variable of shape [N, ...], dtype T (float32 or float64).
m: the first-moment variable, the shape of var.
v: the second-moment variable, the shape of var.
alpha: scalar T, the bias-corrected step size
  learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t).
beta_1: scalar T.
beta_2: scalar T.
epsilon: scalar T.
rows: [U, ...var.shape[1:]] T, the gradient rows.
row_ids: [U] int32, distinct ids in [0, N), as for WtaSparseApplySgd.
)doc");

}  // namespace wta
}  // namespace tensorflow
