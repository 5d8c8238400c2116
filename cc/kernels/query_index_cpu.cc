// WtaQueryIndex's CPU functor: for each query row, the units that share its
// bucket in the most tables.
//
// Per row: the range of the row's bucket in each table, the collision count
// of every unit in those ranges, then the best num_candidates by (count
// descending, unit id ascending). Two ways to keep the counts, chosen per
// call from the expected work and giving the same candidates:
//   sparse: the units a row hits are listed as they are first hit, and the
//     selection runs over that list (a row hits few of the N units, e.g. an
//     output layer of 10**6 classes);
//   dense: no list; the selection runs over all N counts in unit-id order,
//     which is cheaper once a row hits a fair share of the units (a hidden
//     layer's 100 tables of ~16 units over 1,000 units) and needs no
//     ordering of the tied units.
// When a table has few buckets next to the batch's rows, rows share
// buckets, and each worker keeps the ranges it has looked up.
#define EIGEN_USE_THREADS

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "cc/kernels/bucket_range.h"
#include "cc/kernels/op_kernel_common.h"
#include "cc/kernels/wta_index.h"

namespace tensorflow {
namespace wta {
namespace {

// Dense counting once a row's expected hits (tables x bucket size) are at
// least 1 / kDenseCountingRatio of the units: its three passes over N then
// cost about what listing the hit units costs.
constexpr int64_t kDenseCountingRatio = 4;
// Ranges are cached when a table has at most this many buckets per query
// row (the cache's num_tables x num_buckets entries, reset once per call,
// then cost less than the lookups they save), and the cache holds at most
// kMaxCachedRanges entries (8 MiB a worker).
constexpr int64_t kCachedBucketsPerRow = 4;
constexpr int64_t kMaxCachedRanges = int64_t{1} << 20;
// Interleaved copies of the dense path's count histogram.
constexpr int kHistogramLanes = 4;

using Range = std::pair<int64_t, int64_t>;

// Scratch of one CPU worker, reused across the rows it queries.
struct QueryScratch {
  QueryScratch(int64_t num_units, int64_t num_tables, int64_t cached_ranges)
      : counts(num_units, 0),
        level_sizes(num_tables + 1),
        histogram_lanes(kHistogramLanes * (num_tables + 1)),
        ranges(num_tables),
        range_cache(cached_ranges, {-1, -1}) {}
  std::vector<int32_t> counts;  // collisions per unit; all zero between rows
  std::vector<int32_t> hit_units;  // sparse counting: units, as first hit
  std::vector<int64_t> level_sizes;  // units per (capped) count
  std::vector<int64_t> histogram_lanes;  // dense path: level_sizes' parts
  std::vector<std::pair<int32_t, int32_t>> selected;  // (count, unit)
  std::vector<int32_t> ties;
  std::vector<Range> ranges;  // per table, this row
  // Entry t * num_buckets + key: that bucket's range in table t, or
  // {-1, -1} until this worker looks it up. Empty when not caching.
  std::vector<std::pair<int32_t, int32_t>> range_cache;
};

// The selection's cut: every unit whose count is above `threshold` is a
// candidate, and the `needed` smallest unit ids whose count equals it.
struct Cut {
  int32_t threshold;
  int64_t needed;
};

// The cut that keeps num_candidates units (all hit units when fewer were
// hit, threshold 0) given level_sizes[c], the units of capped count c.
Cut CutOf(const std::vector<int64_t>& level_sizes, int32_t cap,
          int64_t num_candidates) {
  int64_t above = 0;
  int32_t threshold = cap;
  while (threshold > 0 && above + level_sizes[threshold] < num_candidates) {
    above += level_sizes[threshold--];
  }
  return {threshold, threshold > 0 ? num_candidates - above : 0};
}

// Writes s->selected, (count, unit) pairs, to out by count descending then
// unit ascending, padded with -1 to num_candidates.
void WriteSelected(int64_t num_candidates, QueryScratch* s, int32_t* out) {
  std::sort(s->selected.begin(), s->selected.end(),
            [](const std::pair<int32_t, int32_t>& a,
               const std::pair<int32_t, int32_t>& b) {
              return a.first != b.first ? a.first > b.first
                                        : a.second < b.second;
            });
  int64_t written = 0;
  for (const auto& count_and_unit : s->selected) {
    out[written++] = count_and_unit.second;
  }
  std::fill(out + written, out + num_candidates, -1);
}

// Counts the row's collisions in s->counts (N entries), selects over all N
// units in id order (ties are then taken smallest id first with no sort)
// and zeroes the counts again. Counts are capped at num_tables, which only
// a corrupted index (a unit twice in one bucket) exceeds.
void CountAndSelectDense(TTypes<int32_t>::ConstMatrix sorted_units,
                         int64_t num_candidates, QueryScratch* s,
                         int32_t* out) {
  const int64_t num_tables = sorted_units.dimension(0);
  const int64_t num_units = sorted_units.dimension(1);
  const int32_t cap = static_cast<int32_t>(num_tables);
  int32_t* counts = s->counts.data();
  for (int64_t t = 0; t < num_tables; ++t) {
    const int32_t* units = &sorted_units(t, 0);
    for (int64_t i = s->ranges[t].first; i < s->ranges[t].second; ++i) {
      const int32_t unit = units[i];
      // Only reachable with check_index=false and a corrupted index.
      if (static_cast<uint32_t>(unit) >= static_cast<uint64_t>(num_units))
        continue;
      ++counts[unit];
    }
  }
  // A histogram of all N counts, zeros included (no branch), into
  // kHistogramLanes interleaved copies: consecutive units then increment
  // different memory, not one level's counter in a chain.
  std::vector<int64_t>& lanes = s->histogram_lanes;
  std::fill(lanes.begin(), lanes.end(), 0);
  const int64_t levels = num_tables + 1;
  int64_t unit = 0;
  for (; unit + kHistogramLanes <= num_units; unit += kHistogramLanes) {
    for (int lane = 0; lane < kHistogramLanes; ++lane) {
      ++lanes[lane * levels + std::min(counts[unit + lane], cap)];
    }
  }
  for (; unit < num_units; ++unit) ++lanes[std::min(counts[unit], cap)];
  for (int64_t level = 0; level < levels; ++level) {
    int64_t size = 0;
    for (int lane = 0; lane < kHistogramLanes; ++lane) {
      size += lanes[lane * levels + level];
    }
    s->level_sizes[level] = size;
  }
  const Cut cut = CutOf(s->level_sizes, cap, num_candidates);
  // Few units reach the cut, so this branch is rarely taken.
  const int32_t lowest = std::max(cut.threshold, 1);
  int64_t ties_taken = 0;
  s->selected.clear();
  for (unit = 0; unit < num_units; ++unit) {
    if (counts[unit] < lowest) continue;
    const int32_t count = std::min(counts[unit], cap);
    if (count > cut.threshold || ties_taken++ < cut.needed) {
      s->selected.emplace_back(count, static_cast<int32_t>(unit));
    }
  }
  std::fill(counts, counts + num_units, 0);
  WriteSelected(num_candidates, s, out);
}

// Counts the row's collisions in s->counts, listing each unit when first
// hit, selects over that list and zeroes the counts it set. Counts are
// capped as for CountAndSelectDense.
void CountAndSelectSparse(TTypes<int32_t>::ConstMatrix sorted_units,
                          int64_t num_candidates, QueryScratch* s,
                          int32_t* out) {
  const int64_t num_tables = sorted_units.dimension(0);
  const int64_t num_units = sorted_units.dimension(1);
  const int32_t cap = static_cast<int32_t>(num_tables);
  int64_t hits = 0;
  for (const Range& range : s->ranges) hits += range.second - range.first;
  // The list is written at every hit and advanced only at a new unit (no
  // branch to mispredict), so it needs one slot past the units it can hold.
  const int64_t slots = std::min(hits, num_units + 1);
  if (static_cast<int64_t>(s->hit_units.size()) < slots) {
    s->hit_units.resize(slots);
  }
  int32_t* counts = s->counts.data();
  int32_t* hit_units = s->hit_units.data();
  int64_t num_hit = 0;
  for (int64_t t = 0; t < num_tables; ++t) {
    const int32_t* units = &sorted_units(t, 0);
    for (int64_t i = s->ranges[t].first; i < s->ranges[t].second; ++i) {
      const int32_t unit = units[i];
      // Only reachable with check_index=false and a corrupted index.
      if (static_cast<uint32_t>(unit) >= static_cast<uint64_t>(num_units))
        continue;
      hit_units[num_hit] = unit;
      num_hit += counts[unit]++ == 0;
    }
  }
  std::fill(s->level_sizes.begin(), s->level_sizes.end(), 0);
  for (int64_t i = 0; i < num_hit; ++i) {
    ++s->level_sizes[std::min(counts[hit_units[i]], cap)];
  }
  const Cut cut = CutOf(s->level_sizes, cap, num_candidates);
  // The list is in hit order: collect the ties, then take their smallest
  // ids.
  s->selected.clear();
  s->ties.clear();
  for (int64_t i = 0; i < num_hit; ++i) {
    const int32_t unit = hit_units[i];
    const int32_t count = std::min(counts[unit], cap);
    if (count > cut.threshold) {
      s->selected.emplace_back(count, unit);
    } else if (count == cut.threshold) {
      s->ties.push_back(unit);
    }
    counts[unit] = 0;
  }
  std::nth_element(s->ties.begin(), s->ties.begin() + cut.needed,
                   s->ties.end());
  for (int64_t i = 0; i < cut.needed; ++i) {
    s->selected.emplace_back(cut.threshold, s->ties[i]);
  }
  WriteSelected(num_candidates, s, out);
}

}  // namespace

namespace functor {

template <>
void WtaQueryIndex<CPUDevice>::operator()(
    OpKernelContext* ctx, TTypes<int32_t>::ConstMatrix query_buckets,
    TTypes<int32_t>::ConstMatrix sorted_buckets,
    TTypes<int32_t>::ConstMatrix sorted_units, int32_t num_buckets,
    int64_t max_bucket_size, TTypes<int32_t>::Matrix candidates) {
  const int64_t batch = query_buckets.dimension(0);
  const int64_t num_tables = sorted_buckets.dimension(0);
  const int64_t num_units = sorted_buckets.dimension(1);
  const int64_t num_candidates = candidates.dimension(1);
  thread::ThreadPool* pool = WorkerPool(ctx);
  int64_t bucket_size = num_units / num_buckets + 1;
  if (max_bucket_size >= 0)
    bucket_size = std::min(bucket_size, max_bucket_size);
  const bool dense = num_units <= kDenseCountingRatio * num_tables * bucket_size;
  const bool cache_ranges = num_buckets <= kCachedBucketsPerRow * batch &&
                            num_tables * num_buckets <= kMaxCachedRanges;
  const int64_t cached_ranges = cache_ranges ? num_tables * num_buckets : 0;
  const int64_t lookup_cost = 8 * BitWidth(static_cast<uint32_t>(num_units));
  const int64_t cost_per_row =
      num_tables * ((cache_ranges ? 2 : lookup_cost) + 8 * bucket_size) +
      (dense ? 3 * num_units : 0);
  // Per-worker scratch (N counts), allocated on a worker's first row.
  std::vector<std::unique_ptr<QueryScratch>> scratch(pool->NumThreads() + 1);
  pool->ParallelForWithWorkerId(
      batch, thread::ThreadPool::SchedulingParams::Adaptive(cost_per_row),
      [&](int64_t begin, int64_t end, int worker) {
        if (!scratch[worker]) {
          scratch[worker].reset(
              new QueryScratch(num_units, num_tables, cached_ranges));
        }
        QueryScratch* s = scratch[worker].get();
        for (int64_t b = begin; b < end; ++b) {
          if (cache_ranges) {
            for (int64_t t = 0; t < num_tables; ++t) {
              const int32_t key = query_buckets(b, t);
              auto& cached = s->range_cache[t * num_buckets + key];
              if (cached.first < 0) {
                const Range range = CappedBucketRange(
                    sorted_buckets, t, key, num_buckets, max_bucket_size);
                cached = {static_cast<int32_t>(range.first),
                          static_cast<int32_t>(range.second)};
              }
              s->ranges[t] = {cached.first, cached.second};
            }
          } else {
            // Two passes over the tables, so that the cache misses of the
            // lookups (a table's keys near the guess, then its bucket's
            // unit ids) are in flight together rather than one by one.
            for (int64_t t = 0; t < num_tables; ++t) {
              const int64_t guess = std::min<int64_t>(
                  num_units - 1, static_cast<int64_t>(query_buckets(b, t)) *
                                     num_units / num_buckets);
              if (guess >= 0) __builtin_prefetch(&sorted_buckets(t, guess));
            }
            for (int64_t t = 0; t < num_tables; ++t) {
              const Range range =
                  CappedBucketRange(sorted_buckets, t, query_buckets(b, t),
                                    num_buckets, max_bucket_size);
              if (range.first < range.second) {
                __builtin_prefetch(&sorted_units(t, range.first));
              }
              s->ranges[t] = range;
            }
          }
          if (dense) {
            CountAndSelectDense(sorted_units, num_candidates, s,
                                &candidates(b, 0));
          } else {
            CountAndSelectSparse(sorted_units, num_candidates, s,
                                 &candidates(b, 0));
          }
        }
      });
}

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow
