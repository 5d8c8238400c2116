// Op definitions and shape functions of the WTA hash family.
#include "cc/kernels/input_checks.h"
#include "cc/ops/shape_fns.h"

namespace tensorflow {
namespace wta {

REGISTER_OP("WtaHash")
    .Input("x: T")
    .Input("windows: int32")
    .Output("codes: int32")
    .Attr("T: {float, half, bfloat16}")
    .SetShapeFn(HashCodesShape)
    .Doc(R"doc(
Winner-Take-All hash codes: codes[b, m] = argmax_k x[b, windows[m, k]].

Ties go to the smallest k; NaN never wins (an all-NaN window gives 0).

x: [B, D] float32, float16 or bfloat16.
windows: [M, K] int32, every entry in [0, D).
codes: [B, M] int32 in [0, K).
)doc");

REGISTER_OP("WtaBuckets")
    .Input("codes: int32")
    .Output("buckets: int32")
    .Attr("window_size: int >= 1")
    .Attr("codes_per_table: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      int64_t window_size, codes_per_table, num_buckets;
      TF_RETURN_IF_ERROR(c->GetAttr("window_size", &window_size));
      TF_RETURN_IF_ERROR(c->GetAttr("codes_per_table", &codes_per_table));
      TF_RETURN_IF_ERROR(NumBuckets(window_size, codes_per_table, &num_buckets));
      ShapeHandle codes;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &codes));
      DimensionHandle num_tables;
      TF_RETURN_IF_ERROR(c->Divide(c->Dim(codes, 1), codes_per_table,
                                   /*evenly_divisible=*/true, &num_tables));
      c->set_output(0, c->Matrix(c->Dim(codes, 0), num_tables));
      return absl::OkStatus();
    })
    .Doc(R"doc(
Packs codes_per_table WTA codes into one bucket key per table.

buckets[b, t] = sum_j codes[b, t * codes_per_table + j] * window_size ** j.

codes: [B, M] int32 in [0, window_size); codes_per_table must divide M.
buckets: [B, M / codes_per_table] int32 in [0, window_size ** codes_per_table).
)doc");

}  // namespace wta
}  // namespace tensorflow
