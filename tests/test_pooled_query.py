"""pool_size: the hash index hashes mean-pooled copies of kernel rows and queries."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_wta
from tf_wta.layers.hash_index import mean_pool


def test_mean_pool_averages_consecutive_groups_and_a_short_last_one():
    vectors = np.arange(14, dtype=np.float32).reshape(2, 7)
    pooled = mean_pool(vectors, 3).numpy()
    assert pooled.shape == (2, 3) and pooled.dtype == np.float32
    np.testing.assert_allclose(pooled, [[1.0, 4.0, 6.0], [8.0, 11.0, 13.0]])
    np.testing.assert_array_equal(mean_pool(vectors, 1).numpy(), vectors)
    np.testing.assert_allclose(mean_pool(vectors, 7).numpy(), vectors.mean(1, keepdims=True))


@pytest.mark.parametrize("hash_type, window_size", [("wta", 4), ("simhash", 8)])
def test_rows_and_queries_are_hashed_through_their_pooled_copies(hash_type, window_size):
    layer = tf_wta.WTADense(200, mode="hidden", activation="relu", num_candidates=10,
                            num_tables=6, window_size=window_size, hash_type=hash_type,
                            pool_size=4, seed=0)
    layer.build((None, 62))
    index = layer.index
    assert index.windows.shape[1] == window_size
    assert int(np.max(index.windows.numpy())) < 16  # windows over ceil(62 / 4) = 16 entries
    index.rebuild(layer.kernel)

    def buckets(vectors):
        pooled = mean_pool(vectors, 4)
        codes = (tf_wta.simhash(pooled, index.windows, index.signs) if hash_type == "simhash"
                 else tf_wta.wta_hash(pooled, index.windows))
        return tf_wta.wta_buckets(codes, index.radix, index.codes_per_table)

    sorted_buckets, sorted_units, _ = tf_wta.build_index(buckets(layer.kernel),
                                                         index.num_buckets)
    np.testing.assert_array_equal(index.sorted_buckets.numpy(), sorted_buckets.numpy())
    np.testing.assert_array_equal(index.sorted_units.numpy(), sorted_units.numpy())
    x = np.random.default_rng(0).normal(size=(5, 62)).astype(np.float32)
    np.testing.assert_array_equal(index.hash_buckets(x).numpy(), buckets(x).numpy())
    expected = tf_wta.query_index(buckets(x), (sorted_buckets, sorted_units,
                                               tf.constant(index.num_buckets)), 10)
    np.testing.assert_array_equal(layer.query(x).numpy(), expected.numpy())
    assert layer(x).shape == (5, 200)


def test_pool_size_is_checked():
    with pytest.raises(ValueError, match="pool_size"):
        tf_wta.WTADense(10, mode="hidden", pool_size=0)
    with pytest.raises(ValueError, match="pool_size=40 must be <= the input features"):
        tf_wta.WTADense(10, mode="hidden", pool_size=40).build((None, 32))
    too_few = r"window_size=8 must be <= the input features \(4: the 32 input features "
    with pytest.raises(ValueError, match=too_few + r"mean-pooled by pool_size=8\)"):
        tf_wta.WTADense(10, mode="hidden", pool_size=8, window_size=8).build((None, 32))


def test_pool_size_survives_config_and_keras_file(tmp_path):
    layer = tf_wta.WTADense(40, mode="hidden", activation="relu", num_candidates=8,
                            pool_size=4, seed=0)
    config = layer.get_config()
    assert config["pool_size"] == 4
    assert tf_wta.WTADense.from_config(config).index.pool_size == 4
    del config["pool_size"]  # saved before pool_size existed
    assert tf_wta.WTADense.from_config(config).index.pool_size == 1
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 64), np.float32), rng.integers(0, 3, 64)
    model = keras.Sequential([keras.Input((64,)), layer, keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.layers[0].index.pool_size == 4
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
