// Op definition of the signed random projection (SimHash) family.
#include "cc/ops/shape_fns.h"

namespace tensorflow {
namespace wta {

REGISTER_OP("WtaSimhash")
    .Input("x: T")
    .Input("windows: int32")
    .Input("signs: float")
    .Output("codes: int32")
    .Attr("T: {float, half, bfloat16}")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle windows, signs;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &windows));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 2, &signs));
      TF_RETURN_IF_ERROR(c->Merge(windows, signs, &windows));
      return HashCodesShape(c);
    })
    .Doc(R"doc(
Signed random projection (SimHash) bits of sparse projections:
codes[b, m] = 1 if sum_k signs[m, k] * x[b, windows[m, k]] > 0, else 0.

NaN and denormal entries of x count as 0 (so one NaN does not decide every
bit, and the bits do not depend on a thread's denormal flushing).

x: [B, D] float32, float16 or bfloat16.
windows: [M, K] int32, every entry in [0, D): the projection's non-zeros.
signs: [M, K] float32, their weights (e.g. +-1).
codes: [B, M] int32 in {0, 1}; wta_buckets with window_size=2 packs them.
)doc");

}  // namespace wta
}  // namespace tensorflow
