"""hashed_matmul with bad inputs: errors that name the input; nothing
crashes. On every device (see conftest.py)."""
import numpy as np
import pytest
import tensorflow as tf

import tf_wta

raw_ops = tf_wta.load_ops()


pytestmark = pytest.mark.usefixtures("device")  # see conftest.py


def call_both(x, weights, indices, bias):
    """The forward and the gradient kernel, bypassing the Python checks."""
    yield lambda: raw_ops.wta_hashed_matmul(x, weights, indices, bias)
    grad_out = tf.ones(tf.shape(indices), x.dtype)
    yield lambda: raw_ops.wta_hashed_matmul_grad(x, weights, indices, grad_out)


@pytest.mark.parametrize("bad_index", [5, 2**31 - 1, -2, -(2**31)])
def test_index_outside_units(bad_index, device):
    x = tf.reshape(tf.range(1.0, 7.0), [2, 3])
    weights = tf.reshape(tf.range(15.0), [5, 3])
    indices = tf.constant([[0, 1, 2], [4, -1, bad_index]], tf.int32)
    if device == "cpu":
        match = rf"indices\[1, 2\] = {bad_index} is outside \[-1, N\) for weights with N=5"
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            tf_wta.hashed_matmul(x, weights, indices)
        for call in call_both(x, weights, indices, tf.zeros([5])):
            with pytest.raises(tf.errors.InvalidArgumentError, match=match):
                call()
        return
    # The GPU treats the index like -1: output 0, no gradient.
    as_empty = tf.constant([[0, 1, 2], [4, -1, -1]], tf.int32)
    for call, reference in zip(call_both(x, weights, indices, tf.ones([5])),
                               call_both(x, weights, as_empty, tf.ones([5]))):
        for ours, theirs in zip(tf.nest.flatten(call()), tf.nest.flatten(reference())):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_index_outside_units_in_both_kernels(device):
    indices = tf.constant([[0, 5, -2, 1], [2**31 - 1, -(2**31), -1, 1]], tf.int32)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    x_var, weights, bias = (tf.Variable(v) for v in (x, np.ones([5, 3], np.float32),
                                                      np.zeros(5, np.float32)))
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"indices\[0, 1\] = 5 is outside \[-1, N\) for weights with N=5"):
            tf_wta.hashed_matmul(x_var, weights, indices, bias)
        return
    with tf.GradientTape() as tape:
        out = tf_wta.hashed_matmul(x_var, weights, indices, bias)
        loss = tf.reduce_sum(out)
    grad_x, grad_w, grad_b = tape.gradient(loss, [x_var, weights, bias])
    np.testing.assert_allclose(out.numpy(), [[3, 0, 0, 3], [0, 0, 0, 12]])
    np.testing.assert_allclose(grad_x.numpy(), np.ones([2, 3]) * [[2], [1]])
    np.testing.assert_array_equal(grad_w.indices.numpy(), [0, 1])
    np.testing.assert_allclose(grad_w.values.numpy(), [x[0], x[0] + x[1]])
    np.testing.assert_allclose(grad_b.values.numpy(), [1, 2])


def test_index_checked_inside_tf_function(device):
    @tf.function
    def logits(indices):
        return tf_wta.hashed_matmul(tf.ones([1, 3]), tf.ones([4, 3]), indices)

    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"indices\[0, 1\] = 4 is outside \[-1, N\)"):
            logits(tf.constant([[0, 4]], tf.int32))
    else:
        np.testing.assert_array_equal(logits(tf.constant([[0, 4]], tf.int32)).numpy(), [[3, 0]])


def test_column_mismatch():
    match = r"same number of columns D, got x of shape \[?\(?2, 3\]?\)? and weights of shape"
    with pytest.raises(ValueError, match=match):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 4]), tf.zeros([2, 1], tf.int32))
    for call in call_both(tf.ones([2, 3]), tf.ones([5, 4]), tf.zeros([2, 1], tf.int32),
                          tf.zeros([5])):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"x and weights must have the same number of columns D, "
                                 r"got x of shape \[2,3\] and weights of shape \[5,4\]"):
            call()


