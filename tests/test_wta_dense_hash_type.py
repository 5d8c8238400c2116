"""WTADense(hash_type=...): plain or densified WTA for the inputs and the kernel rows."""
import keras
import numpy as np
import pytest

import tf_wta


def sparse_task(num_classes, dim, num_examples, support=12, seed=0, sample_seed=1):
    """Sparse non-negative examples (about 96% zeros): each class a random
    support of `support` features; an example keeps each of them with
    probability 0.7 at a noisy value and adds a few stray non-zeros.

    Returns:
      (x float32 [num_examples, dim], y int32 [num_examples]).
    """
    rng = np.random.default_rng(seed)
    prototypes = np.zeros((num_classes, dim), np.float32)
    for c in range(num_classes):
        prototypes[c, rng.choice(dim, support, replace=False)] = rng.uniform(0.5, 1.5, support)
    rng = np.random.default_rng([seed, sample_seed])
    y = rng.integers(0, num_classes, num_examples).astype(np.int32)
    shape = (num_examples, dim)
    x = prototypes[y] * (rng.random(shape) < 0.7) * rng.uniform(0.5, 1.5, shape)
    x += (rng.random(shape) < 0.01) * rng.uniform(0.0, 1.5, shape)
    return x.astype(np.float32), y


def test_default_hash_settings_by_mode():
    output = tf_wta.WTADense(1000)
    assert (output.index.hash_type, output.index.num_tables, output.index.pool_size) == (
        "wta", 50, 1)
    hidden = tf_wta.WTADense(1000, mode="hidden")
    assert (hidden.index.hash_type, hidden.index.num_tables, hidden.index.pool_size) == (
        "simhash", 100, None)
    hidden.build((None, 784))
    assert hidden.index.pool_size == 2 and hidden.get_config()["pool_size"] == 2
    narrow = tf_wta.WTADense(100, mode="hidden")  # pooled by 2, 12 inputs leave 6 < 8 entries
    narrow.build((None, 12))
    assert narrow.index.pool_size == 1
    assert tf_wta.WTADense(10, mode="hidden", hash_type="wta").index.hash_type == "wta"
    assert tf_wta.WTADense(10, mode="hidden", hash_type="dwta").index.hash_type == "dwta"
    assert tf_wta.WTADense(10, mode="hidden", hash_type="simhash").index.hash_type == "simhash"
    with pytest.raises(ValueError, match="hash_type must be one of"):
        tf_wta.WTADense(10, hash_type="minhash")


@pytest.mark.parametrize("mode,hash_type", [("hidden", "dwta"), ("hidden", "wta"),
                                            ("output", "dwta"), ("hidden", "simhash")])
def test_config_round_trip(mode, hash_type):
    layer = tf_wta.WTADense(40, mode=mode, hash_type=hash_type, seed=0)
    config = layer.get_config()
    assert config["hash_type"] == hash_type
    assert tf_wta.WTADense.from_config(config).get_config() == config


def test_config_saved_before_hash_type_loads_as_wta():
    config = tf_wta.WTADense(40, mode="hidden", hash_type="dwta", seed=0).get_config()
    del config["hash_type"]
    assert tf_wta.WTADense.from_config(config).index.hash_type == "wta"


def test_dwta_layer_hashes_inputs_and_kernel_rows_densified():
    layer = tf_wta.WTADense(100, mode="hidden", activation="relu", num_candidates=10,
                            num_tables=8, codes_per_table=2, window_size=4, seed=0,
                            hash_type="dwta", pool_size=1)
    layer.build((None, 64))
    layer.index.rebuild(layer.kernel)
    kernel_codes = tf_wta.densified_wta_hash(layer.kernel, layer.index.windows)
    sorted_buckets, sorted_units, _ = tf_wta.build_index(
        tf_wta.wta_buckets(kernel_codes, 4, 2), layer.index.num_buckets)
    np.testing.assert_array_equal(layer.index.sorted_buckets.numpy(), sorted_buckets.numpy())
    np.testing.assert_array_equal(layer.index.sorted_units.numpy(), sorted_units.numpy())
    x, _ = sparse_task(5, 64, 16)
    expected = tf_wta.wta_buckets(tf_wta.densified_wta_hash(x, layer.index.windows), 4, 2)
    np.testing.assert_array_equal(layer.index.hash_buckets(x).numpy(), expected.numpy())
    assert not np.array_equal(
        expected.numpy(), tf_wta.wta_buckets(tf_wta.wta_hash(x, layer.index.windows), 4, 2).numpy())


def test_keras_file_keeps_hash_type(tmp_path):
    x, y = sparse_task(5, 64, 128)
    model = keras.Sequential([keras.Input((64,)),
                              tf_wta.WTADense(64, activation="relu", mode="hidden",
                                              num_candidates=8, seed=0, hash_type="dwta"),
                              tf_wta.WTADense(32, activation="relu", mode="hidden",
                                              num_candidates=8, seed=1),
                              keras.layers.Dense(5)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert [layer.index.hash_type for layer in loaded.layers[:2]] == ["dwta", "simhash"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("hash_type, window_size", [("dwta", 8), ("simhash", 32)])
def test_hidden_layer_learns_a_sparse_task(hash_type, window_size):
    num_classes, dim = 50, 256
    x, y = sparse_task(num_classes, dim, 3000)
    x_test, y_test = sparse_task(num_classes, dim, 1000, sample_seed=2)
    assert (x == 0).mean() > 0.9
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((dim,)),
        tf_wta.WTADense(512, activation="relu", mode="hidden", num_candidates=16,
                        num_tables=20, window_size=window_size, rebuild_every=10, seed=0,
                        hash_type=hash_type),
        keras.layers.Dense(num_classes),
    ])
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=5, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.85  # chance: 0.02


def test_simhash_layer_hashes_bits():
    layer = tf_wta.WTADense(1000, mode="hidden", activation="relu", num_candidates=10,
                            num_tables=8, window_size=16, seed=0, hash_type="simhash",
                            pool_size=1)
    layer.build((None, 64))
    assert layer.index.radix == 2 and layer.index.num_buckets == 2 ** layer.index.codes_per_table
    assert layer.index.codes_per_table == 6  # 1,000 units / 2**6 = about 16 a bucket
    layer.index.rebuild(layer.kernel)
    bits = tf_wta.simhash(layer.kernel, layer.index.windows, layer.index.signs)
    sorted_buckets, sorted_units, _ = tf_wta.build_index(
        tf_wta.wta_buckets(bits, 2, 6), layer.index.num_buckets)
    np.testing.assert_array_equal(layer.index.sorted_buckets.numpy(), sorted_buckets.numpy())
    np.testing.assert_array_equal(layer.index.sorted_units.numpy(), sorted_units.numpy())
