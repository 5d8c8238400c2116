"""Checks of Python arguments shared by the ops and the layers."""
import numpy as np


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
