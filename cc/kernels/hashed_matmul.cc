// WtaHashedMatmul and WtaHashedMatmulGrad: op kernels (all devices) and CPU
// functors.
//
// The CPU kernels group the (b, c) pairs by the unit they select, so a weight
// row chosen by several samples is read from memory once and then dotted
// with (or accumulated from) every x row that chose it from cache. The same
// grouping gives the gradient its one row per distinct unit, and lets the
// gradient compute grad_x from each weight row in the same single pass.
// float16 and bfloat16 are widened to float as they are read and summed in
// float, rounded once into the output.
#define EIGEN_USE_THREADS

#include "cc/kernels/hashed_matmul.h"

#include <algorithm>
#include <vector>

#include "cc/kernels/cpu_loops.h"
#include "cc/kernels/op_kernel_common.h"

namespace tensorflow {
namespace wta {
namespace {

// Independent accumulators break the add dependency chain so the compiler
// vectorises the loop without reassociating float math.
constexpr int kLanes = 16;

template <typename T>
T Dot(const T* a, const T* b, int64_t n) {
  return RunHotLoop(
      [](const T* __restrict__ a, const T* __restrict__ b,
         int64_t n) TF_WTA_HOT_LOOP {
        T acc[kLanes] = {};
        int64_t i = 0;
        for (; i + kLanes <= n; i += kLanes) {
          for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
        }
        for (int j = 0; i < n; ++i, ++j) acc[j] += a[i] * b[i];
        for (int width = kLanes / 2; width > 0; width /= 2) {
          for (int j = 0; j < width; ++j) acc[j] += acc[j + width];
        }
        return acc[0];
      },
      a, b, n);
}

// The gradient's split of the units into blocks summed separately: at most
// kGradBlocks blocks, each of at least kMinGradBlockWork multiply-adds and
// kMinGradBlockPairsPerRow pairs per row of x. A count set by the inputs
// (rather than one block per thread) keeps grad_x's rounding independent of
// the thread count. Each block costs a [B, D] buffer to zero and add (2 B D),
// hence the pairs per row: a block's own work (2 D per pair) is at least 4x
// that. A 2-core machine still pays a few extra passes over [B, D], and one
// with more than 8 cores runs the blocks on 8 of them (the final sum over
// the blocks uses all).
constexpr int64_t kGradBlocks = 8;
constexpr int64_t kMinGradBlockWork = 64 * 1024;
constexpr int64_t kMinGradBlockPairsPerRow = 4;

// y = alpha * v
template <typename T>
void Scale(T alpha, const T* v, T* y, int64_t n) {
  RunHotLoop(
      [](T alpha, const T* __restrict__ v, T* __restrict__ y,
         int64_t n) TF_WTA_HOT_LOOP {
        for (int64_t i = 0; i < n; ++i) y[i] = alpha * v[i];
      },
      alpha, v, y, n);
}

// y += alpha * v
template <typename T>
void Axpy(T alpha, const T* v, T* y, int64_t n) {
  RunHotLoop(
      [](T alpha, const T* __restrict__ v, T* __restrict__ y,
         int64_t n) TF_WTA_HOT_LOOP {
        for (int64_t i = 0; i < n; ++i) y[i] += alpha * v[i];
      },
      alpha, v, y, n);
}

// `data` as the accumulator type: itself, or widened into `buffer` (n
// elements) for the 16-bit types.
template <typename T>
const AccumulatorT<T>* Widen(const T* data, int64_t n,
                             AccumulatorT<T>* buffer) {
  if constexpr (kWidened<T>) {
    for (int64_t i = 0; i < n; ++i) {
      buffer[i] = static_cast<AccumulatorT<T>>(data[i]);
    }
    return buffer;
  } else {
    return data;
  }
}

// A [rows, cols] matrix as the accumulator type: `data` itself, or widened
// once into `buffer` for the 16-bit types (rows are read many times).
template <typename T>
absl::Status WidenMatrix(OpKernelContext* ctx, const T* data, int64_t rows,
                         int64_t cols, Tensor* buffer,
                         const AccumulatorT<T>** widened) {
  if constexpr (kWidened<T>) {
    using A = AccumulatorT<T>;
    TF_RETURN_IF_ERROR(ctx->allocate_temp(
        DataTypeToEnum<A>::value, TensorShape({rows * cols}), buffer));
    A* out = buffer->flat<A>().data();
    WorkerPool(ctx)->ParallelFor(rows, 2 * cols, [&](int64_t begin,
                                                     int64_t end) {
      Widen(data + begin * cols, (end - begin) * cols, out + begin * cols);
    });
    *widened = out;
  } else {
    *widened = data;
  }
  return absl::OkStatus();
}

// out[i] = T(v[i]) for i < n.
template <typename T>
void Narrow(const AccumulatorT<T>* v, int64_t n, T* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(v[i]);
}

absl::Status AllocateGroups(OpKernelContext* ctx, int64_t num_groups,
                            int64_t num_grouped_pairs, UnitGroups* groups) {
  TF_RETURN_IF_ERROR(
      ctx->allocate_temp(DT_INT32, TensorShape({num_groups}), &groups->units));
  TF_RETURN_IF_ERROR(
      ctx->allocate_temp(DT_INT32, TensorShape({num_groups}), &groups->starts));
  TF_RETURN_IF_ERROR(
      ctx->allocate_temp(DT_INT32, TensorShape({num_groups}), &groups->counts));
  return ctx->allocate_temp(DT_INT32, TensorShape({num_grouped_pairs}),
                            &groups->pairs);
}

// Counting sort by unit: O(P + N), the fast path when N is not much larger
// than the number of pairs P.
absl::Status GroupByCounting(OpKernelContext* ctx, const int32_t* indices,
                             int64_t num_pairs, int64_t num_units,
                             UnitGroups* groups) {
  std::vector<int32_t> cursor(num_units, 0);
  int64_t num_groups = 0, num_valid = 0;
  for (int64_t p = 0; p < num_pairs; ++p) {
    if (indices[p] < 0) continue;
    num_groups += cursor[indices[p]]++ == 0;
    ++num_valid;
  }
  TF_RETURN_IF_ERROR(AllocateGroups(ctx, num_groups, num_valid, groups));
  int32_t* units = groups->units.flat<int32_t>().data();
  int32_t* starts = groups->starts.flat<int32_t>().data();
  int32_t* counts = groups->counts.flat<int32_t>().data();
  int32_t* pairs = groups->pairs.flat<int32_t>().data();
  int32_t position = 0;
  for (int64_t n = 0, u = 0; n < num_units; ++n) {
    if (cursor[n] == 0) continue;
    units[u] = static_cast<int32_t>(n);
    starts[u] = position;
    counts[u] = cursor[n];
    cursor[n] = position;
    position += counts[u++];
  }
  for (int64_t p = 0; p < num_pairs; ++p) {
    if (indices[p] >= 0) pairs[cursor[indices[p]]++] = static_cast<int32_t>(p);
  }
  return absl::OkStatus();
}

// Sort of (unit, pair) keys: O(P log P), for N much larger than P.
absl::Status GroupBySorting(OpKernelContext* ctx, const int32_t* indices,
                            int64_t num_pairs, UnitGroups* groups) {
  std::vector<uint64_t> keys;
  keys.reserve(num_pairs);
  for (int64_t p = 0; p < num_pairs; ++p) {
    if (indices[p] >= 0) {
      keys.push_back(static_cast<uint64_t>(indices[p]) << 32 |
                     static_cast<uint64_t>(p));
    }
  }
  std::sort(keys.begin(), keys.end());
  int64_t num_groups = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    num_groups += k == 0 || (keys[k] >> 32) != (keys[k - 1] >> 32);
  }
  TF_RETURN_IF_ERROR(AllocateGroups(ctx, num_groups, keys.size(), groups));
  int32_t* units = groups->units.flat<int32_t>().data();
  int32_t* starts = groups->starts.flat<int32_t>().data();
  int32_t* counts = groups->counts.flat<int32_t>().data();
  int32_t* pairs = groups->pairs.flat<int32_t>().data();
  int64_t u = -1;
  for (size_t k = 0; k < keys.size(); ++k) {
    const int32_t unit = static_cast<int32_t>(keys[k] >> 32);
    if (u < 0 || units[u] != unit) {
      units[++u] = unit;
      starts[u] = static_cast<int32_t>(k);
      counts[u] = 0;
    }
    ++counts[u];
    pairs[k] = static_cast<int32_t>(keys[k] & 0xffffffffu);
  }
  return absl::OkStatus();
}

}  // namespace

namespace functor {

template <>
absl::Status GroupPairsByUnit<CPUDevice>::operator()(
    OpKernelContext* ctx, TTypes<int32_t>::ConstMatrix indices,
    int64_t num_units, UnitGroups* groups) {
  const int64_t num_pairs = indices.size();
  if (num_units <= 4 * num_pairs + 4096) {
    return GroupByCounting(ctx, indices.data(), num_pairs, num_units, groups);
  }
  return GroupBySorting(ctx, indices.data(), num_pairs, groups);
}

template <typename T>
struct HashedMatmul<CPUDevice, T> {
  using A = AccumulatorT<T>;

  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  typename TTypes<T>::ConstMatrix weights,
                  TTypes<int32_t>::ConstMatrix indices,
                  typename TTypes<T>::ConstVec bias,
                  typename TTypes<T>::Matrix out) {
    const int64_t dim = x.dimension(1);
    const int64_t num_candidates = indices.dimension(1);
    std::fill_n(out.data(), out.size(), T(0));  // pairs with index -1
    if (out.size() == 0) return;
    UnitGroups groups;
    OP_REQUIRES_OK(ctx, GroupPairsByUnit<CPUDevice>()(
                            ctx, indices, weights.dimension(0), &groups));
    const int64_t num_groups = groups.units.NumElements();
    if (num_groups == 0) return;
    const int32_t* units = groups.units.flat<int32_t>().data();
    const int32_t* starts = groups.starts.flat<int32_t>().data();
    const int32_t* counts = groups.counts.flat<int32_t>().data();
    const int32_t* pairs = groups.pairs.flat<int32_t>().data();
    const int64_t pairs_per_unit =
        (groups.pairs.NumElements() + num_groups - 1) / num_groups;
    // The 16-bit types: x widened once, each selected row as it is read.
    Tensor x_buffer;
    const A* x_rows = nullptr;
    OP_REQUIRES_OK(ctx, WidenMatrix(ctx, x.data(), x.dimension(0), dim,
                                    &x_buffer, &x_rows));
    WorkerPool(ctx)->ParallelFor(
        num_groups, 2 * dim * pairs_per_unit + dim,
        [&](int64_t begin, int64_t end) {
          std::vector<A> row_buffer(kWidened<T> ? dim : 0);
          for (int64_t u = begin; u < end; ++u) {
            if (u + 1 < end) PrefetchRow(&weights(units[u + 1], 0), dim);
            const A* row = Widen(&weights(units[u], 0), dim, row_buffer.data());
            const A row_bias = static_cast<A>(bias(units[u]));
            for (int32_t k = starts[u]; k < starts[u] + counts[u]; ++k) {
              const int64_t pair = pairs[k];
              const int64_t b = pair / num_candidates;
              out.data()[pair] =
                  static_cast<T>(Dot(x_rows + b * dim, row, dim) + row_bias);
            }
          }
        });
  }
};

template <typename T>
struct HashedMatmulGrad<CPUDevice, T> {
  using A = AccumulatorT<T>;

  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  typename TTypes<T>::ConstMatrix weights,
                  TTypes<int32_t>::ConstMatrix indices,
                  typename TTypes<T>::ConstMatrix grad_out,
                  const UnitGroups& groups, typename TTypes<T>::Matrix grad_x,
                  typename TTypes<T>::Matrix grad_weight_rows,
                  typename TTypes<T>::Vec grad_bias_rows) {
    const int64_t batch = x.dimension(0);
    const int64_t dim = x.dimension(1);
    const int64_t num_candidates = indices.dimension(1);
    const int64_t num_groups = groups.units.NumElements();
    std::fill_n(grad_x.data(), grad_x.size(), T(0));
    if (num_groups == 0) return;
    const int32_t* units = groups.units.flat<int32_t>().data();
    const int32_t* starts = groups.starts.flat<int32_t>().data();
    const int32_t* counts = groups.counts.flat<int32_t>().data();
    const int32_t* pairs = groups.pairs.flat<int32_t>().data();
    // The 16-bit types: x and grad_out widened once, each selected weight
    // row as it is read; sums in float, rounded to T once at the end.
    Tensor x_buffer, grads_buffer;
    const A* x_rows = nullptr;
    const A* grads = nullptr;
    OP_REQUIRES_OK(ctx, WidenMatrix(ctx, x.data(), batch, dim, &x_buffer,
                                    &x_rows));
    OP_REQUIRES_OK(ctx, WidenMatrix(ctx, grad_out.data(), batch,
                                    num_candidates, &grads_buffer, &grads));
    // One pass over the distinct units reads each selected weight row once:
    // its pairs accumulate the weight row's gradient from the x rows (which
    // stay in cache) and, from the same row while it is in cache, their
    // grad_x rows. The units are cut into blocks with about the same number
    // of pairs each; block 0 accumulates grad_x in place (for the 16-bit
    // types: in a float buffer too), the others into their own [B, D]
    // buffers, summed in block order at the end. The number of blocks
    // depends on the inputs only, never on the thread count, so grad_x is
    // bitwise the same at any intra-op parallelism and thread timing.
    thread::ThreadPool* pool = WorkerPool(ctx);
    const int64_t num_pairs = groups.pairs.NumElements();
    const int64_t num_blocks = std::max<int64_t>(
        1, std::min<int64_t>(
               {kGradBlocks, num_groups, num_pairs * dim / kMinGradBlockWork + 1,
                num_pairs / (kMinGradBlockPairsPerRow * batch) + 1}));
    std::vector<int64_t> block_start(num_blocks + 1, num_groups);
    block_start[0] = 0;
    for (int64_t k = 1, u = 0; k < num_blocks; ++k) {
      const int64_t target = num_pairs * k / num_blocks;
      while (u < num_groups && starts[u] < target) ++u;
      block_start[k] = u;
    }
    const int64_t num_partials = kWidened<T> ? num_blocks : num_blocks - 1;
    Tensor partials;
    if (num_partials > 0) {
      OP_REQUIRES_OK(ctx, ctx->allocate_temp(
                              DataTypeToEnum<A>::value,
                              TensorShape({num_partials, batch, dim}),
                              &partials));
    }
    auto block_grad_x = [&](int64_t block) -> A* {
      if constexpr (kWidened<T>) {
        return partials.flat<A>().data() + block * batch * dim;
      } else {
        return block == 0
                   ? grad_x.data()
                   : partials.flat<A>().data() + (block - 1) * batch * dim;
      }
    };
    pool->ParallelFor(num_blocks, int64_t{1} << 40, [&](int64_t first,
                                                         int64_t last) {
      std::vector<A> weight_buffer(kWidened<T> ? dim : 0);
      std::vector<A> row_buffer(kWidened<T> ? dim : 0);
      for (int64_t block = first; block < last; ++block) {
        A* acc = block_grad_x(block);
        if (kWidened<T> || block > 0) std::fill_n(acc, batch * dim, A(0));
        const int64_t end = block_start[block + 1];
        for (int64_t u = block_start[block]; u < end; ++u) {
          if (u + 1 < end) PrefetchRow(&weights(units[u + 1], 0), dim);
          const A* weight_row =
              Widen(&weights(units[u], 0), dim, weight_buffer.data());
          A* row;
          if constexpr (kWidened<T>) {
            row = row_buffer.data();
          } else {
            row = &grad_weight_rows(u, 0);
          }
          const int64_t first_pair = pairs[starts[u]];
          const int64_t first_b = first_pair / num_candidates;
          Scale(grads[first_pair], x_rows + first_b * dim, row, dim);
          Axpy(grads[first_pair], weight_row, acc + first_b * dim, dim);
          A bias_sum = grads[first_pair];
          for (int32_t k = starts[u] + 1; k < starts[u] + counts[u]; ++k) {
            const int64_t pair = pairs[k];
            const int64_t b = pair / num_candidates;
            Axpy(grads[pair], x_rows + b * dim, row, dim);
            Axpy(grads[pair], weight_row, acc + b * dim, dim);
            bias_sum += grads[pair];
          }
          grad_bias_rows(u) = static_cast<T>(bias_sum);
          if constexpr (kWidened<T>) Narrow(row, dim, &grad_weight_rows(u, 0));
        }
      }
    });
    if constexpr (kWidened<T>) {
      pool->ParallelFor(batch, (num_blocks + 1) * dim, [&](int64_t begin,
                                                           int64_t end) {
        std::vector<A> sum(dim);
        for (int64_t b = begin; b < end; ++b) {
          std::copy_n(block_grad_x(0) + b * dim, dim, sum.data());
          for (int64_t block = 1; block < num_blocks; ++block) {
            Axpy(A(1), block_grad_x(block) + b * dim, sum.data(), dim);
          }
          Narrow(sum.data(), dim, &grad_x(b, 0));
        }
      });
    } else {
      if (num_blocks == 1) return;
      pool->ParallelFor(batch, (num_blocks + 1) * dim, [&](int64_t begin,
                                                           int64_t end) {
        for (int64_t block = 1; block < num_blocks; ++block) {
          const A* partial = block_grad_x(block);
          for (int64_t b = begin; b < end; ++b) {
            Axpy(A(1), partial + b * dim, &grad_x(b, 0), dim);
          }
        }
      });
    }
  }
};

}  // namespace functor

