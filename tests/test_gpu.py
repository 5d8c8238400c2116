"""GPU kernels against the CPU kernels, and their safe behaviour on bad values.

Skipped when TensorFlow sees no GPU (the CPU tests cover the semantics; see
README.md for what has been run on a GPU).
"""
import numpy as np
import pytest
import tensorflow as tf

import references
import tf_wta

pytestmark = pytest.mark.skipif(not tf.config.list_physical_devices("GPU"),
                                reason="TensorFlow sees no GPU")


@pytest.mark.parametrize("dtype", [tf.float32, tf.float16, tf.bfloat16])
def test_gpu_hash_matches_reference(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((333, 700)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, ::7] = 0.0
    x = tf.cast(x, dtype)
    windows = tf_wta.wta_windows(700, 257, 8, seed=1)
    with tf.device("/GPU:0"):
        codes = tf_wta.wta_hash(x, windows)
        buckets = tf_wta.wta_buckets(codes[:, :256], 8, 4)
    expected = references.wta_hash(tf.cast(x, tf.float32).numpy(), windows.numpy())
    np.testing.assert_array_equal(codes.numpy(), expected)
    np.testing.assert_array_equal(buckets.numpy(), references.wta_buckets(expected[:, :256], 8, 4))


def test_gpu_out_of_range_window_never_wins():
    x = tf.constant([[1.0, 2.0, 3.0]])
    windows = tf.constant([[5, 0, 1], [-1, 2, 0], [0, 2, 99]], tf.int32)
    with tf.device("/GPU:0"):
        codes = tf_wta.wta_hash(x, windows)
    np.testing.assert_array_equal(codes.numpy(), [[2, 1, 1]])


def test_gpu_out_of_range_code_gives_bucket_minus_one():
    codes = tf.constant([[0, 1, 4, 0], [1, 1, -1, 0]], tf.int32)
    with tf.device("/GPU:0"):
        buckets = tf_wta.wta_buckets(codes, 4, 2)
    np.testing.assert_array_equal(buckets.numpy(), [[4, -1], [5, -1]])
