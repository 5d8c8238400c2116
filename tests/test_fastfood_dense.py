"""FastfoodDense: shapes, a numpy reference of its forward pass, Fastfood's
initial statistics, the variants, training, configs, .keras and SavedModel
round trips in fresh processes, and MirroredStrategy."""
import numpy as np
import pytest
import tensorflow as tf

import keras
import tf_wta
from model_helpers import assert_export_serves_in_fresh_process, run_python
from test_fwht import hadamard


def fastfood_reference(layer, x):
    """The layer's forward pass in float64 numpy, block by block with
    explicit Hadamard matrices: [S_k H G_k Pi_k H B_k x_pad]_k, the first
    `units`, bias, activation."""
    d, blocks = layer.dim, layer.num_blocks
    x = np.asarray(x, np.float64).reshape(-1, layer.input_dim)
    padded = np.zeros((x.shape[0], d))
    padded[:, :layer.input_dim] = x
    h = hadamard(d)
    signs = layer.binary.numpy().astype(np.float64)
    gaussian = layer.gaussian.numpy().astype(np.float64)
    perm = layer.permutation.numpy().reshape(blocks, d) - d * np.arange(blocks)[:, None]
    outputs = []
    for k in range(blocks):
        v = (padded * signs[k]) @ h
        v = v[:, perm[k]] * gaussian[k]
        outputs.append(v @ h)
    out = (np.concatenate(outputs, axis=1)[:, :layer.units] * layer.scaling.numpy()
           * layer.scaling_factor)
    if layer.fourier_features:
        out = np.sqrt(2.0 / layer.units) * np.cos(out + layer.phase.numpy())
    if layer.bias is not None:
        out = out + layer.bias.numpy()
    return out


@pytest.mark.parametrize("input_dim,units", [(1, 1), (5, 3), (16, 16), (20, 100), (64, 200),
                                             (100, 7)])
def test_shapes_and_numpy_reference(input_dim, units):
    layer = tf_wta.FastfoodDense(units, seed=input_dim)
    x = np.random.default_rng(units).standard_normal((6, input_dim)).astype(np.float32)
    y = layer(x)
    assert y.shape == (6, units)
    d = 1 << (input_dim - 1).bit_length()
    assert layer.dim == d and layer.num_blocks == -(-units // d)
    layer.bias.assign(np.linspace(-1, 1, units).astype(np.float32))
    np.testing.assert_allclose(layer(x).numpy(), fastfood_reference(layer, x), rtol=1e-4,
                               atol=1e-4)


def test_activation_fourier_features_and_leading_axes():
    x = np.random.default_rng(0).standard_normal((2, 3, 10)).astype(np.float32)
    relu = tf_wta.FastfoodDense(40, activation="relu", seed=0)
    y = relu(x)
    assert y.shape == (2, 3, 40)
    np.testing.assert_allclose(y.numpy().reshape(6, 40),
                               np.maximum(fastfood_reference(relu, x), 0), rtol=1e-4, atol=1e-4)
    fourier = tf_wta.FastfoodDense(40, fourier_features=True, use_bias=False, seed=0)
    np.testing.assert_allclose(fourier(x).numpy().reshape(6, 40),
                               fastfood_reference(fourier, x), rtol=1e-4, atol=1e-4)


def test_initial_transform_is_like_a_gaussian_matrix():
    # V applied to the identity: its columns are the transform of e_i.
    layer = tf_wta.FastfoodDense(4096, use_bias=False, sigma=1.0, seed=3)
    v = layer(np.eye(256, dtype=np.float32)).numpy()  # [256 inputs, 4096 outputs]
    assert abs(np.mean(v**2) - 1.0) < 0.05
    assert abs(np.mean(v)) < 0.02
    # Rows of V (outputs) have the chi-distributed norms of Gaussian rows.
    norms = np.linalg.norm(v, axis=0)
    assert abs(np.mean(norms) - np.sqrt(256)) < 0.5
    # Default sigma = sqrt(d): the variance of a LeCun-normal Dense kernel.
    default = tf_wta.FastfoodDense(512, use_bias=False, seed=3)
    assert abs(np.mean(default(np.eye(256, dtype=np.float32)).numpy() ** 2) * 256 - 1) < 0.1


def test_stacked_blocks_draw_their_own_diagonals_and_permutation():
    # Deep Fried Convnets stack independent S_k H G_k Pi_k H B_k: blocks
    # sharing B, G or Pi would repeat (or sign-flip) each other's outputs.
    layer = tf_wta.FastfoodDense(4 * 64, seed=5)
    layer.build((None, 64))
    d, blocks = layer.dim, layer.num_blocks
    perm = layer.permutation.numpy().reshape(blocks, d) - d * np.arange(blocks)[:, None]
    assert all(sorted(row) == list(range(d)) for row in perm)
    for name, values in (("B", layer.binary.numpy()), ("G", layer.gaussian.numpy()),
                         ("S", layer.scaling.numpy().reshape(blocks, d)), ("Pi", perm)):
        assert len({row.tobytes() for row in values}) == blocks, name
    v = layer(np.eye(64, dtype=np.float32)).numpy().T  # rows of V: [256, 64]
    correlation = np.corrcoef(v)[np.triu_indices(4 * 64, k=1)]
    assert np.max(np.abs(correlation)) < 0.6  # no repeated or negated rows across blocks


def test_fourier_features_approximate_the_rbf_kernel():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 16)).astype(np.float32)
    y = x + rng.standard_normal((8, 16)).astype(np.float32) * 0.5
    layer = tf_wta.FastfoodDense(8192, fourier_features=True, use_bias=False, sigma=3.0,
                                 seed=5)
    approx = np.sum(layer(x).numpy() * layer(y).numpy(), axis=1)
    exact = np.exp(-np.sum((x - y) ** 2, axis=1) / (2 * 3.0**2))
    np.testing.assert_allclose(approx, exact, atol=0.06)


