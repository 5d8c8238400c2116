"""wta_hash against the numpy reference, in eager and graph mode, on every
device (see conftest.py)."""
import numpy as np
import pytest
import tensorflow as tf

import references
import tf_wta
from devices import place

pytestmark = pytest.mark.usefixtures("device")


def random_windows(rng, dim, num_hashes, window_size):
    return np.stack([rng.choice(dim, window_size, replace=False)
                     for _ in range(num_hashes)]).astype(np.int32)


# (B, D, M, K): the tiled CPU path (D <= 2 M K) and the per-row path, odd
# batch sizes that leave a partial tile, and the largest size; the
# AVX2 tile path needs full 16-row tiles.
SIZES = [(1, 5, 3, 2), (7, 33, 17, 4), (9, 40, 10, 4), (17, 300, 50, 8), (64, 5000, 10, 4),
         (35, 41, 12, 4),  # full tiles, -0.0 (odd D) and a D % 8 tail
         (2000, 2048, 400, 8)]


@pytest.mark.parametrize("batch,dim,num_hashes,window_size", SIZES)
def test_matches_reference_on_random_input(batch, dim, num_hashes, window_size):
    rng = np.random.default_rng(batch + dim)
    x = rng.standard_normal((batch, dim)).astype(np.float32)
    windows = random_windows(rng, dim, num_hashes, window_size)
    codes = tf_wta.wta_hash(x, windows).numpy()
    np.testing.assert_array_equal(codes, references.wta_hash(x, windows))


@pytest.mark.parametrize("batch,dim,num_hashes,window_size", SIZES)
def test_ties_go_to_the_smallest_k(batch, dim, num_hashes, window_size):
    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, (batch, dim)).astype(np.float32)
    x[x == 0] = -0.0 if dim % 2 else 0.0  # -0.0 ties with +0.0
    windows = random_windows(rng, dim, num_hashes, window_size)
    codes = tf_wta.wta_hash(x, windows).numpy()
    np.testing.assert_array_equal(codes, references.wta_hash(x, windows))


@pytest.mark.parametrize("batch,dim,num_hashes,window_size", SIZES)
def test_nan_never_wins(batch, dim, num_hashes, window_size):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((batch, dim)).astype(np.float32)
    x[rng.random((batch, dim)) < 0.4] = np.nan
    x[rng.random((batch, dim)) < 0.1] = -np.inf
    x[0, :] = np.nan  # a row where every window is all NaN
    windows = random_windows(rng, dim, num_hashes, window_size)
    codes = tf_wta.wta_hash(x, windows).numpy()
    np.testing.assert_array_equal(codes, references.wta_hash(x, windows))
    assert not codes[0].any()


def test_nan_loses_to_negative_infinity():
    x = np.array([[np.nan, -np.inf, np.nan, 1.0]], np.float32)
    windows = np.array([[0, 1], [1, 0], [0, 2], [0, 3], [3, 3]], np.int32)
    np.testing.assert_array_equal(tf_wta.wta_hash(x, windows).numpy(),
                                  [[1, 0, 0, 1, 0]])


@pytest.mark.parametrize("dtype", [tf.float32, tf.float16, tf.bfloat16],
                         ids=["float32", "float16", "bfloat16"])
def test_nan_and_zero_columns_in_every_dtype(dtype):
    # An odd number of hashes and enough (b, m) pairs for a grid of GPU blocks.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((333, 700)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, ::7] = 0.0
    x = tf.cast(x, dtype)
    windows = tf_wta.wta_windows(700, 257, 8, seed=1)
    codes = tf_wta.wta_hash(x, windows)
    buckets = tf_wta.wta_buckets(codes[:, :256], 8, 4)
    expected = references.wta_hash(tf.cast(x, tf.float32).numpy(), windows.numpy())
    np.testing.assert_array_equal(codes.numpy(), expected)
    np.testing.assert_array_equal(buckets.numpy(), references.wta_buckets(expected[:, :256], 8, 4))


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_reduced_precision_inputs_hash_their_own_values(dtype):
    rng = np.random.default_rng(3)
    x = tf.cast(rng.standard_normal((40, 96)), dtype)
    windows = random_windows(rng, 96, 32, 6)
    expected = references.wta_hash(tf.cast(x, tf.float32).numpy(), windows)
    np.testing.assert_array_equal(tf_wta.wta_hash(x, windows).numpy(), expected)


def test_unknown_batch_inside_tf_function():
    rng = np.random.default_rng(5)
    windows = tf.constant(random_windows(rng, 64, 24, 8))

    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
    def hash_batch(x):
        codes = tf_wta.wta_hash(x, windows)
        assert codes.shape.as_list() == [None, 24]
        return codes

    for batch in (0, 1, 33):
        x = rng.standard_normal((batch, 64)).astype(np.float32)
        np.testing.assert_array_equal(hash_batch(x).numpy(),
                                      references.wta_hash(x, windows.numpy()))


def test_empty_batch_gives_empty_codes():
    codes = tf_wta.wta_hash(tf.zeros([0, 10]), tf_wta.wta_windows(10, 6, 3, seed=0))
    assert codes.shape == (0, 6) and codes.dtype == tf.int32


def test_no_hashes_gives_no_codes():
    codes = tf_wta.wta_hash(tf.ones([4, 10]), place(np.zeros([0, 3])))
    assert codes.shape == (4, 0)


def test_gradient_is_none_not_an_error():
    x = tf.Variable(tf.random.normal([3, 10]))
    windows = tf_wta.wta_windows(10, 4, 3, seed=0)
    with tf.GradientTape() as tape:
        codes = tf_wta.wta_hash(x, windows)
        loss = tf.reduce_sum(tf.cast(codes, tf.float32))
    assert tape.gradient(loss, x) is None

    @tf.function
    def graph_gradient():
        return tf.gradients(tf.cast(tf_wta.wta_hash(x, windows), tf.float32), x)

    assert graph_gradient() == [None]
