"""Checks of Python arguments shared by the ops and the layers."""
import numpy as np
import tensorflow as tf


def positive_int(value, name, minimum=1):
    """`value` as a Python int, checked to be an int (not a bool) >= minimum.

    Raises:
      ValueError: naming the argument, when it is not an int or too small.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def matrix(value, name, dtypes):
    """value as a tensor, checked to have one of dtypes and rank 2 (when known).

    Raises:
      ValueError: naming the argument.
    """
    tensor = tf.convert_to_tensor(value)
    if tensor.dtype not in dtypes:
        allowed = ", ".join(d.name for d in dtypes)
        raise ValueError(f"{name} must have dtype {allowed}, got {tensor.dtype.name}")
    if tensor.shape.rank is not None and tensor.shape.rank != 2:
        raise ValueError(f"{name} must be a rank-2 tensor, got shape {tensor.shape}")
    return tensor
