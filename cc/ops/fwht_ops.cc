// Op definition of the fast Walsh-Hadamard transform (Fastfood's H).
#include "cc/ops/shape_fns.h"

namespace tensorflow {
namespace wta {

REGISTER_OP("WtaFwht")
    .Input("x: T")
    .Output("y: T")
    .Attr("T: {float, half, bfloat16}")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &x));
      const DimensionHandle d = c->Dim(x, 1);
      if (c->ValueKnown(d)) {
        const int64_t n = c->Value(d);
        if (n < 1 || (n & (n - 1)) != 0) {
          return errors::InvalidArgument(
              "x must have a power-of-two number of columns d (pad it), got "
              "shape ", c->DebugString(x));
        }
      }
      c->set_output(0, x);
      return absl::OkStatus();
    })
    .Doc(R"doc(
Fast Walsh-Hadamard transform of every row: y = x @ H_d, H_d the
unnormalised Sylvester-ordered Hadamard matrix of +-1 entries
(H_1 = [1], H_2n = [[H_n, H_n], [H_n, -H_n]]). O(B d log d); accumulated in
float32 for every T. H_d is symmetric, so the gradient is the transform of
the upstream gradient.

x: [B, d] float32, float16 or bfloat16, d a power of two.
y: [B, d], the dtype of x.
)doc");

}  // namespace wta
}  // namespace tensorflow
