"""WTADense: construction, exact inference, hidden mode, schedule, top_k."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_wta


def test_invalid_settings_say_what_to_change():
    with pytest.raises(ValueError, match="num_candidates=20 must be <= units=10"):
        tf_wta.WTADense(10, num_candidates=20)
    with pytest.raises(ValueError, match="window_size must be >= 2"):
        tf_wta.WTADense(10, window_size=1)
    with pytest.raises(ValueError, match="mode must be one of"):
        tf_wta.WTADense(10, mode="sparse")
    with pytest.raises(ValueError, match="overflows int32"):
        tf_wta.WTADense(10, window_size=16, codes_per_table=8)
    with pytest.raises(ValueError, match="rebuild_growth must be a number >= 1.0"):
        tf_wta.WTADense(10, rebuild_growth=0.5)
    with pytest.raises(ValueError, match="units must be >= 1"):
        tf_wta.WTADense(0)
    with pytest.raises(ValueError, match="candidates must be one of"):
        tf_wta.WTADense(10, candidates="pooled")
    with pytest.raises(ValueError, match="only 'per_example' for mode='hidden'"):
        tf_wta.WTADense(10, mode="hidden", candidates="shared")
    with pytest.raises(ValueError, match="num_uniform must be >= 0"):
        tf_wta.WTADense(10, num_uniform=-1)
    layer = tf_wta.WTADense(10, window_size=8)
    with pytest.raises(ValueError, match=r"window_size=8 must be <= the input features \(4\)"):
        layer.build((None, 4))


@pytest.mark.parametrize("units", [1_000, 10_000, 100_000, 1_000_000])
def test_defaults_work_across_sizes(units):
    layer = tf_wta.WTADense(units)
    assert layer.num_candidates == 0  # shared: labels + uniform draws
    assert 1 <= tf_wta.WTADense(units, candidates="per_example").num_candidates <= units
    assert 4 <= units / layer.index.num_buckets <= 64 or layer.index.codes_per_table == 1


def test_config_round_trip():
    layer = tf_wta.WTADense(300, activation="relu", mode="hidden", num_candidates=40,
                            num_tables=12, codes_per_table=2, window_size=4, rebuild_every=7,
                            rebuild_growth=1.5, max_bucket_size=30, seed=3)
    clone = tf_wta.WTADense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    shared = tf_wta.WTADense(3000, num_candidates=40, num_uniform=100, seed=3)
    assert shared.get_config()["candidates"] == "shared"
    assert tf_wta.WTADense.from_config(shared.get_config()).get_config() == shared.get_config()


def test_shared_mode_defaults():
    layer = tf_wta.WTADense(100_000)
    assert (layer.candidates, layer.num_candidates, layer.num_uniform) == ("shared", 0, 2048)
    small = tf_wta.WTADense(5, num_candidates=5)
    assert (small.num_candidates, small.num_uniform) == (5, 5)
    with pytest.raises(ValueError, match="num_candidates must be >= 1"):
        tf_wta.WTADense(100, candidates="per_example", num_candidates=0)
    per_example = tf_wta.WTADense(100_000, candidates="per_example")
    assert (per_example.num_candidates, per_example.num_uniform) == (128, 0)


def test_configs_saved_before_the_shared_mode_load_per_example():
    config = tf_wta.WTADense(300, num_candidates=16, seed=1).get_config()
    del config["candidates"], config["num_uniform"]
    layer = tf_wta.WTADense.from_config(config)
    assert (layer.candidates, layer.num_uniform) == ("per_example", 0)


def test_keras_seeding_makes_unseeded_windows_repeatable():
    windows = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        layer = tf_wta.WTADense(100)
        layer.build((None, 32))
        windows.append(layer.index.windows.numpy())
    np.testing.assert_array_equal(windows[0], windows[1])


def test_output_mode_inference_is_exact_dense():
    layer = tf_wta.WTADense(50, activation="softmax", seed=0)
    x = tf.random.normal([7, 16])
    outputs = layer(x)
    expected = tf.nn.softmax(tf.matmul(x, layer.kernel, transpose_b=True) + layer.bias)
    np.testing.assert_allclose(outputs.numpy(), expected.numpy(), rtol=1e-6)


def test_output_mode_refuses_training_without_labels():
    inputs = keras.Input((16,))
    model = keras.Model(inputs, tf_wta.WTADense(30, seed=0)(inputs))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="tf_wta.WTAModel"):
        model.fit(np.zeros((8, 16), np.float32), np.zeros(8, np.int32), verbose=0)


def test_hidden_mode_computes_only_candidates():
    layer = tf_wta.WTADense(200, activation="relu", mode="hidden", num_candidates=25,
                            num_tables=20, codes_per_table=2, window_size=4, seed=1)
    x = tf.random.normal([9, 32], seed=2)
    outputs = layer(x, training=True).numpy()
    assert outputs.shape == (9, 200)
    candidates = layer.query(x).numpy()
    dense = tf.nn.relu(tf.matmul(x, layer.kernel, transpose_b=True) + layer.bias).numpy()
    for row, units in enumerate(candidates):
        units = units[units >= 0]
        assert len(units) <= 25
        np.testing.assert_allclose(outputs[row, units], dense[row, units], rtol=1e-5, atol=1e-6)
        others = np.setdiff1d(np.arange(200), units)
        assert not outputs[row, others].any()


def test_hidden_layers_train_under_compile_defaults():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 32)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    model = keras.Sequential([
        keras.Input((32,)),
        tf_wta.WTADense(128, activation="relu", mode="hidden", num_candidates=32, seed=0,
                        rebuild_every=4),
        keras.layers.Dense(2),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])  # jit_compile="auto" must not try XLA
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(x, verbose=0).shape == (256, 2)


def test_fixed_and_growing_rebuild_schedules():
    for growth, expected_rebuilds in ((1.0, [0, 3, 6, 9]), (2.0, [0, 3, 9])):
        layer = tf_wta.WTADense(64, activation="relu", mode="hidden", num_candidates=8,
                                rebuild_every=3, rebuild_growth=growth, seed=0)
        x = tf.random.normal([4, 16])
        rebuilds = []
        for _ in range(12):
            before = int(layer.index.built_at.numpy()) if layer.built else -1
            layer(x, training=True)
            if int(layer.index.built_at.numpy()) != before:
                rebuilds.append(int(layer.index.built_at.numpy()))
        assert rebuilds == expected_rebuilds
        assert int(layer.index.steps.numpy()) == 12


def test_rebuilt_index_matches_build_index_of_the_kernel():
    layer = tf_wta.WTADense(100, num_candidates=10, num_tables=8, codes_per_table=2,
                            window_size=4, seed=0)
    layer.build((None, 24))
    layer.index.rebuild(layer.kernel)
    sorted_buckets, sorted_units, _ = tf_wta.build_index(
        layer.index.hash_buckets(layer.kernel), layer.index.num_buckets)
    np.testing.assert_array_equal(layer.index.sorted_buckets.numpy(), sorted_buckets.numpy())
    np.testing.assert_array_equal(layer.index.sorted_units.numpy(), sorted_units.numpy())


def test_top_k_recalls_the_exact_best_unit():
    rng = np.random.default_rng(0)
    units, dim = 2000, 64
    layer = tf_wta.WTADense(units, num_candidates=100, seed=0, use_bias=False)
    layer.build((None, dim))
    prototypes = rng.standard_normal((units, dim)).astype(np.float32)
    layer.kernel.assign(prototypes)
    chosen = rng.integers(0, units, 200)
    queries = prototypes[chosen] + 0.3 * rng.standard_normal((200, dim)).astype(np.float32)
    scores, ids = layer.top_k(queries, 5)
    exact = np.argmax(queries @ prototypes.T, axis=1)
    assert np.mean(ids.numpy()[:, 0] == exact) >= 0.95
    np.testing.assert_allclose(scores.numpy()[:, 0],
                               np.einsum("bd,bd->b", queries, prototypes[ids.numpy()[:, 0]]),
                               rtol=1e-5)
    # With num_candidates=5 the 5 results are exactly the 5 best-colliding units.
    few_scores, few_ids = layer.top_k(queries, 5, num_candidates=5)
    np.testing.assert_array_equal(np.sort(few_ids.numpy(), axis=1),
                                  np.sort(layer.query(queries, 5).numpy(), axis=1))
    assert np.all(np.diff(few_scores.numpy(), axis=1) <= 0)
    with pytest.raises(ValueError, match="num_candidates"):
        layer.top_k(queries, 5, num_candidates=-3)


def test_hidden_mode_gradient_through_the_scatter_matches_the_masked_dense_layer():
    layer = tf_wta.WTADense(40, activation="relu", mode="hidden", num_candidates=6, seed=0)
    x = tf.random.stateless_normal([5, 12], seed=[1, 2])
    upstream = tf.random.stateless_normal([5, 40], seed=[3, 4])
    layer(x)  # builds the layer and its index
    candidates = layer.query(x)
    mask = tf.reduce_sum(tf.one_hot(candidates, 40), axis=1)  # -1 slots: zero rows
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = tf.reduce_sum(layer(x, training=False) * upstream)
        masked = tf.nn.relu(tf.matmul(x, layer.kernel, transpose_b=True) + layer.bias) * mask
        reference = tf.reduce_sum(masked * upstream)
    np.testing.assert_allclose(float(ours), float(reference), rtol=1e-5)
    for ours_grad, reference_grad in zip(tape.gradient(ours, [x, layer.kernel, layer.bias]),
                                         tape.gradient(reference, [x, layer.kernel, layer.bias])):
        np.testing.assert_allclose(tf.convert_to_tensor(ours_grad).numpy(),
                                   tf.convert_to_tensor(reference_grad).numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_uniform_draws_train_hidden_units_the_hash_never_selects():
    # A few directions of input, so the hash keeps choosing the same units.
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((512, 4)) @ rng.standard_normal((4, 32))).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)

    def trained_rows(num_uniform):
        keras.utils.set_random_seed(1)
        hidden = tf_wta.WTADense(512, activation="relu", mode="hidden", num_candidates=8,
                                 num_uniform=num_uniform, seed=0)
        model = keras.Sequential([keras.Input((32,)), hidden, keras.layers.Dense(2)])
        model.compile(tf_wta.LazyAdam(0.01),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.build((None, 32))
        before = hidden.kernel.numpy().copy()
        model.fit(x, y, batch_size=64, epochs=2, verbose=0)
        changed = np.any(hidden.kernel.numpy() != before, axis=1)
        assert model.predict(x[:4], verbose=0).shape == (4, 2)
        return changed.mean()

    hashed_only, with_uniform = trained_rows(0), trained_rows(128)
    # Measured: 0.604 and 0.996. 16 steps x 128 draws miss a unit with
    # probability e**-4 (2%).
    assert with_uniform > 0.96, with_uniform
    assert hashed_only < 0.8 * with_uniform, hashed_only

