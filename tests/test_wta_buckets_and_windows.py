"""wta_buckets and wta_windows against their definitions; the ops on every
device (see conftest.py)."""
import numpy as np
import pytest
import tensorflow as tf

import references
import tf_wta
from devices import place


@pytest.mark.usefixtures("device")
@pytest.mark.parametrize("batch,num_hashes,window_size,codes_per_table",
                         [(1, 1, 2, 1), (9, 12, 4, 3), (300, 400, 8, 4), (5, 20, 2, 20)])
def test_buckets_match_reference(batch, num_hashes, window_size, codes_per_table):
    rng = np.random.default_rng(num_hashes)
    codes = rng.integers(0, window_size, (batch, num_hashes)).astype(np.int32)
    buckets = tf_wta.wta_buckets(place(codes), window_size, codes_per_table).numpy()
    np.testing.assert_array_equal(
        buckets, references.wta_buckets(codes, window_size, codes_per_table))
    assert buckets.max() < tf_wta.num_buckets(window_size, codes_per_table)


@pytest.mark.usefixtures("device")
def test_largest_bucket_key_fits_in_int32():
    # 46340 ** 2 < 2**31 - 1: the top key is representable and exact.
    codes = np.full((2, 4), 46339, np.int32)
    buckets = tf_wta.wta_buckets(place(codes), 46340, 2).numpy()
    assert (buckets == 46340**2 - 1).all()


@pytest.mark.usefixtures("device")
def test_buckets_keep_unknown_batch_and_static_tables():
    @tf.function(input_signature=[tf.TensorSpec([None, 12], tf.int32)])
    def pack(codes):
        buckets = tf_wta.wta_buckets(codes, 4, 3)
        assert buckets.shape.as_list() == [None, 4]
        return buckets

    assert pack(tf.zeros([0, 12], tf.int32)).shape == (0, 4)
    np.testing.assert_array_equal(pack(tf.ones([2, 12], tf.int32)).numpy(),
                                  np.full((2, 4), 1 + 4 + 16))


def test_windows_are_prefixes_of_permutations():
    windows = tf_wta.wta_windows(50, 200, 7, seed=3).numpy()
    assert windows.shape == (200, 7) and windows.dtype == np.int32
    assert windows.min() >= 0 and windows.max() < 50
    assert all(len(set(row)) == 7 for row in windows)
    # Every column is used, and the first position is roughly uniform.
    counts = np.bincount(windows[:, 0], minlength=50)
    assert counts.max() < 20


def test_windows_are_deterministic_for_a_seed():
    a = tf_wta.wta_windows(1000, 16, 8, seed=42).numpy()
    np.testing.assert_array_equal(a, tf_wta.wta_windows(1000, 16, 8, seed=42).numpy())
    assert (a != tf_wta.wta_windows(1000, 16, 8, seed=43).numpy()).any()


def test_full_window_is_a_permutation():
    windows = tf_wta.wta_windows(9, 3, 9, seed=0).numpy()
    for row in windows:
        assert sorted(row) == list(range(9))


@pytest.mark.usefixtures("device")
def test_windows_hash_end_to_end():
    windows = tf_wta.wta_windows(32, 8, 4, seed=1)
    x = np.random.default_rng(0).standard_normal((6, 32)).astype(np.float32)
    codes = tf_wta.wta_hash(x, windows)
    buckets = tf_wta.wta_buckets(codes, 4, 2)
    expected = references.wta_buckets(references.wta_hash(x, windows.numpy()), 4, 2)
    np.testing.assert_array_equal(buckets.numpy(), expected)