namespace {

// Checks shared by the forward and gradient kernels.
absl::Status CheckInputs(const Tensor& x, const Tensor& weights,
                         const Tensor& indices) {
  TF_RETURN_IF_ERROR(CheckMatrix(x, "x"));
  TF_RETURN_IF_ERROR(CheckMatrix(weights, "weights"));
  TF_RETURN_IF_ERROR(CheckMatrix(indices, "indices"));
  if (x.dim_size(1) != weights.dim_size(1)) {
    return errors::InvalidArgument(
        "x and weights must have the same number of columns D, got x of shape ",
        x.shape().DebugString(), " and weights of shape ",
        weights.shape().DebugString());
  }
  if (indices.dim_size(0) != x.dim_size(0)) {
    return errors::InvalidArgument(
        "indices must have one row per row of x, got indices of shape ",
        indices.shape().DebugString(), " and x of shape ",
        x.shape().DebugString());
  }
  if (weights.dim_size(0) > INT32_MAX) {
    return errors::InvalidArgument("weights has ", weights.dim_size(0),
                                   " rows; indices are int32, so at most "
                                   "2**31 - 1 can be selected");
  }
  if (indices.NumElements() > INT32_MAX) {
    // Pairs are numbered b * C + c in int32 when grouped by unit.
    return errors::InvalidArgument("indices has ", indices.NumElements(),
                                   " entries; at most 2**31 - 1 are supported");
  }
  return absl::OkStatus();
}

// On the CPU: an error naming the first index outside [-1, N) (the GPU
// kernels treat such an index like -1).
template <typename Device>
absl::Status CheckIndexRange(OpKernelContext* ctx, const Tensor& indices,
                             int64_t num_units) {
  if constexpr (std::is_same<Device, CPUDevice>::value) {
    return CheckInRange(WorkerPool(ctx), indices, "indices", -1, num_units, [=] {
      return absl::StrCat("[-1, N) for weights with N=", num_units, " rows");
    });
  } else {
    return absl::OkStatus();
  }
}

template <typename Device, typename T>
class WtaHashedMatmulOp : public OpKernel {
 public:
  explicit WtaHashedMatmulOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& weights = ctx->input(1);
    const Tensor& indices = ctx->input(2);
    const Tensor& bias = ctx->input(3);
    OP_REQUIRES_OK(ctx, CheckInputs(x, weights, indices));
    OP_REQUIRES(ctx, TensorShapeUtils::IsVector(bias.shape()),
                errors::InvalidArgument("bias must be a rank-1 tensor, got "
                                        "shape ", bias.shape().DebugString()));
    OP_REQUIRES(ctx, bias.dim_size(0) == weights.dim_size(0),
                errors::InvalidArgument(
                    "bias must have one entry per row of weights, got bias of "
                    "shape ", bias.shape().DebugString(), " and weights of "
                    "shape ", weights.shape().DebugString()));
    OP_REQUIRES_OK(ctx,
                   CheckIndexRange<Device>(ctx, indices, weights.dim_size(0)));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, indices.shape(), &out));
    if (out->NumElements() == 0) return;
    functor::HashedMatmul<Device, T>()(
        ctx, x.matrix<T>(), weights.matrix<T>(), indices.matrix<int32_t>(),
        bias.vec<T>(), out->matrix<T>());
  }
};

