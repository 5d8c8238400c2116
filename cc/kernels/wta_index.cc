// WtaBuildIndex, WtaQueryIndex and WtaQueryIndexPooled: op kernels (all
// devices) and the CPU functors of the build and the pooled query (the
// per-row query's is in query_index_cpu.cc).
#define EIGEN_USE_THREADS

#include "cc/kernels/wta_index.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "cc/kernels/bucket_range.h"
#include "cc/kernels/op_kernel_common.h"

namespace tensorflow {
namespace wta {
namespace {

// Digit width of the build's LSD radix sort: 2**11 counters stay in L1.
constexpr int kMaxDigitBits = 11;

// Sorts keys[0, n) (non-negative, below 2**bits) and their values by key,
// stably. Scratch: key_tmp and value_tmp of n entries each.
void RadixSortPairs(int bits, int64_t n, int32_t* keys, int32_t* values,
                    int32_t* key_tmp, int32_t* value_tmp) {
  const int passes = (bits + kMaxDigitBits - 1) / kMaxDigitBits;
  if (passes == 0) return;
  const int digit_bits = (bits + passes - 1) / passes;
  const uint32_t mask = (1u << digit_bits) - 1;
  std::vector<int64_t> offsets(size_t{1} << digit_bits);
  int32_t *src_keys = keys, *src_values = values;
  int32_t *dst_keys = key_tmp, *dst_values = value_tmp;
  for (int pass = 0; pass < passes; ++pass) {
    const int shift = pass * digit_bits;
    std::fill(offsets.begin(), offsets.end(), 0);
    for (int64_t i = 0; i < n; ++i) {
      ++offsets[(static_cast<uint32_t>(src_keys[i]) >> shift) & mask];
    }
    int64_t sum = 0;
    for (int64_t& offset : offsets) {
      const int64_t count = offset;
      offset = sum;
      sum += count;
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t pos =
          offsets[(static_cast<uint32_t>(src_keys[i]) >> shift) & mask]++;
      dst_keys[pos] = src_keys[i];
      dst_values[pos] = src_values[i];
    }
    std::swap(src_keys, dst_keys);
    std::swap(src_values, dst_values);
  }
  if (src_keys != keys) {
    std::copy(src_keys, src_keys + n, keys);
    std::copy(src_values, src_values + n, values);
  }
}

}  // namespace

namespace functor {

template <>
void WtaBuildIndex<CPUDevice>::operator()(
    OpKernelContext* ctx, TTypes<int32_t>::ConstMatrix unit_buckets,
    int32_t num_buckets, TTypes<int32_t>::Matrix sorted_buckets,
    TTypes<int32_t>::Matrix sorted_units) {
  const int64_t num_units = unit_buckets.dimension(0);
  const int64_t num_tables = unit_buckets.dimension(1);
  thread::ThreadPool* pool = WorkerPool(ctx);
  // Transposes blocks of rows, so reads and writes both use whole lines.
  constexpr int64_t kBlockRows = 64;
  pool->ParallelFor(
      (num_units + kBlockRows - 1) / kBlockRows, 2 * kBlockRows * num_tables,
      [&](int64_t begin, int64_t end) {
        for (int64_t block = begin; block < end; ++block) {
          const int64_t first = block * kBlockRows;
          const int64_t last = std::min(num_units, first + kBlockRows);
          for (int64_t t = 0; t < num_tables; ++t) {
            for (int64_t n = first; n < last; ++n) {
              sorted_buckets(t, n) = unit_buckets(n, t);
            }
          }
        }
      });
  const int bits = BitWidth(static_cast<uint32_t>(num_buckets - 1));
  const int64_t passes = (bits + kMaxDigitBits - 1) / kMaxDigitBits;
  pool->ParallelFor(num_tables, num_units * (2 + 8 * passes),
                    [&](int64_t begin, int64_t end) {
                      std::vector<int32_t> key_tmp(num_units),
                          value_tmp(num_units);
                      for (int64_t t = begin; t < end; ++t) {
                        int32_t* units = &sorted_units(t, 0);
                        for (int64_t n = 0; n < num_units; ++n)
                          units[n] = static_cast<int32_t>(n);
                        // Units start in ascending order, and a stable sort by
                        // bucket keeps them so within each bucket.
                        RadixSortPairs(bits, num_units, &sorted_buckets(t, 0),
                                       units, key_tmp.data(), value_tmp.data());
                      }
                    });
}

template <>
void WtaQueryIndexPooled<CPUDevice>::operator()(
    OpKernelContext* ctx, TTypes<int32_t>::ConstMatrix query_buckets,
    TTypes<int32_t>::ConstMatrix sorted_buckets,
    TTypes<int32_t>::ConstMatrix sorted_units, int32_t num_buckets,
    int64_t max_bucket_size, TTypes<int32_t>::Vec candidates) {
  const int64_t batch = query_buckets.dimension(0);
  const int64_t num_tables = sorted_buckets.dimension(0);
  const int64_t num_units = sorted_buckets.dimension(1);
  const int64_t num_candidates = candidates.dimension(0);
  // A bucket queried by several rows is looked up once and counted with its
  // multiplicity: rows of a batch share many buckets.
  struct Hit {
    int64_t first, last;
    int32_t rows;
  };
  std::vector<std::vector<Hit>> hits(num_tables);
  WorkerPool(ctx)->ParallelFor(
      num_tables, batch * (8 + 8 * BitWidth(static_cast<uint32_t>(num_units))),
      [&](int64_t begin, int64_t end) {
        std::vector<int32_t> keys(batch);
        for (int64_t t = begin; t < end; ++t) {
          for (int64_t b = 0; b < batch; ++b) keys[b] = query_buckets(b, t);
          std::sort(keys.begin(), keys.end());
          for (int64_t b = 0; b < batch;) {
            int64_t next = b + 1;
            while (next < batch && keys[next] == keys[b]) ++next;
            const auto range = CappedBucketRange(
                sorted_buckets, t, keys[b], num_buckets, max_bucket_size);
            if (range.first < range.second) {
              hits[t].push_back({range.first, range.second,
                                 static_cast<int32_t>(next - b)});
            }
            b = next;
          }
        }
      });
  std::vector<int32_t> counts(num_units, 0);
  std::vector<int32_t> touched;
  for (int64_t t = 0; t < num_tables; ++t) {
    const int32_t* units = &sorted_units(t, 0);
    for (const Hit& hit : hits[t]) {
      for (int64_t i = hit.first; i < hit.last; ++i) {
        const int32_t unit = units[i];
        // Only reachable with check_index=false and a corrupted index.
        if (static_cast<uint32_t>(unit) >= static_cast<uint64_t>(num_units))
          continue;
        if (counts[unit] == 0) touched.push_back(unit);
        counts[unit] += hit.rows;
      }
    }
  }
  const auto before = [&counts](int32_t a, int32_t b) {
    return counts[a] != counts[b] ? counts[a] > counts[b] : a < b;
  };
  const int64_t kept = std::min<int64_t>(num_candidates, touched.size());
  std::nth_element(touched.begin(), touched.begin() + kept, touched.end(),
                   before);
  std::sort(touched.begin(), touched.begin() + kept, before);
  std::copy(touched.begin(), touched.begin() + kept, candidates.data());
  std::fill(candidates.data() + kept, candidates.data() + num_candidates, -1);
}

}  // namespace functor

namespace {

// Entry i of table t breaks the index invariants: a unit id outside
// [0, N), a key outside [0, num_buckets) other than kNoBucket, or not
// strictly after entry i - 1 in (bucket, unit) order.
bool BadIndexEntry(const int32_t* keys, const int32_t* units, int64_t i,
                   int64_t num_units, int64_t num_buckets) {
  if (units[i] < 0 || units[i] >= num_units) return true;
  if ((keys[i] < 0 || keys[i] >= num_buckets) && keys[i] != kNoBucket)
    return true;
  return i > 0 && (keys[i - 1] > keys[i] ||
                   (keys[i - 1] == keys[i] && units[i - 1] >= units[i]));
}

// O(L * N) check that the index tensors are what WtaBuildIndex writes, so a
// corrupted index gives an error rather than a wrong result.
absl::Status CheckIndex(thread::ThreadPool* pool, const Tensor& sorted_buckets,
                        const Tensor& sorted_units, int64_t num_buckets) {
  const int64_t num_tables = sorted_buckets.dim_size(0);
  const int64_t num_units = sorted_buckets.dim_size(1);
  const int32_t* keys = sorted_buckets.flat<int32_t>().data();
  const int32_t* units = sorted_units.flat<int32_t>().data();
  const int64_t size = num_tables * num_units;
  std::atomic<int64_t> first(size);
  // A branch-free pass over each block (it vectorises); only a bad block is
  // searched for its first bad entry.
  constexpr int64_t kBlock = 4096;
  const int64_t blocks_per_table = (num_units + kBlock - 1) / kBlock;
  pool->ParallelFor(
      num_tables * blocks_per_table, 3 * kBlock,
      [&](int64_t begin, int64_t end) {
        for (int64_t block = begin; block < end; ++block) {
          const int64_t t = block / blocks_per_table;
          const int64_t lo = (block % blocks_per_table) * kBlock;
          const int64_t hi = std::min(num_units, lo + kBlock);
          const int32_t* k = keys + t * num_units;
          const int32_t* u = units + t * num_units;
          const int32_t n = static_cast<int32_t>(num_units);
          const int32_t nb = static_cast<int32_t>(num_buckets);
          int32_t bad = BadIndexEntry(k, u, lo, num_units, num_buckets);
          for (int64_t i = lo + 1; i < hi; ++i) {
            const int32_t key = k[i], previous_key = k[i - 1];
            const int32_t unit = u[i], previous_unit = u[i - 1];
            bad |= (unit < 0) | (unit >= n) | (key < 0) |
                   ((key >= nb) & (key != kNoBucket)) | (previous_key > key) |
                   ((previous_key == key) & (previous_unit >= unit));
          }
          if (!bad) continue;
          for (int64_t i = lo; i < hi; ++i) {
            if (BadIndexEntry(k, u, i, num_units, num_buckets)) {
              AtomicMin(&first, t * num_units + i);
              break;
            }
          }
        }
      });
  if (first.load() == size) return absl::OkStatus();
  const int64_t t = first.load() / num_units;
  const int64_t i = first.load() % num_units;
  const int32_t key = keys[first.load()];
  const int32_t unit = units[first.load()];
  if (unit < 0 || unit >= num_units) {
    return errors::InvalidArgument(
        "sorted_units[", t, ", ", i, "] = ", unit,
        " is outside [0, N=", num_units,
        "); pass the index of build_index unchanged");
  }
  if ((key < 0 || key >= num_buckets) && key != kNoBucket) {
    return errors::InvalidArgument(
        "sorted_buckets[", t, ", ", i, "] = ", key,
        " is outside [0, num_buckets=", num_buckets,
        "); pass the index of build_index unchanged");
  }
  return errors::InvalidArgument(
      "the index is not sorted by (bucket, unit) at [", t, ", ", i,
      "]: (sorted_buckets, sorted_units) go from (", keys[first.load() - 1],
      ", ", units[first.load() - 1], ") to (", key, ", ", unit,
      "); pass the index of build_index unchanged");
}

template <typename Device>
class WtaBuildIndexOp : public OpKernel {
 public:
  explicit WtaBuildIndexOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    int64_t num_buckets;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("num_buckets", &num_buckets));
    OP_REQUIRES(
        ctx, num_buckets >= 1 && num_buckets <= INT32_MAX,
        errors::InvalidArgument("num_buckets must be in [1, 2**31 - 1], got ",
                                num_buckets));
    num_buckets_ = static_cast<int32_t>(num_buckets);
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& unit_buckets = ctx->input(0);
    OP_REQUIRES_OK(ctx, CheckMatrix(unit_buckets, "unit_buckets"));
    const int64_t num_units = unit_buckets.dim_size(0);
    const int64_t num_tables = unit_buckets.dim_size(1);
    OP_REQUIRES(ctx, num_units <= INT32_MAX,
                errors::InvalidArgument("unit_buckets has ", num_units,
                                        " rows; unit ids are int32, so at most "
                                        "2**31 - 1 fit"));
    if constexpr (std::is_same<Device, CPUDevice>::value) {
      OP_REQUIRES_OK(ctx, CheckInRange(WorkerPool(ctx), unit_buckets,
                                       "unit_buckets", 0, num_buckets_,
                                       UpTo("num_buckets", num_buckets_)));
    }
    const TensorShape sorted_shape({num_tables, num_units});
    Tensor *sorted_buckets = nullptr, *sorted_units = nullptr,
           *num_buckets = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, sorted_shape, &sorted_buckets));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, sorted_shape, &sorted_units));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({}), &num_buckets));
    num_buckets->scalar<int32_t>()() = num_buckets_;
    if (sorted_shape.num_elements() == 0) return;
    functor::WtaBuildIndex<Device>()(
        ctx, unit_buckets.matrix<int32_t>(), num_buckets_,
        sorted_buckets->matrix<int32_t>(), sorted_units->matrix<int32_t>());
  }

 private:
  int32_t num_buckets_;
};

