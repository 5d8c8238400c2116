"""simhash (signed random projections) against the numpy reference, on every
device (see conftest.py), its projections, and bad inputs."""
import numpy as np
import pytest
import tensorflow as tf

import references
import tf_wta
from devices import place

pytestmark = pytest.mark.usefixtures("device")

SIZES = [(1, 5, 3, 2), (7, 33, 17, 4), (64, 500, 60, 32), (300, 1024, 600, 64)]


@pytest.mark.parametrize("batch,dim,num_hashes,nonzeros", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float16, tf.bfloat16.as_numpy_dtype])
def test_matches_reference(batch, dim, num_hashes, nonzeros, dtype):
    rng = np.random.default_rng(batch + dim)
    x = rng.standard_normal((batch, dim)).astype(dtype)
    x[rng.random((batch, dim)) < 0.1] = np.nan
    windows, signs = tf_wta.simhash_projections(dim, num_hashes, nonzeros, seed=batch)
    codes = tf_wta.simhash(x, place(windows), signs).numpy()
    expected = references.simhash(x, windows.numpy(), signs.numpy())
    # Inputs are exact in float32 and summed in the same order; only a sum
    # within rounding of 0 (a fused multiply-add) may flip its bit.
    assert np.mean(codes == expected) > 0.999


def test_similar_vectors_share_more_bits():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 256)).astype(np.float32)
    near = x + 0.3 * rng.standard_normal(x.shape).astype(np.float32)
    far = rng.standard_normal(x.shape).astype(np.float32)
    windows, signs = tf_wta.simhash_projections(256, 512, 64, seed=1)
    codes = tf_wta.simhash(np.concatenate([x, near, far]), windows, signs).numpy()
    same_near = np.mean(codes[:200] == codes[200:400])
    same_far = np.mean(codes[:200] == codes[400:])
    assert same_near > 0.85 and 0.45 < same_far < 0.55


def test_projections_are_deterministic_and_signed():
    windows, signs = tf_wta.simhash_projections(100, 20, 10, seed=3)
    again, again_signs = tf_wta.simhash_projections(100, 20, 10, seed=3)
    np.testing.assert_array_equal(windows.numpy(), again.numpy())
    np.testing.assert_array_equal(signs.numpy(), again_signs.numpy())
    assert set(np.unique(signs.numpy())) == {-1.0, 1.0}
    assert all(len(set(row)) == 10 for row in windows.numpy())


def test_bits_pack_into_buckets_and_have_no_gradient():
    x = tf.random.stateless_normal([4, 32], seed=[1, 2])
    windows, signs = tf_wta.simhash_projections(32, 12, 8, seed=0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        codes = tf_wta.simhash(x, windows, signs)
    assert tape.gradient(codes, x) is None
    buckets = tf_wta.wta_buckets(codes, window_size=2, codes_per_table=6).numpy()
    expected = (codes.numpy().reshape(4, 2, 6) * 2 ** np.arange(6)).sum(axis=2)
    np.testing.assert_array_equal(buckets, expected)


def test_empty_batch_and_no_projections():
    windows, signs = tf_wta.simhash_projections(8, 3, 2, seed=0)
    assert tf_wta.simhash(tf.zeros([0, 8]), windows, signs).shape == (0, 3)
    assert tf_wta.simhash(tf.ones([2, 8]), tf.zeros([0, 2], tf.int32),
                          tf.zeros([0, 2])).shape == (2, 0)


def test_bad_inputs_name_what_is_wrong(device):
    x = tf.ones([2, 8])
    windows, signs = tf_wta.simhash_projections(8, 3, 2, seed=0)
    with pytest.raises(ValueError, match="signs must have the shape of windows"):
        tf_wta.simhash(x, windows, signs[:, :1])
    with pytest.raises(ValueError, match="signs must have dtype float32"):
        tf_wta.simhash(x, windows, tf.cast(signs, tf.float64))
    with pytest.raises(ValueError, match="x must have dtype"):
        tf_wta.simhash(tf.ones([2, 8], tf.float64), windows, signs)
    raw = tf_wta.load_ops().wta_simhash
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"signs must have the shape of windows, got signs of shape \[3,1\]"):
        raw(x, place(windows), signs[:, :1])
    with pytest.raises(tf.errors.InvalidArgumentError, match="x must be a rank-2 tensor"):
        raw(tf.ones([8]), place(windows), signs)
    bad = windows.numpy().copy()
    bad[1, 1] = 8
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"windows\[1, 1\] = 8 is outside \[0, D\) for x of shape \[2,8\]"):
            raw(x, place(bad), signs)
    else:  # the GPU's documented safe behaviour: the entry contributes 0
        masked = signs.numpy().copy()
        masked[1, 1] = 0
        np.testing.assert_array_equal(raw(x, place(bad), signs).numpy(),
                                      raw(x, place(windows), masked).numpy())