def test_column_mismatch_seen_only_at_run_time():
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def logits(x):
        return tf_wta.hashed_matmul(x, tf.ones([5, 4]), tf.zeros([2, 1], tf.int32))

    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"x of shape \[2,3\] and weights of shape \[5,4\]"):
        logits(tf.ones([2, 3]))


def test_bias_length_not_units():
    with pytest.raises(ValueError, match="bias must have one entry per row of weights"):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3]), tf.zeros([2, 1], tf.int32),
                             tf.zeros([4]))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"bias must have one entry per row of weights, got bias of shape "
                             r"\[4\] and weights of shape \[5,3\]"):
        raw_ops.wta_hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3]), tf.zeros([2, 1], tf.int32),
                                  tf.zeros([4]))


def test_batch_mismatch():
    with pytest.raises(ValueError, match="indices must have one row per row of x"):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3]), tf.zeros([3, 1], tf.int32))
    for call in call_both(tf.ones([2, 3]), tf.ones([5, 3]), tf.zeros([3, 1], tf.int32),
                          tf.zeros([5])):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"indices must have one row per row of x, got indices of shape "
                                 r"\[3,1\] and x of shape \[2,3\]"):
            call()


def test_grad_out_shape_mismatch():
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"grad_out must have the shape of indices, got grad_out of shape "
                             r"\[2,3\] and indices of shape \[2,4\]"):
        raw_ops.wta_hashed_matmul_grad(tf.ones([2, 3]), tf.ones([5, 3]),
                                       tf.zeros([2, 4], tf.int32), tf.ones([2, 3]))


@pytest.mark.parametrize("shapes,name,rank", [
    (([3], [5, 3], [1, 2], [5]), "x", 2),
    (([2, 3], [5, 3, 1], [2, 2], [5]), "weights", 2),
    (([2, 3], [5, 3], [2], [5]), "indices", 2),
    (([2, 3], [5, 3], [2, 2], [5, 1]), "bias", 1),
])
def test_wrong_ranks(shapes, name, rank):
    x_shape, weights_shape, indices_shape, bias_shape = shapes
    args = (tf.ones(x_shape), tf.ones(weights_shape), tf.zeros(indices_shape, tf.int32),
            tf.zeros(bias_shape))
    with pytest.raises(ValueError, match=f"{name} must be a rank-{rank} tensor"):
        tf_wta.hashed_matmul(*args)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"{name} must be a rank-{rank} tensor, got shape "):
        raw_ops.wta_hashed_matmul(*args)


def test_wrong_ranks_seen_only_at_run_time():
    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
    def logits(x):
        return tf_wta.hashed_matmul(x, tf.ones([5, 3]), tf.zeros([2, 1], tf.int32))

    with pytest.raises(tf.errors.InvalidArgumentError, match="x must be a rank-2"):
        logits(tf.ones([2, 3, 1]))


def test_wrong_dtypes():
    indices = tf.zeros([2, 1], tf.int32)
    with pytest.raises(ValueError, match="x must have dtype float32, float64, float16, "
                                         "bfloat16, got int32"):
        tf_wta.hashed_matmul(tf.ones([2, 3], tf.int32), tf.ones([5, 3]), indices)
    with pytest.raises(ValueError, match="weights must have dtype float16, got float32"):
        tf_wta.hashed_matmul(tf.ones([2, 3], tf.float16), tf.ones([5, 3]), indices)
    with pytest.raises(ValueError, match="weights must have dtype float32, got float64"):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3], tf.float64), indices)
    with pytest.raises(ValueError, match="indices must have dtype int32, got int64"):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3]), tf.zeros([2, 1], tf.int64))
    with pytest.raises(ValueError, match="bias must have dtype float32"):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3]), indices, np.zeros(5))
    # The raw op: eager names the type attr; a tf.function names the input.
    args = (tf.ones([2, 3], tf.int32), tf.ones([5, 3], tf.int32), indices,
            tf.zeros([5], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"attr 'T' of int32 is not in the list of allowed values: "
                             r"half, bfloat16, float, double"):
        raw_ops.wta_hashed_matmul(*args)
    with pytest.raises(TypeError, match=r"parameter 'x' has DataType int32 not in list of "
                                        r"allowed values: float16, bfloat16, float32, float64"):
        tf.function(lambda: raw_ops.wta_hashed_matmul(*args))()
