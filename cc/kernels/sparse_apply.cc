// WtaSparseApplySgd and WtaSparseApplyAdam: op kernels (all devices) and CPU
// functors.
//
// Why not ResourceScatterSub: TensorFlow's sparse variable updates switch the
// variable to copy-on-read mode, after which every full read of it (the
// hashed layer reads its whole kernel each step) copies the whole variable.
// These kernels update in place under the variable's exclusive lock, the way
// TensorFlow's dense ResourceApply* kernels do: the buffer is copied only if
// a reader still holds it, and a variable found in copy-on-read mode (where
// no reader can hold it) is switched back to plain reads. The CPU update is
// fused (no separate learning_rate * rows pass) and sharded over rows.
#define EIGEN_USE_THREADS

#include "cc/kernels/sparse_apply.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "cc/kernels/cpu_loops.h"
#include "cc/kernels/op_kernel_common.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"

namespace tensorflow {
namespace wta {
namespace {

// y -= alpha * g
template <typename T>
void SubScaled(T alpha, const T* g, T* y, int64_t n) {
  RunHotLoop(
      [](T alpha, const T* __restrict__ g, T* __restrict__ y,
         int64_t n) TF_WTA_HOT_LOOP {
        for (int64_t i = 0; i < n; ++i) y[i] -= alpha * g[i];
      },
      alpha, g, y, n);
}

template <typename T>
void AdamRow(T alpha, T beta_1, T beta_2, T epsilon, const T* g, T* m, T* v,
             T* var, int64_t n) {
  RunHotLoop(
      [](T alpha, T beta_1, T beta_2, T epsilon, const T* __restrict__ g,
         T* __restrict__ m, T* __restrict__ v, T* __restrict__ var,
         int64_t n) TF_WTA_HOT_LOOP {
        const T one_minus_beta_1 = T(1) - beta_1;
        const T one_minus_beta_2 = T(1) - beta_2;
        for (int64_t i = 0; i < n; ++i) {
          const T m_i = beta_1 * m[i] + one_minus_beta_1 * g[i];
          const T v_i = beta_2 * v[i] + one_minus_beta_2 * g[i] * g[i];
          m[i] = m_i;
          v[i] = v_i;
          var[i] -= alpha * m_i / (std::sqrt(v_i) + epsilon);
        }
      },
      alpha, beta_1, beta_2, epsilon, g, m, v, var, n);
}

}  // namespace

namespace functor {

template <typename T>
struct CopyVariableTensor<CPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::ConstFlat from,
                  typename TTypes<T>::Flat to) {
    constexpr int64_t kChunk = 1 << 16;
    const int64_t size = from.size();
    WorkerPool(ctx)->ParallelFor(
        (size + kChunk - 1) / kChunk, 2 * kChunk * sizeof(T),
        [&](int64_t begin, int64_t end) {
          const int64_t first = begin * kChunk;
          const int64_t last = std::min(size, end * kChunk);
          std::copy(from.data() + first, from.data() + last,
                    to.data() + first);
        });
  }
};

template <typename T>
struct SparseApplySgd<CPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::Matrix var,
                  T learning_rate, typename TTypes<T>::ConstMatrix rows,
                  TTypes<int32_t>::ConstVec row_ids) {
    const int64_t dim = var.dimension(1);
    const int64_t num_rows = row_ids.size();
    WorkerPool(ctx)->ParallelFor(
        num_rows, 3 * dim * sizeof(T), [&](int64_t begin, int64_t end) {
          for (int64_t u = begin; u < end; ++u) {
            if (u + 1 < end) {
              PrefetchRow<Access::kWrite>(&var(row_ids(u + 1), 0), dim);
            }
            SubScaled(learning_rate, &rows(u, 0), &var(row_ids(u), 0), dim);
          }
        });
  }
};

