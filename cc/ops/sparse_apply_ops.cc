// Op definitions and shape functions of the sparse variable updates.
#include <initializer_list>
#include <vector>

#include "cc/ops/shape_fns.h"

namespace tensorflow {
namespace wta {
namespace {

// The shape of the single input called `name`.
absl::Status NamedInput(InferenceContext* c, const char* name,
                        ShapeHandle* shape) {
  std::vector<ShapeHandle> shapes;
  TF_RETURN_IF_ERROR(c->input(name, &shapes));
  *shape = shapes[0];
  return absl::OkStatus();
}

// Shape function of the sparse updates: checks that the `scalars` inputs
// are scalars, rows [U, ...] against row_ids [U] and, where the variable's
// shape is known from its handle, rows[1:] against var.shape[1:].
absl::Status SparseApplyShape(InferenceContext* c,
                              std::initializer_list<const char*> scalars) {
  ShapeHandle scalar, rows, row_ids, unused;
  for (const char* name : scalars) {
    TF_RETURN_IF_ERROR(NamedInput(c, name, &scalar));
    TF_RETURN_IF_ERROR(c->WithRank(scalar, 0, &unused));
  }
  TF_RETURN_IF_ERROR(NamedInput(c, "rows", &rows));
  TF_RETURN_IF_ERROR(NamedInput(c, "row_ids", &row_ids));
  TF_RETURN_IF_ERROR(c->WithRankAtLeast(rows, 1, &rows));
  TF_RETURN_IF_ERROR(c->WithRank(row_ids, 1, &row_ids));
  TF_RETURN_IF_ERROR(c->Merge(c->Vector(c->Dim(rows, 0)), row_ids, &unused));
  const auto* handle = c->input_handle_shapes_and_types(0);  // var
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
      return SparseApplyShape(c, {"learning_rate"});
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
      return SparseApplyShape(c, {"alpha", "beta_1", "beta_2", "epsilon"});
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
