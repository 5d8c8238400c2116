"""Bad inputs give errors that name the input; nothing crashes. On every
device: the kernels check shapes on both; a bad value is an error on the CPU
and gets the documented safe result on the GPU (see conftest.py)."""
import numpy as np
import pytest
import tensorflow as tf

import tf_wta
from devices import place

raw_ops = tf_wta.load_ops()


pytestmark = pytest.mark.usefixtures("device")  # see conftest.py


def windows_of(*rows):
    return tf.constant(rows, tf.int32)


# The checks every WTA hash op shares: (Python wrapper, raw op).
HASH_OPS = pytest.mark.parametrize("hash_fn,raw_op", [
    (tf_wta.wta_hash, raw_ops.wta_hash),
    (tf_wta.densified_wta_hash, raw_ops.wta_densified_hash)], ids=["wta", "densified_wta"])


@HASH_OPS
@pytest.mark.parametrize("bad_index", [-1, 10, 2**31 - 1])
def test_window_index_outside_dim(hash_fn, raw_op, bad_index, device):
    x = np.tile(np.arange(1, 11, dtype=np.float32), (2, 1))
    windows = windows_of([0, 1, 2], [3, 4, bad_index])
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"windows\[1, 2\] = {bad_index} is outside \[0, D\) "
                                 rf"for x of shape \[2,10\]"):
            hash_fn(x, windows)
    else:  # the entry never wins (the densified hash skips it like a zero)
        np.testing.assert_array_equal(hash_fn(x, windows).numpy(), [[2, 1], [2, 1]])


def test_window_index_outside_dim_in_any_position(device):
    x = tf.constant([[1.0, 2.0, 3.0]])
    windows = tf.constant([[5, 0, 1], [-1, 2, 0], [0, 2, 99]], tf.int32)
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"windows\[0, 0\] = 5 is outside \[0, D\)"):
            tf_wta.wta_hash(x, windows)
    else:  # never wins, first in its window or not
        np.testing.assert_array_equal(tf_wta.wta_hash(x, windows).numpy(), [[2, 1, 1]])


@HASH_OPS
def test_window_index_checked_inside_tf_function(hash_fn, raw_op, device):
    @tf.function
    def hash_batch(x, windows):
        return hash_fn(x, windows)

    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"windows\[0, 1\] = 4 is outside \[0, D\)"):
            hash_batch(tf.ones([2, 4]), windows_of([0, 4]))
    else:
        np.testing.assert_array_equal(hash_batch(tf.ones([2, 4]), windows_of([0, 4])).numpy(),
                                      [[0], [0]])


@HASH_OPS
@pytest.mark.parametrize("x_shape,windows_shape,name",
                         [([10], [2, 2], "x"), ([2, 3, 4], [2, 2], "x"),
                          ([2, 10], [4], "windows"), ([2, 10], [1, 2, 2], "windows")])
def test_wrong_ranks(hash_fn, raw_op, x_shape, windows_shape, name):
    windows = tf.zeros(windows_shape, tf.int32)
    with pytest.raises(ValueError, match=f"{name} must be a rank-2"):
        hash_fn(tf.ones(x_shape), windows)
    # The kernel checks again when the Python wrapper is bypassed.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"{name} must be a rank-2 tensor, got shape "):
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
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="codes has 10 columns, which codes_per_table=3 does not divide"):
        raw_ops.wta_buckets(place(np.zeros([2, 10])), window_size=4, codes_per_table=3)


def test_bucket_count_overflowing_int32():
    with pytest.raises(ValueError, match=r"8 \*\* 11 = 8589934592 overflows int32"):
        tf_wta.wta_buckets(tf.zeros([2, 11], tf.int32), 8, 11)
    # Eager: the kernel's constructor; in a tf.function: the shape function.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"window_size \*\* codes_per_table = 8 \*\* 11 overflows int32"):
        raw_ops.wta_buckets(place(np.zeros([2, 11])), window_size=8, codes_per_table=11)
    with pytest.raises(ValueError,
                       match=r"window_size \*\* codes_per_table = 8 \*\* 11 overflows int32"):
        tf.function(lambda: raw_ops.wta_buckets(tf.zeros([2, 11], tf.int32), window_size=8,
                                                codes_per_table=11))()


@pytest.mark.parametrize("codes_per_table", [2**31, 2**40])
def test_codes_per_table_beyond_int32_with_one_bucket(codes_per_table):
    """window_size=1 keeps window_size ** codes_per_table at 1, and M=0 is a
    multiple of anything: only the int32 attribute can reject it (found by
    the long fuzz: `--op wta_buckets --seed 0 --case 1788`)."""
    with pytest.raises(ValueError, match=f"codes_per_table must fit in int32, got "
                                         f"{codes_per_table}"):
        tf_wta.wta_buckets(tf.zeros([7, 0], tf.int32), 1, codes_per_table)
    with pytest.raises(tf.errors.InvalidArgumentError, match="codes_per_table"):
        raw_ops.wta_buckets(tf.zeros([7, 0], tf.int32), window_size=1,
                            codes_per_table=codes_per_table)


def test_one_bucket_and_no_codes_give_no_tables():
    """The largest valid codes_per_table (fuzz case `--op wta_buckets --seed 0
    --case 1249`, whose reference once allocated 2**31 powers)."""
    out = tf_wta.wta_buckets(tf.zeros([8, 0], tf.int32), 1, 2**31 - 1)
    assert out.shape == (8, 0) and out.dtype == tf.int32


@pytest.mark.parametrize("bad_code", [-1, 4])
def test_code_outside_window(bad_code, device):
    codes = np.zeros((3, 4), np.int32)
    codes[2, 1] = bad_code
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"codes\[2, 1\] = {bad_code} is outside \[0, window_size=4\)"):
            tf_wta.wta_buckets(place(codes), 4, 2)
    else:  # the table of a bad code gets bucket -1
        np.testing.assert_array_equal(tf_wta.wta_buckets(place(codes), 4, 2).numpy(),
                                      [[0, 0], [0, 0], [-1, 0]])


def test_code_outside_window_in_several_tables(device):
    codes = place([[0, 1, 4, 0], [1, 1, -1, 0]])
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"codes\[0, 2\] = 4 is outside \[0, window_size=4\)"):
            tf_wta.wta_buckets(codes, 4, 2)
    else:
        np.testing.assert_array_equal(tf_wta.wta_buckets(codes, 4, 2).numpy(), [[4, -1], [5, -1]])


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