template <typename T>
struct SparseApplyAdam<CPUDevice, T> {
  void operator()(OpKernelContext* ctx, typename TTypes<T>::Matrix var,
                  typename TTypes<T>::Matrix m, typename TTypes<T>::Matrix v,
                  T alpha, T beta_1, T beta_2, T epsilon,
                  typename TTypes<T>::ConstMatrix rows,
                  TTypes<int32_t>::ConstVec row_ids) {
    const int64_t dim = var.dimension(1);
    const int64_t num_rows = row_ids.size();
    WorkerPool(ctx)->ParallelFor(
        num_rows, 7 * dim * sizeof(T) + 20 * dim,
        [&](int64_t begin, int64_t end) {
          for (int64_t u = begin; u < end; ++u) {
            if (u + 1 < end) {
              const int64_t next = row_ids(u + 1);
              PrefetchRow<Access::kWrite>(&var(next, 0), dim);
              PrefetchRow<Access::kWrite>(&m(next, 0), dim);
              PrefetchRow<Access::kWrite>(&v(next, 0), dim);
            }
            const int64_t row = row_ids(u);
            AdamRow(alpha, beta_1, beta_2, epsilon, &rows(u, 0), &m(row, 0),
                    &v(row, 0), &var(row, 0), dim);
          }
        });
  }
};

}  // namespace functor

namespace {

// Locks the variables of the given resource inputs exclusively, in mutex
// address order (as TensorFlow's training ops do, so two ops that update the
// same variables cannot deadlock), and unlocks them when destroyed.
class LockedVariables {
 public:
  absl::Status Lock(OpKernelContext* ctx,
                    std::initializer_list<const char*> inputs) {
    for (const char* input : inputs) {
      ResourceHandle handle;
      TF_RETURN_IF_ERROR(HandleFromInput(ctx, input, &handle));
      core::RefCountPtr<Var> var;
      TF_RETURN_IF_ERROR(LookupResource(ctx, handle, &var));
      vars_.push_back(std::move(var));
    }
    std::vector<mutex*> mutexes;
    for (auto& var : vars_) mutexes.push_back(var->mu());
    std::sort(mutexes.begin(), mutexes.end());
    mutexes.erase(std::unique(mutexes.begin(), mutexes.end()), mutexes.end());
    for (mutex* mu : mutexes) {
      locks_.push_back(std::make_unique<mutex_lock>(*mu));
    }
    return absl::OkStatus();
  }
  Var* var(int i) { return vars_[i].get(); }  // in the order of `inputs`

