"""The hashed matmul: each input row against the weight rows it selects."""
import tensorflow as tf

from tf_wta._arguments import matrix as _matrix
from tf_wta._ops import load_ops

_MATMUL_DTYPES = (tf.float32, tf.float64, tf.float16, tf.bfloat16)


def hashed_matmul(x, weights, indices, bias=None, name=None):
    """Dot products of each row of x with the weight rows its indices select.

    `out[b, c] = x[b] . weights[indices[b, c]] + bias[indices[b, c]]`, and 0
    where `indices[b, c] == -1` (an empty candidate slot: no gradient either).
    Exact for float32 and float64: accumulates in the input dtype, no reduced
    precision. float16 and bfloat16 (mixed precision) accumulate in float32
    and round once to the input dtype, on the CPU and the GPU alike.

    Gradients: dense for x; `tf.IndexedSlices` for weights and bias holding
    one row per distinct selected unit (duplicates summed, no -1 row), so a
    sparse optimizer such as SGD touches only those rows; None for indices.

    Args:
      x: [B, D] float32, float64, float16 or bfloat16.
      weights: [N, D] of the dtype of x, one row per unit.
      indices: [B, C] int32 in [-1, N), e.g. from the index lookup. On the CPU
        a value outside [-1, N) is an InvalidArgumentError; on the GPU, where
        checking costs a host sync, it is treated like -1 (output 0, no
        gradient) and never read.
      bias: optional [N] of the dtype of x.
      name: optional op name.
    Returns:
      [B, C] of the dtype of x.
    Raises:
      ValueError: a rank, dtype or statically known size does not fit.
      tf.errors.InvalidArgumentError: at run time, for what only the kernel
        sees (sizes of an unknown shape, index values).
    """
    x = _matrix(x, "x", _MATMUL_DTYPES)
    weights = _matrix(weights, "weights", (x.dtype,))
    indices = _matrix(indices, "indices", (tf.int32,))
    if not x.shape[1:].is_compatible_with(weights.shape[1:]):
        raise ValueError(f"x and weights must have the same number of columns D, got x of "
                         f"shape {x.shape} and weights of shape {weights.shape}")
    if not x.shape[:1].is_compatible_with(indices.shape[:1]):
        raise ValueError(f"indices must have one row per row of x, got indices of shape "
                         f"{indices.shape} and x of shape {x.shape}")
    if bias is None:
        bias = tf.zeros(tf.shape(weights)[:1], x.dtype)
    else:
        bias = tf.convert_to_tensor(bias)
        if bias.dtype != x.dtype:
            raise ValueError(f"bias must have dtype {x.dtype.name} (the dtype of x), "
                             f"got {bias.dtype.name}")
        if bias.shape.rank is not None and bias.shape.rank != 1:
            raise ValueError(f"bias must be a rank-1 tensor, got shape {bias.shape}")
        if not bias.shape.is_compatible_with(weights.shape[:1]):
            raise ValueError(f"bias must have one entry per row of weights, got bias of "
                             f"shape {bias.shape} and weights of shape {weights.shape}")
    return load_ops().wta_hashed_matmul(x, weights, indices, bias, name=name)


tf.no_gradient("WtaHashedMatmulGrad")


@tf.RegisterGradient("WtaHashedMatmul")
def _hashed_matmul_grad(op, grad):
    """Dense gradient for x; one IndexedSlices row per distinct unit for the
    weights and the bias (duplicate selections summed in the op, so an
    optimizer updates each touched row once); None for the indices."""
    x, weights, indices, bias = op.inputs
    grad_x, units, weight_rows, bias_rows = load_ops().wta_hashed_matmul_grad(
        x, weights, indices, grad)
    return [grad_x,
            tf.IndexedSlices(weight_rows, units, tf.shape(weights)),
            None,
            tf.IndexedSlices(bias_rows, units, tf.shape(bias))]
