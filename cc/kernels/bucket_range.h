// Where a bucket's entries lie in one table of a CPU index: the lookup the
// per-row (query_index_cpu.cc) and pooled (wta_index.cc) CPU queries share.
#ifndef TF_WTA_CC_KERNELS_BUCKET_RANGE_H_
#define TF_WTA_CC_KERNELS_BUCKET_RANGE_H_

#include <algorithm>
#include <cstdint>
#include <utility>

#include "tensorflow/core/framework/tensor_types.h"

namespace tensorflow {
namespace wta {

// Bits of value: about the steps of a binary search over `value` entries.
inline int BitWidth(uint32_t value) {
  return value == 0 ? 0 : 32 - __builtin_clz(value);
}

// [first, last) of the entries equal to key in keys[0, n) (sorted
// ascending): what std::equal_range returns, with far fewer cache misses.
// Bucket keys spread over [0, num_buckets), so the search starts where an
// even spread would put the key and gallops from there; a plain binary
// search over a large table misses the cache at almost every step. On a
// corrupted (unsorted) index the range may be wrong but stays in bounds.
inline std::pair<int64_t, int64_t> GuidedEqualRange(const int32_t* keys, int64_t n,
                                             int32_t key,
                                             int64_t num_buckets) {
  if (n == 0) return {0, 0};
  const int64_t spread = static_cast<int64_t>(key) * n / num_buckets;
  const int64_t guess = std::max<int64_t>(0, std::min(n - 1, spread));
  int64_t lo, hi;  // the first entry >= key is in (lo, hi]
  if (keys[guess] < key) {
    lo = guess;
    hi = guess + 1;
    for (int64_t step = 1; hi < n && keys[hi] < key; step *= 2) {
      lo = hi;
      hi = lo + 2 * step;
    }
  } else {
    hi = guess;
    lo = guess - 1;
    for (int64_t step = 1; lo >= 0 && keys[lo] >= key; step *= 2) {
      hi = lo;
      lo = hi - 2 * step;
    }
  }
  lo = std::max<int64_t>(lo, -1);
  hi = std::min(hi, n);
  const int64_t first = std::lower_bound(keys + lo + 1, keys + hi, key) - keys;
  // The first entry > key is in (lo, hi].
  lo = first - 1;
  hi = first;
  for (int64_t step = 1; hi < n && keys[hi] <= key; step *= 2) {
    lo = hi;
    hi = lo + step;
  }
  hi = std::min(hi, n);
  const int64_t last = std::upper_bound(keys + lo + 1, keys + hi, key) - keys;
  return {first, last};
}

// The entries of `key` in table t of the index, cut to the first
// max_bucket_size when that is >= 0 (what one bucket contributes to a query).
inline std::pair<int64_t, int64_t> CappedBucketRange(
    TTypes<int32_t>::ConstMatrix sorted_buckets, int64_t t, int32_t key,
    int32_t num_buckets, int64_t max_bucket_size) {
  auto range = GuidedEqualRange(&sorted_buckets(t, 0),
                                sorted_buckets.dimension(1), key, num_buckets);
  if (max_bucket_size >= 0) {
    range.second = std::min(range.second, range.first + max_bucket_size);
  }
  return range;
}

}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_BUCKET_RANGE_H_