@pytest.mark.parametrize("learn,trainable", [(True, {"binary", "gaussian", "scaling", "bias"}),
                                             (False, {"bias"}), ("S", {"scaling", "bias"}),
                                             ("gb", {"binary", "gaussian", "bias"})])
def test_learned_and_fixed_diagonals(learn, trainable):
    layer = tf_wta.FastfoodDense(50, learn_diagonals=learn, seed=0)
    layer.build((None, 30))
    assert {w.path.split("/")[-1] for w in layer.trainable_weights} == trainable
    # Parameters: 2 b d (G, B) + n (S) + n (bias); Pi as b d int32 indices.
    assert layer.count_params() == 2 * 2 * 32 + 50 + 50 + 2 * 32


def test_gradients_reach_every_learned_diagonal():
    layer = tf_wta.FastfoodDense(24, seed=1)
    x = tf.constant(np.random.default_rng(1).standard_normal((4, 12)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x) ** 2)
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    assert all(g is not None and np.any(g.numpy() != 0) for g in grads)
    # d loss / d x against finite differences through both transforms.
    theoretical, numerical = tf.test.compute_gradient(
        lambda v: tf.reduce_sum(layer(v) ** 2, axis=1), [x], delta=1e-2)
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=2e-2, atol=2e-2)


def test_learned_scaling_is_stored_near_one_so_adam_steps_are_relative():
    layer = tf_wta.FastfoodDense(4096, seed=2)
    layer.build((None, 1024))
    scaling = layer.scaling.numpy()
    assert 0.9 < np.mean(scaling) < 1.1 and layer.scaling_factor == pytest.approx(1 / 1024)
    before = scaling.copy()
    optimizer = keras.optimizers.Adam(1e-2)
    x = tf.constant(np.random.default_rng(2).standard_normal((8, 1024)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2)
    optimizer.apply_gradients(zip(tape.gradient(loss, layer.trainable_weights),
                                  layer.trainable_weights))
    relative = np.abs(layer.scaling.numpy() - before) / before
    assert np.median(relative) < 0.03  # one Adam step moves S by about 1%


def test_trains_in_sequential_and_functional_models():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1024, 20)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] ** 2 > 1).astype(np.int32)
    sequential = keras.Sequential([keras.Input((20,)),
                                   tf_wta.FastfoodDense(128, activation="relu", seed=0),
                                   keras.layers.Dense(2)])
    inputs = keras.Input((20,))
    hidden = tf_wta.FastfoodDense(128, activation="relu", seed=0)(inputs)
    functional = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    for model in (sequential, functional):
        model.compile(keras.optimizers.Adam(0.01),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        before = model.layers[-2].get_weights()[1].copy()  # G
        history = model.fit(x, y, batch_size=64, epochs=8, verbose=0).history
        assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]
        assert history["accuracy"][-1] > 0.9, history["accuracy"]
        assert not np.allclose(model.layers[-2].get_weights()[1], before)


