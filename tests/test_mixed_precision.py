"""WTADense under Keras' mixed-precision policies: float32 variables,
compute in float16 / bfloat16 (hashed_matmul included), loss scaling with
the sparse optimizers."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_wta
from model_helpers import dataset, output_model, prototype_data

# policy -> (compute dtype, relative tolerance of a float32 comparison).
POLICIES = {"mixed_float16": ("float16", 1e-2), "mixed_bfloat16": ("bfloat16", 5e-2)}


@pytest.fixture(params=list(POLICIES))
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy("float32")


def assert_close_to(values, expected, rtol):
    """values (any float dtype) within rtol of expected, relative to its scale."""
    values = np.asarray(tf.cast(values, tf.float32))
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(values, expected, rtol=rtol, atol=rtol * scale)


def float32_logits(model, x):
    """The exact outputs of output_model recomputed in float32 numpy."""
    dense, layer = model.layers[1], model.layers[-1]
    hidden = x @ dense.kernel.numpy() + dense.bias.numpy()
    return hidden @ layer.kernel.numpy().T + layer.bias.numpy()


@pytest.mark.parametrize("candidates", ["shared", "per_example"])
def test_output_layer_trains_with_float32_variables(policy, candidates):
    compute_dtype, rtol = POLICIES[policy]
    x, y = prototype_data(200, 32, 1024, noise=0.5, seed=3)
    model = output_model(200, 32, num_candidates=16, rebuild_every=8, candidates=candidates,
                         num_uniform=32 if candidates == "shared" else 0)
    model.compile(tf_wta.LazyAdam(0.02),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # Keras wraps the optimizer for float16 only (bfloat16 has float32's range).
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (
        policy == "mixed_float16")
    layer = model.layers[-1]
    history = model.fit(dataset(x, y, 128), epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0], losses
    assert layer.compute_dtype == compute_dtype
    assert layer.kernel.dtype == "float32" and layer.bias.dtype == "float32"
    logits = model.predict(x[:256], verbose=0)
    assert logits.dtype == compute_dtype  # Keras does not cast outputs back
    assert_close_to(logits, float32_logits(model, x[:256]), rtol)
    accuracy = np.mean(np.argmax(np.asarray(logits, np.float32), axis=1) == y[:256])
    assert accuracy > 0.3, accuracy  # chance: 0.005


def test_hidden_layer_trains_with_float32_variables(policy):
    compute_dtype, _ = POLICIES[policy]
    x, y = prototype_data(10, 32, 512, noise=0.5, seed=4)
    inputs = keras.Input((32,))
    hidden_layer = tf_wta.WTADense(128, activation="relu", mode="hidden", num_candidates=32,
                                   rebuild_every=8, kernel_regularizer=keras.regularizers.L2(1e-4),
                                   seed=0)
    outputs = keras.layers.Dense(10)(hidden_layer(inputs))
    model = tf_wta.WTAModel(inputs, outputs)
    model.compile(tf_wta.SparseSGD(0.5),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(dataset(x, y, 64), epochs=4, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0], losses
    assert hidden_layer.kernel.dtype == "float32" and hidden_layer.bias.dtype == "float32"
    sparse = hidden_layer(x[:8])  # hashed_matmul in the compute dtype
    assert sparse.dtype == compute_dtype and sparse.shape == (8, 128)
    assert model.predict(x[:8], verbose=0).dtype == compute_dtype


def test_top_k_scores_in_the_compute_dtype(policy):
    compute_dtype, rtol = POLICIES[policy]
    x, _ = prototype_data(300, 24, 16, seed=5)
    layer = tf_wta.WTADense(300, candidates="per_example", num_candidates=64, seed=0)
    layer.build((None, 24))
    assert layer.kernel.dtype == "float32"
    scores, ids = layer.top_k(x, 5)
    assert scores.dtype == compute_dtype and ids.dtype == tf.int32
    scores, ids = np.asarray(tf.cast(scores, tf.float32)), ids.numpy()
    assert (ids >= 0).all() and np.all(np.diff(scores, axis=1) <= 0)
    exact = x @ layer.kernel.numpy().T + layer.bias.numpy()
    assert_close_to(scores, np.take_along_axis(exact, ids, axis=1), rtol)
    # The exact inference path follows the policy too.
    outputs = layer(x)
    assert outputs.dtype == compute_dtype
    assert_close_to(outputs, exact, rtol)


def test_loss_scale_optimizer_unscales_sparse_gradients():
    # What compile does for mixed_float16, by hand: the scaled IndexedSlices
    # of hashed_matmul are unscaled before LazyAdam's sparse update, which
    # then matches the update of the unscaled gradient.
    rng = np.random.default_rng(6)
    weights = rng.standard_normal((20, 4)).astype(np.float32)
    indices = np.array([[1, 3], [3, 7]], np.int32)
    x = tf.constant(rng.standard_normal((2, 4)), tf.float16)
    results = []
    for scaled in (False, True):
        variable = keras.Variable(weights)
        optimizer = tf_wta.LazyAdam(0.1)
        if scaled:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=1024.0)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.cast(tf_wta.hashed_matmul(
                x, tf.cast(variable, tf.float16), indices), tf.float32) ** 2)
            loss = optimizer.scale_loss(loss)
        gradient = tape.gradient(loss, variable)
        assert isinstance(gradient, tf.IndexedSlices) and gradient.dtype == tf.float32
        optimizer.apply_gradients([(gradient, variable)])
        results.append(variable.numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)
    untouched = np.setdiff1d(np.arange(20), indices)
    np.testing.assert_array_equal(results[1][untouched], weights[untouched])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_sparse_optimizers_take_half_gradients_for_float32_variables(optimizer):
    # Values in float16 (a layer's compute dtype), variable float32: the
    # update is that of the float32 gradient of the same values.
    weights = np.arange(12, dtype=np.float32).reshape(6, 2)
    values = tf.constant([[1.0, -2.0], [0.5, 4.0]], tf.float16)
    results = []
    for dtype in (tf.float16, tf.float32):
        variable = keras.Variable(weights)
        gradient = tf.IndexedSlices(tf.cast(values, dtype), tf.constant([4, 1]),
                                    tf.constant([6, 2]))
        make = tf_wta.SparseSGD if optimizer == "sgd" else tf_wta.LazyAdam
        make(0.1).apply_gradients([(gradient, variable)])
        assert variable.dtype == "float32"
        results.append(variable.numpy())
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[0], weights)
    np.testing.assert_array_equal(results[0][[0, 2, 3, 5]], weights[[0, 2, 3, 5]])


def test_integer_dtype_policies_are_still_rejected():
    layer = tf_wta.WTADense(10, dtype="int32")
    with pytest.raises(ValueError, match="WTADense computes in one of"):
        layer.build((None, 4))
