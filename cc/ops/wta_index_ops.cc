// Op definitions and shape functions of the bucket index family.
#include "cc/ops/shape_fns.h"

namespace tensorflow {
namespace wta {
namespace {

// Shape function of the query ops: query_buckets [B, L], an index of
// [L, N] tensors and a scalar num_buckets give candidates [B, C], or [C]
// when kPooled (one candidate set for the batch).
template <bool kPooled>
absl::Status QueryIndexShape(InferenceContext* c) {
  int64_t num_candidates;
  TF_RETURN_IF_ERROR(c->GetAttr("num_candidates", &num_candidates));
  ShapeHandle query, sorted_buckets, sorted_units, num_buckets;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &query));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &sorted_buckets));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 2, &sorted_units));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(3), 0, &num_buckets));
  TF_RETURN_IF_ERROR(c->Merge(sorted_buckets, sorted_units, &sorted_units));
  DimensionHandle num_tables;
  TF_RETURN_IF_ERROR(
      c->Merge(c->Dim(query, 1), c->Dim(sorted_units, 0), &num_tables));
  c->set_output(0, kPooled ? c->Vector(num_candidates)
                           : c->Matrix(c->Dim(query, 0), num_candidates));
  return absl::OkStatus();
}

}  // namespace

// REGISTER_OP of a query op: the inputs and attributes they share.
#define WTA_QUERY_INDEX_OP(name, pooled)      \
  REGISTER_OP(name)                           \
      .Input("query_buckets: int32")          \
      .Input("sorted_buckets: int32")         \
      .Input("sorted_units: int32")           \
      .Input("num_buckets: int32")            \
      .Output("candidates: int32")            \
      .Attr("num_candidates: int >= 0")       \
      .Attr("max_bucket_size: int = -1")      \
      .Attr("check_index: bool = true")       \
      .SetShapeFn(QueryIndexShape<pooled>)

REGISTER_OP("WtaBuildIndex")
    .Input("unit_buckets: int32")
    .Output("sorted_buckets: int32")
    .Output("sorted_units: int32")
    .Output("num_buckets_out: int32")
    .Attr("num_buckets: int >= 1")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle unit_buckets;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 2, &unit_buckets));
      ShapeHandle sorted =
          c->Matrix(c->Dim(unit_buckets, 1), c->Dim(unit_buckets, 0));
      c->set_output(0, sorted);
      c->set_output(1, sorted);
      c->set_output(2, c->Scalar());
      return absl::OkStatus();
    })
    .Doc(R"doc(
Builds a bucket index of N units in L tables.

unit_buckets: [N, L] int32 in [0, num_buckets), the bucket key of each unit
  in each table.
sorted_buckets: [L, N] int32, row t the keys of table t in ascending order.
sorted_units: [L, N] int32, the unit ids in the same order (ascending within
  a bucket).
num_buckets_out: [] int32, num_buckets (kept with the index for queries).
)doc");

WTA_QUERY_INDEX_OP("WtaQueryIndex", false)
    .Doc(R"doc(
Candidate units of each query: those that share its bucket in at least one
table, by collision count (descending) then unit id (ascending), cut to
num_candidates and padded with -1.

query_buckets: [B, L] int32 in [0, num_buckets).
sorted_buckets, sorted_units, num_buckets: an index from WtaBuildIndex.
candidates: [B, num_candidates] int32 in [-1, N).
max_bucket_size: if >= 1, a bucket contributes only its first max_bucket_size
  units in unit-id order; -1 (the default) means no cap.
check_index: whether the CPU kernel checks that the index is sorted and in
  range (O(L * N) per call); without the check a corrupted index gives wrong
  candidates but is never read out of bounds. The GPU kernel never checks.
)doc");

WTA_QUERY_INDEX_OP("WtaQueryIndexPooled", true)
    .Doc(R"doc(
One candidate set for a batch of queries: the units that share a bucket with
at least one query row, by their collision count summed over all rows and
tables (descending) then unit id (ascending), cut to num_candidates and
padded with -1.

query_buckets: [B, L] int32 in [0, num_buckets); B * L must be < 2**31.
sorted_buckets, sorted_units, num_buckets: an index from WtaBuildIndex.
candidates: [num_candidates] int32 in [-1, N).
max_bucket_size, check_index: as for WtaQueryIndex.
)doc");

}  // namespace wta
}  // namespace tensorflow