def test_config_round_trip_rebuilds_the_same_layer():
    layer = tf_wta.FastfoodDense(70, activation="relu", learn_diagonals="SG", sigma=2.5,
                                 seed=11, name="ff")
    x = np.random.default_rng(2).standard_normal((3, 33)).astype(np.float32)
    y = layer(x)
    config = layer.get_config()
    assert config["learn_diagonals"] == "SG" and config["seed"] == 11
    clone = tf_wta.FastfoodDense.from_config(config)
    np.testing.assert_array_equal(clone(x).numpy(), y.numpy())
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(again) is tf_wta.FastfoodDense and again.get_config() == config
    # A layer without a seed draws one and keeps it.
    assert isinstance(tf_wta.FastfoodDense(4).get_config()["seed"], int)


def test_bad_arguments_name_what_is_wrong():
    with pytest.raises(ValueError, match="units must be >= 1"):
        tf_wta.FastfoodDense(0)
    with pytest.raises(ValueError, match="learn_diagonals must be True, False or a string"):
        tf_wta.FastfoodDense(4, learn_diagonals="SX")
    with pytest.raises(ValueError, match="activation must be None"):
        tf_wta.FastfoodDense(4, fourier_features=True, activation="relu")
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        tf_wta.FastfoodDense(4, sigma=0)
    with pytest.raises(ValueError, match="known features"):
        tf_wta.FastfoodDense(4).build((None, None))


def _trained_model():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((128, 24)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    model = keras.Sequential([keras.Input((24,)),
                              tf_wta.FastfoodDense(48, activation="relu", seed=4),
                              tf_wta.FastfoodDense(10, learn_diagonals=False, seed=5),
                              keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0)
    return model, x


def test_keras_file_reloads_in_a_fresh_process(tmp_path):
    model, x = _trained_model()
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x[:16])
    np.save(tmp_path / "expected.npy", model.predict(x[:16], verbose=0))
    run_python(
        "import keras, numpy as np, tf_wta\n"
        "model = keras.saving.load_model('model.keras')\n"
        "assert type(model.layers[0]).__name__ == 'FastfoodDense'\n"
        "np.testing.assert_array_equal(model.predict(np.load('x.npy'), verbose=0),\n"
        "                              np.load('expected.npy'))\n",
        cwd=tmp_path)


def test_exported_saved_model_serves_in_a_fresh_process(tmp_path):
    model, x = _trained_model()
    # The graph holds WtaFwht, which tf_wta.load_ops registers.
    assert_export_serves_in_fresh_process(model, x[:16], tmp_path, load_ops=True,
                                          tolerance=1e-5)


def test_trains_under_mirrored_strategy_on_two_cpus(tmp_path):
    run_python(
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(\n"
        "    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "import keras, numpy as np, tf_wta\n"
        "strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.standard_normal((512, 32)).astype(np.float32)\n"
        "y = (x[:, 0] > 0).astype(np.int32)\n"
        "with strategy.scope():\n"
        "    model = keras.Sequential([keras.Input((32,)),\n"
        "                              tf_wta.FastfoodDense(64, activation='relu', seed=0),\n"
        "                              keras.layers.Dense(2)])\n"
        "    model.compile(keras.optimizers.Adam(0.01),\n"
        "                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
        "loss = model.fit(x, y, batch_size=64, epochs=3, verbose=0).history['loss']\n"
        "assert loss[-1] < 0.7 * loss[0], loss\n"
        "assert model.predict(x[:8], verbose=0).shape == (8, 2)\n",
        cwd=tmp_path)


@pytest.mark.parametrize("policy,tolerance", [("mixed_float16", 1e-2), ("mixed_bfloat16", 5e-2)])
def test_mixed_precision_computes_in_half_with_float32_weights(policy, tolerance):
    layer = tf_wta.FastfoodDense(40, seed=0, dtype=policy)
    x = np.random.default_rng(0).standard_normal((4, 30)).astype(np.float32)
    y = layer(x)
    assert y.dtype == layer.compute_dtype
    assert all(w.dtype in ("float32", "int32") for w in layer.weights)
    expected = fastfood_reference(layer, x)
    np.testing.assert_allclose(y.numpy().astype(np.float64), expected,
                               atol=tolerance * np.abs(expected).max())
