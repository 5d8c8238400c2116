// Hashed matmul: dot products of each input row with a few selected weight
// rows, and its gradient with the touched rows aggregated per unit.
//
// Functor declarations shared by the CPU (hashed_matmul.cc) and CUDA
// (hashed_matmul.cu.cc) kernels.
//
// The gradient op groups pairs by unit itself (rather than a tf.unique in
// Python): the CPU forward needs the same grouping to read each selected row
// once, and on the GPU one cub sort gives both the distinct units and each
// unit's pairs, so the aggregated rows cost no extra pass over the data.
#ifndef TF_WTA_CC_KERNELS_HASHED_MATMUL_H_
#define TF_WTA_CC_KERNELS_HASHED_MATMUL_H_

#include <cstdint>
#include <type_traits>

#include "absl/status/status.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_types.h"

namespace tensorflow {
namespace wta {

// The dtypes the kernels are registered for.
#define TF_WTA_CALL_HASHED_MATMUL_TYPES(m) \
  TF_CALL_half(m) TF_CALL_bfloat16(m) TF_CALL_float(m) TF_CALL_double(m)

// The type the kernels accumulate T in: T itself for float and double, float
// for the 16-bit types (mixed precision: half inputs and outputs, float sums).
template <typename T>
struct Accumulator {
  using type = T;
};
template <>
struct Accumulator<Eigen::half> {
  using type = float;
};
template <>
struct Accumulator<Eigen::bfloat16> {
  using type = float;
};
template <typename T>
using AccumulatorT = typename Accumulator<T>::type;

// Whether T is widened to a different accumulator type.
template <typename T>
constexpr bool kWidened = !std::is_same<T, AccumulatorT<T>>::value;

// The (b, c) pairs of `indices` grouped by the unit they select, units in
// ascending order, pairs in ascending b * C + c order within a unit. Pairs
// whose index is -1 (or, on the GPU, outside [0, N)) belong to no group.
struct UnitGroups {
  Tensor units;   // [U] int32: the distinct selected units, ascending.
  Tensor starts;  // [>= U] int32: first position of unit u's pairs in `pairs`.
  Tensor counts;  // [>= U] int32: number of pairs that selected unit u.
  Tensor pairs;   // [>= P] int32: flat pair ids b * C + c, grouped by unit.
};

namespace functor {

// Groups the pairs of `indices` by unit; on the CPU `indices` must already
// hold values in [-1, num_units).
template <typename Device>
struct GroupPairsByUnit {
  absl::Status operator()(OpKernelContext* ctx,
                          TTypes<int32_t>::ConstMatrix indices,
                          int64_t num_units, UnitGroups* groups);
};

// out[b, c] = x[b] . weights[indices[b, c]] + bias[indices[b, c]], and 0
// where the index is -1 (on the GPU: outside [0, N)); sums in AccumulatorT<T>.
template <typename Device, typename T>
struct HashedMatmul {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  typename TTypes<T>::ConstMatrix weights,
                  TTypes<int32_t>::ConstMatrix indices,
                  typename TTypes<T>::ConstVec bias,
                  typename TTypes<T>::Matrix out);
};

// grad_x[b] = sum_c grad_out[b, c] * weights[indices[b, c]];
// grad_weight_rows[u] = sum over the pairs of unit u of grad_out[b, c] * x[b];
// grad_bias_rows[u] = sum over the pairs of unit u of grad_out[b, c];
// all sums in AccumulatorT<T>, rounded to T once at the end.
template <typename Device, typename T>
struct HashedMatmulGrad {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstMatrix x,
                  typename TTypes<T>::ConstMatrix weights,
                  TTypes<int32_t>::ConstMatrix indices,
                  typename TTypes<T>::ConstMatrix grad_out,
                  const UnitGroups& groups, typename TTypes<T>::Matrix grad_x,
                  typename TTypes<T>::Matrix grad_weight_rows,
                  typename TTypes<T>::Vec grad_bias_rows);
};

}  // namespace functor
}  // namespace wta
}  // namespace tensorflow

#endif  // TF_WTA_CC_KERNELS_HASHED_MATMUL_H_
