"""Sparse, in-place optimizer updates of resource variables (public op API).

`variable.scatter_sub` (TensorFlow's ResourceScatterSub) switches a variable
to copy-on-read mode, after which every full read of it copies the whole
variable: for a hashed layer, which reads its whole kernel each step, that
copy costs more than the rest of the step. These ops update the touched rows
in place under the variable's lock instead (fused and multi-threaded on the
CPU) and keep full reads free.
"""
import tensorflow as tf

from tf_wta._ops import load_ops

_DTYPES = (tf.float32, tf.float64)
# In-place variable updates: no outputs to differentiate.
tf.no_gradient("WtaSparseApplySgd")
tf.no_gradient("WtaSparseApplyAdam")


def _handle(variable, name):
    handle = getattr(variable, "handle", None)
    if handle is None or handle.dtype != tf.resource:
        raise ValueError(f"{name} must be a resource variable (tf.Variable or keras.Variable), "
                         f"got {variable!r}")
    if variable.dtype not in _DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {variable.dtype.name}")
    return handle


def _scalar(value, dtype):
    """value as a `dtype` scalar; Python numbers convert straight to dtype
    (a float64 variable gets 0.9, not float32(0.9))."""
    if isinstance(value, (tf.Tensor, tf.Variable)) or hasattr(value, "dtype"):
        return tf.cast(value, dtype)
    return tf.constant(value, dtype)


def aggregate_rows(gradient, dtype=None):
    """Distinct row ids of an `IndexedSlices` and their summed rows.

    Args:
      gradient: `tf.IndexedSlices` with values [K, ...] and indices [K].
      dtype: optional dtype to cast the values to.
    Returns:
      (rows, row_ids): [U, ...] values and int32 [U] distinct ids, in order of
      first appearance. When the ids are already distinct (as in the
      gradients of `hashed_matmul`) the values pass through uncopied.
    """
    values = gradient.values if dtype is None else tf.cast(gradient.values, dtype)
    ids = tf.cast(gradient.indices, tf.int32)
    if ids.shape.rank is not None and ids.shape.rank != 1:
        raise ValueError("the gradient's indices (row_ids) must be a rank-1 tensor, got shape "
                         f"{ids.shape}")
    if not values.shape[:1].is_compatible_with(ids.shape):
        raise ValueError("the gradient's values (rows) must have one row per index (row_ids), "
                         f"got values of shape {values.shape} and indices of shape {ids.shape}")
    row_ids, positions = tf.unique(ids)
    count = tf.shape(row_ids)[0]
    rows = tf.cond(count == tf.shape(ids)[0], lambda: tf.identity(values),
                   lambda: tf.math.unsorted_segment_sum(values, positions, count))
    return rows, row_ids


def sparse_apply_sgd(variable, learning_rate, gradient, name=None):
    """SGD on the rows of a sparse gradient, in place:
    `variable[i] -= learning_rate * g[i]` for every row i in the gradient
    (repeated rows summed first).

    Args:
      variable: float32/float64 resource variable of shape [N, ...].
      learning_rate: scalar (cast to the variable's dtype).
      gradient: `tf.IndexedSlices` of the variable's shape, ids in [0, N). On
        the CPU an id outside is an InvalidArgumentError; on the GPU it is
        skipped.
      name: optional op name.
    Returns:
      The op (None in eager mode).
    """
    rows, row_ids = aggregate_rows(gradient, variable.dtype)
    return subtract_rows(variable, learning_rate, rows, row_ids, name=name)


def subtract_rows(variable, learning_rate, rows, row_ids, name=None):
    """`variable[row_ids[i]] -= learning_rate * rows[i]` in place, for rows
    already aggregated (`aggregate_rows`): what `sparse_apply_sgd` runs.

    Args:
      variable: float32/float64 resource variable of shape [N, ...].
      learning_rate: scalar (cast to the variable's dtype).
      rows: [U, ...] in the variable's dtype; row_ids: int32 [U], distinct,
        in [0, N) (checked as in `sparse_apply_sgd`).
      name: optional op name.
    Returns:
      The op (None in eager mode).
    """
    handle = _handle(variable, "variable")
    return load_ops().wta_sparse_apply_sgd(
        handle, _scalar(learning_rate, variable.dtype), rows, row_ids, name=name)


def sparse_apply_adam(variable, m, v, alpha, beta_1, beta_2, epsilon, gradient, name=None):
    """Lazy Adam on the rows of a sparse gradient, in place; for each row r
    (repeated rows summed first) with gradient g:
    `m[r] = beta_1 m[r] + (1 - beta_1) g`, `v[r] = beta_2 v[r] + (1 - beta_2) g**2`,
    `variable[r] -= alpha m[r] / (sqrt(v[r]) + epsilon)`. Other rows, and
    their moments, are untouched.

    Args:
      variable: float32/float64 resource variable of shape [N, ...].
      m, v: the moment variables, the shape and dtype of `variable`.
      alpha: scalar, the bias-corrected step size
        `learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)`.
      beta_1, beta_2, epsilon: scalars.
      gradient: `tf.IndexedSlices`, ids in [0, N) (as for `sparse_apply_sgd`).
      name: optional op name.
    Returns:
      The op (None in eager mode).
    """
    handle = _handle(variable, "variable")
    m_handle, v_handle = _handle(m, "m"), _handle(v, "v")
    dtype = variable.dtype
    rows, row_ids = aggregate_rows(gradient, dtype)
    return load_ops().wta_sparse_apply_adam(
        handle, m_handle, v_handle, _scalar(alpha, dtype), _scalar(beta_1, dtype),
        _scalar(beta_2, dtype), _scalar(epsilon, dtype), rows, row_ids, name=name)