template <typename Device, typename T>
class WtaHashedMatmulGradOp : public OpKernel {
 public:
  explicit WtaHashedMatmulGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& weights = ctx->input(1);
    const Tensor& indices = ctx->input(2);
    const Tensor& grad_out = ctx->input(3);
    OP_REQUIRES_OK(ctx, CheckInputs(x, weights, indices));
    OP_REQUIRES(ctx, grad_out.shape() == indices.shape(),
                errors::InvalidArgument(
                    "grad_out must have the shape of indices, got grad_out of "
                    "shape ", grad_out.shape().DebugString(), " and indices of "
                    "shape ", indices.shape().DebugString()));
    OP_REQUIRES_OK(ctx,
                   CheckIndexRange<Device>(ctx, indices, weights.dim_size(0)));
    UnitGroups groups;
    OP_REQUIRES_OK(ctx, functor::GroupPairsByUnit<Device>()(
                            ctx, indices.matrix<int32_t>(),
                            weights.dim_size(0), &groups));
    const int64_t num_groups = groups.units.NumElements();
    Tensor* grad_x = nullptr;
    Tensor* grad_weight_rows = nullptr;
    Tensor* grad_bias_rows = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &grad_x));
    ctx->set_output(1, groups.units);
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
                            2, TensorShape({num_groups, x.dim_size(1)}),
                            &grad_weight_rows));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(3, TensorShape({num_groups}),
                                             &grad_bias_rows));
    functor::HashedMatmulGrad<Device, T>()(
        ctx, x.matrix<T>(), weights.matrix<T>(), indices.matrix<int32_t>(),
        grad_out.matrix<T>(), groups, grad_x->matrix<T>(),
        grad_weight_rows->matrix<T>(), grad_bias_rows->vec<T>());
  }
};

}  // namespace

