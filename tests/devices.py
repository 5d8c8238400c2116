"""Inputs on the device a test runs on (see the `device` fixture in conftest.py)."""
import numpy as np
import tensorflow as tf


def place(value, dtype=tf.int32):
    """`value` as a `dtype` tensor made on the device in scope.

    Eager execution leaves an int32 tensor made from Python or numpy values
    in host memory, and runs an op whose inputs are all host int32 tensors
    of at most 64 elements on the CPU even inside `tf.device("/GPU:0")`
    (TensorFlow's small-op pinning). A cast from float64 (exact for every
    int32) runs on the device in scope, so an op fed its result runs there
    too.
    """
    if isinstance(value, (tf.Tensor, tf.Variable)):
        value = value.numpy()
    return tf.cast(tf.constant(np.asarray(value, np.float64)), dtype)


def device_of(tensor):
    """"CPU" or "GPU": the device an eager tensor was computed on."""
    return tf.DeviceSpec.from_string(tensor.device).device_type
