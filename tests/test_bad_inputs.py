"""Bad inputs give errors that name the input; nothing crashes."""
import numpy as np
import pytest
import tensorflow as tf

import tf_wta

raw_ops = tf_wta.load_ops()


pytestmark = pytest.mark.usefixtures("on_cpu")  # see conftest.py


def windows_of(*rows):
    return tf.constant(rows, tf.int32)


# The checks every WTA hash op shares: (Python wrapper, raw op).
HASH_OPS = pytest.mark.parametrize("hash_fn,raw_op", [
    (tf_wta.wta_hash, raw_ops.wta_hash),
    (tf_wta.densified_wta_hash, raw_ops.wta_densified_hash)], ids=["wta", "densified_wta"])


@HASH_OPS
@pytest.mark.parametrize("bad_index", [-1, 10, 2**31 - 1])
def test_window_index_outside_dim(hash_fn, raw_op, bad_index):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"windows\[1, 2\] = {bad_index} is outside \[0, D\)"):
        hash_fn(tf.ones([2, 10]), windows_of([0, 1, 2], [3, 4, bad_index]))


@HASH_OPS
def test_window_index_checked_inside_tf_function(hash_fn, raw_op):
    @tf.function
    def hash_batch(x, windows):
        return hash_fn(x, windows)

    with pytest.raises(tf.errors.InvalidArgumentError, match="outside"):
        hash_batch(tf.ones([2, 4]), windows_of([0, 4]))


@HASH_OPS
@pytest.mark.parametrize("x_shape,windows_shape,name",
                         [([10], [2, 2], "x"), ([2, 3, 4], [2, 2], "x"),
                          ([2, 10], [4], "windows"), ([2, 10], [1, 2, 2], "windows")])
def test_wrong_ranks(hash_fn, raw_op, x_shape, windows_shape, name):
    windows = tf.zeros(windows_shape, tf.int32)
    with pytest.raises(ValueError, match=f"{name} must be a rank-2"):
        hash_fn(tf.ones(x_shape), windows)
    # The kernel checks again when the Python wrapper is bypassed.
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match=name):
        raw_op(tf.ones(x_shape), windows)


@HASH_OPS
def test_wrong_dtypes(hash_fn, raw_op):
    with pytest.raises(ValueError, match="x must have dtype float32"):
        hash_fn(tf.ones([2, 3], tf.int32), windows_of([0, 1]))
    with pytest.raises(ValueError, match="x must have dtype"):
        hash_fn(tf.ones([2, 3], tf.float64), windows_of([0, 1]))
    with pytest.raises(ValueError, match="windows must have dtype int32"):
        hash_fn(tf.ones([2, 3]), tf.constant([[0, 1]], tf.int64))


def test_wta_buckets_codes_dtype():
    with pytest.raises(ValueError, match="codes must have dtype int32"):
        tf_wta.wta_buckets(tf.ones([2, 4]), 2, 2)


@HASH_OPS
def test_empty_windows_or_empty_x_columns(hash_fn, raw_op):
    with pytest.raises(tf.errors.InvalidArgumentError, match="windows must have at least one"):
        raw_op(tf.ones([2, 3]), tf.zeros([2, 0], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="x must have at least one"):
        raw_op(tf.ones([2, 0]), tf.zeros([2, 1], tf.int32))


def test_codes_per_table_must_divide_codes():
    with pytest.raises(ValueError, match="codes_per_table=3 must divide"):
        tf_wta.wta_buckets(tf.zeros([2, 10], tf.int32), 4, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="codes_per_table=3 does not divide"):
        raw_ops.wta_buckets(tf.zeros([2, 10], tf.int32), window_size=4, codes_per_table=3)


def test_bucket_count_overflowing_int32():
    with pytest.raises(ValueError, match=r"8 \*\* 11 = 8589934592 overflows int32"):
        tf_wta.wta_buckets(tf.zeros([2, 11], tf.int32), 8, 11)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="overflows int32"):
        raw_ops.wta_buckets(tf.zeros([2, 11], tf.int32), window_size=8, codes_per_table=11)


@pytest.mark.parametrize("bad_code", [-1, 4])
def test_code_outside_window(bad_code):
    codes = np.zeros((3, 4), np.int32)
    codes[2, 1] = bad_code
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"codes\[2, 1\] = {bad_code} is outside \[0, window_size=4\)"):
        tf_wta.wta_buckets(codes, 4, 2)


@pytest.mark.parametrize("kwargs,match", [
    (dict(dim=0, num_hashes=1, window_size=1), "dim must be >= 1"),
    (dict(dim=5, num_hashes=1, window_size=6), "window_size must be <= dim"),
    (dict(dim=5, num_hashes=-1, window_size=2), "num_hashes must be >= 0"),
    (dict(dim=5.0, num_hashes=1, window_size=2), "dim must be an int"),
])
def test_bad_window_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tf_wta.wta_windows(seed=0, **kwargs)


def test_shape_functions_reject_bad_static_shapes():
    @tf.function
    def hash_rank3():
        return raw_ops.wta_hash(tf.ones([2, 3, 4]), tf.zeros([2, 2], tf.int32))

    @tf.function
    def buckets_not_divisible():
        return raw_ops.wta_buckets(tf.zeros([2, 10], tf.int32), window_size=4, codes_per_table=3)

    with pytest.raises(ValueError, match="must be rank 2"):
        hash_rank3()
    with pytest.raises(ValueError, match="evenly divisible by 3"):
        buckets_not_divisible()