 private:
  std::vector<core::RefCountPtr<Var>> vars_;
  std::vector<std::unique_ptr<mutex_lock>> locks_;  // destroyed first
};

// The tensor of a locked variable, ready for an in-place update: checks it
// (initialised, dtype T, at least rank 1) and gives it a buffer no reader
// holds. `name` names the input in errors.
template <typename Device, typename T>
absl::Status TensorToUpdate(OpKernelContext* ctx, Var* var, const char* name,
                            Tensor* out) {
  Tensor* tensor = var->tensor();
  if (!tensor->IsInitialized()) {
    return errors::FailedPrecondition(name, " is an uninitialized variable");
  }
  if (tensor->dtype() != DataTypeToEnum<T>::value) {
    return errors::InvalidArgument(
        name, " must be a variable of dtype ",
        DataTypeString(DataTypeToEnum<T>::value), ", got ",
        DataTypeString(tensor->dtype()));
  }
  if (tensor->dims() < 1) {
    return errors::InvalidArgument(name, " must be a variable of rank >= 1, "
                                   "got shape ", tensor->shape().DebugString());
  }
  // In copy-on-read mode every reader copies, so no one holds the buffer;
  // leaving the mode makes the next full reads free again.
  var->copy_on_read_mode.store(false);
  if (!tensor->RefCountIsOne()) {
    // A reader still holds the buffer: update a copy, as TensorFlow's dense
    // ResourceApply* kernels do.
    Tensor copy;
    AllocatorAttributes attr;
    attr.set_gpu_compatible(true);
    attr.set_nic_compatible(true);
    TF_RETURN_IF_ERROR(
        ctx->allocate_temp(tensor->dtype(), tensor->shape(), &copy, attr));
    functor::CopyVariableTensor<Device, T>()(
        ctx, const_cast<const Tensor*>(tensor)->flat<T>(), copy.flat<T>());
    *tensor = copy;
  }
  *out = *tensor;
  return absl::OkStatus();
}

// *value = the scalar input `name`, or an error when it is not a scalar.
template <typename T>
absl::Status ScalarInput(OpKernelContext* ctx, const char* name, T* value) {
  const Tensor* tensor;
  TF_RETURN_IF_ERROR(ctx->input(name, &tensor));
  if (!TensorShapeUtils::IsScalar(tensor->shape())) {
    return errors::InvalidArgument(name, " must be a scalar, got shape ",
                                   tensor->shape().DebugString());
  }
  *value = tensor->scalar<T>()();
  return absl::OkStatus();
}

// rows [U, ...var.shape[1:]] and row_ids [U] against a variable of shape
// var_shape.
absl::Status CheckRows(const TensorShape& var_shape, const Tensor& rows,
                       const Tensor& row_ids) {
  if (!TensorShapeUtils::IsVector(row_ids.shape())) {
    return errors::InvalidArgument(
        "row_ids must be a rank-1 tensor, got shape ",
        row_ids.shape().DebugString());
  }
  bool ok = rows.dims() == var_shape.dims() &&
            rows.dim_size(0) == row_ids.dim_size(0);
  for (int d = 1; ok && d < var_shape.dims(); ++d) {
    ok = rows.dim_size(d) == var_shape.dim_size(d);
  }
  if (!ok) {
    return errors::InvalidArgument(
        "rows must have shape [U] + var.shape[1:] with U = len(row_ids), got "
        "rows of shape ", rows.shape().DebugString(), ", row_ids of shape ",
        row_ids.shape().DebugString(), " and var of shape ",
        var_shape.DebugString());
  }
  if (var_shape.dim_size(0) > INT32_MAX) {
    return errors::InvalidArgument("var has ", var_shape.dim_size(0),
                                   " rows; row_ids are int32");
  }
  return absl::OkStatus();
}

// On the CPU: an error naming the first id outside [0, N) or repeated (the
// GPU kernels skip an id outside).
template <typename Device>
absl::Status CheckRowIds(OpKernelContext* ctx, const Tensor& row_ids,
                         int64_t num_rows) {
  if constexpr (!std::is_same<Device, CPUDevice>::value) {
    return absl::OkStatus();
  } else {
    TF_RETURN_IF_ERROR(
        CheckInRange(WorkerPool(ctx), row_ids, "row_ids", 0, num_rows, [=] {
          return absl::StrCat("[0, N) for var with N=", num_rows, " rows");
        }));
    const int32_t* first = row_ids.vec<int32_t>().data();
    const int32_t* last = first + row_ids.NumElements();
    if (std::adjacent_find(first, last, std::greater_equal<int32_t>()) ==
        last) {
      return absl::OkStatus();  // ascending: the gradient ops' order
    }
    std::vector<int32_t> sorted(first, last);
    std::sort(sorted.begin(), sorted.end());
    const auto repeated = std::adjacent_find(sorted.begin(), sorted.end());
    if (repeated != sorted.end()) {
      return errors::InvalidArgument(
          "row_ids must be distinct (sum the rows of a repeated id first), "
          "got ", *repeated, " more than once");
    }
    return absl::OkStatus();
  }
}

template <typename Device, typename T>
class WtaSparseApplySgdOp : public OpKernel {
 public:
  explicit WtaSparseApplySgdOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    T learning_rate;
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "learning_rate", &learning_rate));
    const Tensor* rows;
    const Tensor* row_ids;
    OP_REQUIRES_OK(ctx, ctx->input("rows", &rows));
    OP_REQUIRES_OK(ctx, ctx->input("row_ids", &row_ids));
    LockedVariables locked;
    OP_REQUIRES_OK(ctx, locked.Lock(ctx, {"var"}));
    Tensor var;
    OP_REQUIRES_OK(ctx,
                   TensorToUpdate<Device, T>(ctx, locked.var(0), "var", &var));
    OP_REQUIRES_OK(ctx, CheckRows(var.shape(), *rows, *row_ids));
    OP_REQUIRES_OK(ctx, CheckRowIds<Device>(ctx, *row_ids, var.dim_size(0)));
    if (rows->NumElements() == 0) return;
    functor::SparseApplySgd<Device, T>()(
        ctx, var.flat_outer_dims<T>(), learning_rate,
        rows->flat_outer_dims<T>(), row_ids->vec<int32_t>());
  }
};

