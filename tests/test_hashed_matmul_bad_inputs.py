"""hashed_matmul with bad inputs: errors that name the input; nothing crashes."""
import numpy as np
import pytest
import tensorflow as tf

import tf_wta

raw_ops = tf_wta.load_ops()


pytestmark = pytest.mark.usefixtures("on_cpu")  # see conftest.py


def call_both(x, weights, indices, bias):
    """The forward and the gradient kernel, bypassing the Python checks."""
    yield lambda: raw_ops.wta_hashed_matmul(x, weights, indices, bias)
    grad_out = tf.ones(tf.shape(indices), x.dtype)
    yield lambda: raw_ops.wta_hashed_matmul_grad(x, weights, indices, grad_out)


@pytest.mark.parametrize("bad_index", [5, 2**31 - 1, -2, -(2**31)])
def test_index_outside_units(bad_index):
    indices = tf.constant([[0, 1, 2], [4, -1, bad_index]], tf.int32)
    match = rf"indices\[1, 2\] = {bad_index} is outside \[-1, N\) for weights with N=5"
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3]), indices)
    for call in call_both(tf.ones([2, 3]), tf.ones([5, 3]), indices, tf.zeros([5])):
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            call()


def test_index_checked_inside_tf_function():
    @tf.function
    def logits(indices):
        return tf_wta.hashed_matmul(tf.ones([1, 3]), tf.ones([4, 3]), indices)

    with pytest.raises(tf.errors.InvalidArgumentError, match=r"indices\[0, 1\] = 4"):
        logits(tf.constant([[0, 4]], tf.int32))


def test_column_mismatch():
    match = r"same number of columns D, got x of shape \[?\(?2, 3\]?\)? and weights of shape"
    with pytest.raises(ValueError, match=match):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 4]), tf.zeros([2, 1], tf.int32))
    for call in call_both(tf.ones([2, 3]), tf.ones([5, 4]), tf.zeros([2, 1], tf.int32),
                          tf.zeros([5])):
        with pytest.raises((tf.errors.InvalidArgumentError, ValueError),
                           match="x.*weights|Dimensions must be equal"):
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
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="bias|Dimensions"):
        raw_ops.wta_hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3]), tf.zeros([2, 1], tf.int32),
                                  tf.zeros([4]))


def test_batch_mismatch():
    with pytest.raises(ValueError, match="indices must have one row per row of x"):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3]), tf.zeros([3, 1], tf.int32))
    for call in call_both(tf.ones([2, 3]), tf.ones([5, 3]), tf.zeros([3, 1], tf.int32),
                          tf.zeros([5])):
        with pytest.raises((tf.errors.InvalidArgumentError, ValueError),
                           match="indices.*x|Dimensions must be equal"):
            call()


def test_grad_out_shape_mismatch():
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError),
                       match="grad_out|Dimensions must be equal"):
        raw_ops.wta_hashed_matmul_grad(tf.ones([2, 3]), tf.ones([5, 3]),
                                       tf.zeros([2, 4], tf.int32), tf.ones([2, 3]))


@pytest.mark.parametrize("shapes,name", [
    (([3], [5, 3], [1, 2], [5]), "x"),
    (([2, 3], [5, 3, 1], [2, 2], [5]), "weights"),
    (([2, 3], [5, 3], [2], [5]), "indices"),
    (([2, 3], [5, 3], [2, 2], [5, 1]), "bias"),
])
def test_wrong_ranks(shapes, name):
    x_shape, weights_shape, indices_shape, bias_shape = shapes
    args = (tf.ones(x_shape), tf.ones(weights_shape), tf.zeros(indices_shape, tf.int32),
            tf.zeros(bias_shape))
    with pytest.raises(ValueError, match=f"{name} must be a rank-"):
        tf_wta.hashed_matmul(*args)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match=name):
        raw_ops.wta_hashed_matmul(*args)


def test_wrong_ranks_seen_only_at_run_time():
    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
    def logits(x):
        return tf_wta.hashed_matmul(x, tf.ones([5, 3]), tf.zeros([2, 1], tf.int32))

    with pytest.raises(tf.errors.InvalidArgumentError, match="x must be a rank-2"):
        logits(tf.ones([2, 3, 1]))


def test_wrong_dtypes():
    indices = tf.zeros([2, 1], tf.int32)
    with pytest.raises(ValueError, match="x must have dtype float32, float64, got int32"):
        tf_wta.hashed_matmul(tf.ones([2, 3], tf.int32), tf.ones([5, 3]), indices)
    with pytest.raises(ValueError, match="x must have dtype float32, float64, got float16"):
        tf_wta.hashed_matmul(tf.ones([2, 3], tf.float16), tf.ones([5, 3]), indices)
    with pytest.raises(ValueError, match="weights must have dtype float32, got float64"):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3], tf.float64), indices)
    with pytest.raises(ValueError, match="indices must have dtype int32, got int64"):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3]), tf.zeros([2, 1], tf.int64))
    with pytest.raises(ValueError, match="bias must have dtype float32"):
        tf_wta.hashed_matmul(tf.ones([2, 3]), tf.ones([5, 3]), indices, np.zeros(5))
    with pytest.raises((TypeError, tf.errors.InvalidArgumentError, tf.errors.NotFoundError)):
        raw_ops.wta_hashed_matmul(tf.ones([2, 3], tf.int32), tf.ones([5, 3], tf.int32), indices,
                                  tf.zeros([5], tf.int32))
