// Bucket index over the units (e.g. weight rows) of a layer, and its query.
//
// The index of N units in L tables is three plain tensors, so a layer can
// keep it in fixed-shape variables:
//   sorted_buckets [L, N] int32: row t holds the bucket keys of table t in
//                                ascending order;
//   sorted_units   [L, N] int32: the unit ids in the same order, ascending
//                                within a bucket;
//   num_buckets    []     int32: the number of distinct bucket keys.
// A query finds the range of a bucket by binary search, so nothing is ever
// allocated per bucket and num_buckets may be as large as 2**31 - 1.
#ifndef TF_WTA_CC_KERNELS_WTA_INDEX_H_
#define TF_WTA_CC_KERNELS_WTA_INDEX_H_

#include <cstdint>
#include <limits>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor_types.h"

namespace tensorflow {
namespace wta {

// Key of an index entry whose unit is in no bucket of that table: the GPU
// build writes it for a unit bucket outside [0, num_buckets) (the CPU build
// rejects those instead). It sorts after every valid key and no query
// matches it (a valid key is < num_buckets <= INT32_MAX).
constexpr int32_t kNoBucket = std::numeric_limits<int32_t>::max();

namespace functor {

// Fills sorted_buckets / sorted_units ([L, N]) from unit_buckets ([N, L]).
// On the CPU, unit_buckets must already hold keys in [0, num_buckets).
template <typename Device>
struct WtaBuildIndex {
  void operator()(OpKernelContext* ctx,
                  TTypes<int32_t>::ConstMatrix unit_buckets,
                  int32_t num_buckets, TTypes<int32_t>::Matrix sorted_buckets,
                  TTypes<int32_t>::Matrix sorted_units);
};

// candidates[b, :] = the units that share a bucket with query b in at least
// one table, by collision count (descending) then unit id (ascending), cut
// to C and padded with -1. A bucket contributes only its first
// max_bucket_size units (all when max_bucket_size < 0). On the CPU the
// index must already be valid and every query key in [0, num_buckets).
template <typename Device>
struct WtaQueryIndex {
  void operator()(OpKernelContext* ctx,
                  TTypes<int32_t>::ConstMatrix query_buckets,
                  TTypes<int32_t>::ConstMatrix sorted_buckets,
                  TTypes<int32_t>::ConstMatrix sorted_units,
                  int32_t num_buckets, int64_t max_bucket_size,
                  TTypes<int32_t>::Matrix candidates);
};

// candidates[:] = the units that share a bucket with at least one query
// row, by their collision count summed over every row and table
// (descending) then unit id (ascending), cut to C and padded with -1: one
// candidate set for a whole batch. max_bucket_size as for WtaQueryIndex. On
// the CPU the index must already be valid and every query key in
// [0, num_buckets); batch * L must fit in int32 (the counts do).
template <typename Device>
struct WtaQueryIndexPooled {
  void operator()(OpKernelContext* ctx,
                  TTypes<int32_t>::ConstMatrix query_buckets,
                  TTypes<int32_t>::ConstMatrix sorted_buckets,
                  TTypes<int32_t>::ConstMatrix sorted_units,
                  int32_t num_buckets, int64_t max_bucket_size,
                  TTypes<int32_t>::Vec candidates);
};

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_WTA_INDEX_H_
