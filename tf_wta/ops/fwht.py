"""The fast Walsh-Hadamard transform (the H of Fastfood; Le et al. 2013,
Yang et al. 2015)."""
import tensorflow as tf

from tf_wta._arguments import matrix as _matrix
from tf_wta._ops import load_ops

_FWHT_DTYPES = (tf.float32, tf.float16, tf.bfloat16)


def is_power_of_two(n):
    """True for 1, 2, 4, 8, ..."""
    return n >= 1 and (n & (n - 1)) == 0


def fwht(x, name=None):
    """Fast Walsh-Hadamard transform of every row: `x @ H_d`.

    `H_d` is the unnormalised Sylvester-ordered Hadamard matrix of +-1
    entries (`H_1 = [[1]]`, `H_2n = [[H_n, H_n], [H_n, -H_n]]`; equal to
    `scipy.linalg.hadamard(d)`), so `fwht(fwht(x)) == d * x`. O(B d log d)
    work instead of the matmul's O(B d^2); float16 and bfloat16 inputs are
    accumulated in float32 and rounded once. `H_d` is symmetric, so the
    gradient with respect to x is `fwht` of the upstream gradient.

    Args:
      x: [B, d] float32, float16 or bfloat16; d a power of two (zero-pad
        the columns otherwise, as `FastfoodDense` does).
      name: optional op name.
    Returns:
      [B, d] tensor of x's dtype.
    Raises:
      ValueError: a wrong rank or dtype, or a static d that is not a power
        of two. A d only known at run time is checked by the kernel
        (InvalidArgumentError).
    """
    x = _matrix(x, "x", _FWHT_DTYPES)
    d = x.shape[1] if x.shape.rank is not None else None
    if d is not None and not is_power_of_two(d):
        raise ValueError(f"x must have a power-of-two number of columns d (pad it), "
                         f"got shape {x.shape}")
    return load_ops().wta_fwht(x, name=name)


@tf.RegisterGradient("WtaFwht")
def _fwht_grad(op, grad):
    # y = x H with H symmetric: dL/dx = dL/dy H^T = fwht(dL/dy).
    return [load_ops().wta_fwht(tf.cast(grad, op.inputs[0].dtype))]