#define REGISTER_HASHED_MATMUL(DEVICE_TYPE, DEVICE, T)                      \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("WtaHashedMatmul").Device(DEVICE_TYPE).TypeConstraint<T>("T"),   \
      WtaHashedMatmulOp<DEVICE, T>);                                        \
  REGISTER_KERNEL_BUILDER(                                                  \
      Name("WtaHashedMatmulGrad").Device(DEVICE_TYPE).TypeConstraint<T>("T"), \
      WtaHashedMatmulGradOp<DEVICE, T>);

#define REGISTER_HASHED_MATMUL_CPU(T) \
  REGISTER_HASHED_MATMUL(DEVICE_CPU, CPUDevice, T)
TF_WTA_CALL_HASHED_MATMUL_TYPES(REGISTER_HASHED_MATMUL_CPU);

#if GOOGLE_CUDA
extern template struct functor::GroupPairsByUnit<GPUDevice>;
#define DECLARE_GPU_HASHED_MATMUL(T)                          \
  extern template struct functor::HashedMatmul<GPUDevice, T>; \
  extern template struct functor::HashedMatmulGrad<GPUDevice, T>;
TF_WTA_CALL_HASHED_MATMUL_TYPES(DECLARE_GPU_HASHED_MATMUL);

#define REGISTER_HASHED_MATMUL_GPU(T) \
  REGISTER_HASHED_MATMUL(DEVICE_GPU, GPUDevice, T)
TF_WTA_CALL_HASHED_MATMUL_TYPES(REGISTER_HASHED_MATMUL_GPU);
#endif  // GOOGLE_CUDA

}  // namespace wta
}  // namespace tensorflow
