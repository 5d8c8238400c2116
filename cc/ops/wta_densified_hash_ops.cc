// Op definition of the densified WTA hash family.
#include "cc/ops/shape_fns.h"

namespace tensorflow {
namespace wta {

REGISTER_OP("WtaDensifiedHash")
    .Input("x: T")
    .Input("windows: int32")
    .Output("codes: int32")
    .Attr("T: {float, half, bfloat16}")
    .Attr("max_probes: int >= 1 = 100")
    .SetShapeFn(HashCodesShape)
    .Doc(R"doc(
Densified Winner-Take-All hash codes (DWTA, Chen & Shrivastava 2018).

Window m of row b is empty when every entry x[b, windows[m, k]] is zero
(either sign) or NaN. A non-empty window's code is the argmax over its
non-zero, non-NaN entries (ties to the smallest k). An empty window m takes
the code of window j_t = fmix32(m * 0x9e3779b9 + t) mod M (uint32
arithmetic, murmur3's finaliser) for the first t in 1..max_probes whose
window is not empty, or 0 when none is.

x: [B, D] float32, float16 or bfloat16.
windows: [M, K] int32, every entry in [0, D).
codes: [B, M] int32 in [0, K).
max_probes: probes per empty window, >= 1.
)doc");

}  // namespace wta
}  // namespace tensorflow