template <typename Device, typename T>
class WtaSparseApplyAdamOp : public OpKernel {
 public:
  explicit WtaSparseApplyAdamOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    T alpha, beta_1, beta_2, epsilon;
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "alpha", &alpha));
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "beta_1", &beta_1));
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "beta_2", &beta_2));
    OP_REQUIRES_OK(ctx, ScalarInput(ctx, "epsilon", &epsilon));
    const Tensor* rows;
    const Tensor* row_ids;
    OP_REQUIRES_OK(ctx, ctx->input("rows", &rows));
    OP_REQUIRES_OK(ctx, ctx->input("row_ids", &row_ids));
    LockedVariables locked;
    OP_REQUIRES_OK(ctx, locked.Lock(ctx, {"var", "m", "v"}));
    OP_REQUIRES(ctx, locked.var(0) != locked.var(1) &&
                         locked.var(0) != locked.var(2) &&
                         locked.var(1) != locked.var(2),
                errors::InvalidArgument("var, m and v must be three distinct "
                                        "variables"));
    Tensor var, m, v;
    OP_REQUIRES_OK(ctx,
                   TensorToUpdate<Device, T>(ctx, locked.var(0), "var", &var));
    OP_REQUIRES_OK(ctx, TensorToUpdate<Device, T>(ctx, locked.var(1), "m", &m));
    OP_REQUIRES_OK(ctx, TensorToUpdate<Device, T>(ctx, locked.var(2), "v", &v));
    OP_REQUIRES(ctx, m.shape() == var.shape() && v.shape() == var.shape(),
                errors::InvalidArgument(
                    "m and v must have the shape of var, got var of shape ",
                    var.shape().DebugString(), ", m of shape ",
                    m.shape().DebugString(), " and v of shape ",
                    v.shape().DebugString()));
    OP_REQUIRES_OK(ctx, CheckRows(var.shape(), *rows, *row_ids));
    OP_REQUIRES_OK(ctx, CheckRowIds<Device>(ctx, *row_ids, var.dim_size(0)));
    if (rows->NumElements() == 0) return;
    functor::SparseApplyAdam<Device, T>()(
        ctx, var.flat_outer_dims<T>(), m.flat_outer_dims<T>(),
        v.flat_outer_dims<T>(), alpha, beta_1, beta_2, epsilon,
        rows->flat_outer_dims<T>(), row_ids->vec<int32_t>());
  }
};

}  // namespace

#define REGISTER_SPARSE_APPLY_CPU(T)                                     \
  REGISTER_KERNEL_BUILDER(                                               \
      Name("WtaSparseApplySgd").Device(DEVICE_CPU).TypeConstraint<T>("T"), \
      WtaSparseApplySgdOp<CPUDevice, T>);                                \
  REGISTER_KERNEL_BUILDER(                                               \
      Name("WtaSparseApplyAdam").Device(DEVICE_CPU).TypeConstraint<T>("T"), \
      WtaSparseApplyAdamOp<CPUDevice, T>);
TF_CALL_float(REGISTER_SPARSE_APPLY_CPU);
TF_CALL_double(REGISTER_SPARSE_APPLY_CPU);

#if GOOGLE_CUDA
#define DECLARE_GPU_SPARSE_APPLY(T)                                  \
  extern template struct functor::CopyVariableTensor<GPUDevice, T>; \
  extern template struct functor::SparseApplySgd<GPUDevice, T>;     \
  extern template struct functor::SparseApplyAdam<GPUDevice, T>;
TF_CALL_float(DECLARE_GPU_SPARSE_APPLY);
TF_CALL_double(DECLARE_GPU_SPARSE_APPLY);

// Scalars are read on the host and passed to the CUDA kernels by value.
#define REGISTER_SPARSE_APPLY_GPU(T)                       \
  REGISTER_KERNEL_BUILDER(Name("WtaSparseApplySgd")        \
                              .Device(DEVICE_GPU)          \
                              .HostMemory("var")           \
                              .HostMemory("learning_rate") \
                              .TypeConstraint<T>("T"),     \
                          WtaSparseApplySgdOp<GPUDevice, T>); \
  REGISTER_KERNEL_BUILDER(Name("WtaSparseApplyAdam")       \
                              .Device(DEVICE_GPU)          \
                              .HostMemory("var")           \
                              .HostMemory("m")             \
                              .HostMemory("v")             \
                              .HostMemory("alpha")         \
                              .HostMemory("beta_1")        \
                              .HostMemory("beta_2")        \
                              .HostMemory("epsilon")       \
                              .TypeConstraint<T>("T"),     \
                          WtaSparseApplyAdamOp<GPUDevice, T>);
TF_CALL_float(REGISTER_SPARSE_APPLY_GPU);
TF_CALL_double(REGISTER_SPARSE_APPLY_GPU);
#endif  // GOOGLE_CUDA

}  // namespace wta
}  // namespace tensorflow