// WtaQueryIndex (candidates per query row) or, when kPooled,
// WtaQueryIndexPooled (one candidate set for the batch): same inputs, same
// checks.
template <typename Device, bool kPooled>
class WtaQueryIndexOp : public OpKernel {
 public:
  explicit WtaQueryIndexOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("num_candidates", &num_candidates_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("max_bucket_size", &max_bucket_size_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("check_index", &check_index_));
    OP_REQUIRES(ctx, num_candidates_ >= 0,
                errors::InvalidArgument("num_candidates must be >= 0, got ",
                                        num_candidates_));
    OP_REQUIRES(
        ctx, max_bucket_size_ == -1 || max_bucket_size_ >= 1,
        errors::InvalidArgument("max_bucket_size must be -1 (no cap) or "
                                ">= 1, got ",
                                max_bucket_size_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& query_buckets = ctx->input(0);
    const Tensor& sorted_buckets = ctx->input(1);
    const Tensor& sorted_units = ctx->input(2);
    const Tensor& num_buckets_tensor = ctx->input(3);
    OP_REQUIRES_OK(ctx, CheckMatrix(query_buckets, "query_buckets"));
    OP_REQUIRES_OK(ctx, CheckMatrix(sorted_buckets, "sorted_buckets"));
    OP_REQUIRES_OK(ctx, CheckMatrix(sorted_units, "sorted_units"));
    OP_REQUIRES(
        ctx, TensorShapeUtils::IsScalar(num_buckets_tensor.shape()),
        errors::InvalidArgument("num_buckets must be a scalar, got shape ",
                                num_buckets_tensor.shape().DebugString()));
    const int32_t num_buckets = num_buckets_tensor.scalar<int32_t>()();
    OP_REQUIRES(
        ctx, num_buckets >= 1,
        errors::InvalidArgument("num_buckets must be >= 1, got ", num_buckets));
    OP_REQUIRES(ctx, sorted_buckets.shape() == sorted_units.shape(),
                errors::InvalidArgument(
                    "sorted_buckets and sorted_units must have the same shape "
                    "[L, N], got ",
                    sorted_buckets.shape().DebugString(), " and ",
                    sorted_units.shape().DebugString()));
    const int64_t num_tables = sorted_buckets.dim_size(0);
    OP_REQUIRES(ctx, sorted_buckets.dim_size(1) <= INT32_MAX,
                errors::InvalidArgument(
                    "sorted_buckets has ", sorted_buckets.dim_size(1),
                    " units (columns); unit ids are int32, so at "
                    "most 2**31 - 1 fit"));
    OP_REQUIRES(
        ctx, query_buckets.dim_size(1) == num_tables,
        errors::InvalidArgument("query_buckets has ", query_buckets.dim_size(1),
                                " tables (columns) but the index has ",
                                num_tables, " (rows of sorted_buckets)"));
    if (kPooled) {
      OP_REQUIRES(ctx, query_buckets.NumElements() <= INT32_MAX,
                  errors::InvalidArgument(
                      "query_buckets has ", query_buckets.dim_size(0),
                      " rows of ", num_tables, " tables; a pooled query counts "
                      "collisions in int32, so rows * tables must be < 2**31: "
                      "split the batch"));
    }
    if constexpr (std::is_same<Device, CPUDevice>::value) {
      OP_REQUIRES_OK(ctx, CheckInRange(WorkerPool(ctx), query_buckets,
                                       "query_buckets", 0, num_buckets,
                                       UpTo("num_buckets", num_buckets)));
      if (check_index_) {
        OP_REQUIRES_OK(ctx, CheckIndex(WorkerPool(ctx), sorted_buckets,
                                       sorted_units, num_buckets));
      }
    }
    Tensor* candidates = nullptr;
    const TensorShape shape =
        kPooled ? TensorShape({num_candidates_})
                : TensorShape({query_buckets.dim_size(0), num_candidates_});
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, shape, &candidates));
    if (candidates->NumElements() == 0) return;
    if constexpr (kPooled) {
      functor::WtaQueryIndexPooled<Device>()(
          ctx, query_buckets.matrix<int32_t>(),
          sorted_buckets.matrix<int32_t>(), sorted_units.matrix<int32_t>(),
          num_buckets, max_bucket_size_, candidates->vec<int32_t>());
    } else {
      functor::WtaQueryIndex<Device>()(
          ctx, query_buckets.matrix<int32_t>(),
          sorted_buckets.matrix<int32_t>(), sorted_units.matrix<int32_t>(),
          num_buckets, max_bucket_size_, candidates->matrix<int32_t>());
    }
  }

 private:
  int64_t num_candidates_;
  int64_t max_bucket_size_;
  bool check_index_;
};

}  // namespace

REGISTER_KERNEL_BUILDER(Name("WtaBuildIndex").Device(DEVICE_CPU),
                        WtaBuildIndexOp<CPUDevice>);
REGISTER_KERNEL_BUILDER(Name("WtaQueryIndex").Device(DEVICE_CPU),
                        WtaQueryIndexOp<CPUDevice, false>);
REGISTER_KERNEL_BUILDER(Name("WtaQueryIndexPooled").Device(DEVICE_CPU),
                        WtaQueryIndexOp<CPUDevice, true>);

#if GOOGLE_CUDA
extern template struct functor::WtaBuildIndex<GPUDevice>;
extern template struct functor::WtaQueryIndex<GPUDevice>;
extern template struct functor::WtaQueryIndexPooled<GPUDevice>;

REGISTER_KERNEL_BUILDER(
    Name("WtaBuildIndex").Device(DEVICE_GPU).HostMemory("num_buckets_out"),
    WtaBuildIndexOp<GPUDevice>);
REGISTER_KERNEL_BUILDER(
    Name("WtaQueryIndex").Device(DEVICE_GPU).HostMemory("num_buckets"),
    WtaQueryIndexOp<GPUDevice, false>);
REGISTER_KERNEL_BUILDER(
    Name("WtaQueryIndexPooled").Device(DEVICE_GPU).HostMemory("num_buckets"),
    WtaQueryIndexOp<GPUDevice, true>);
#endif  // GOOGLE_CUDA

}  // namespace wta
}  // namespace tensorflow
