"""WTAModel + WTADense output layer: fit, evaluate, sparse updates, labels."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_wta
from model_helpers import compile_for_classes, dataset, output_model, prototype_data


def test_fit_on_candidates_then_predict_exact():
    x, y = prototype_data(500, 64, 8192, noise=1.0, seed=1)
    model = compile_for_classes(output_model(500, 64, num_candidates=32, rebuild_every=20),
                                keras.optimizers.SGD(1.0))
    history = model.fit(dataset(x, y), epochs=3, verbose=0)
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]
    logits = model.predict(x, verbose=0)
    assert logits.shape == (8192, 500)
    _, accuracy = model.evaluate(dataset(x, y), verbose=0)
    assert accuracy == pytest.approx(np.mean(np.argmax(logits, axis=1) == y))
    assert accuracy > 0.4  # chance: 0.002


def test_training_touches_only_candidate_rows():
    x, y = prototype_data(300, 16, 64, seed=2)
    model = compile_for_classes(output_model(300, 16, num_candidates=8, candidates="per_example"),
                                keras.optimizers.SGD(0.1))
    model.build((None, 16))
    layer = model.layers[-1]
    before = layer.kernel.numpy().copy()
    model.fit(x[:4], y[:4], batch_size=4, epochs=1, verbose=0)
    changed = np.flatnonzero(np.any(layer.kernel.numpy() != before, axis=1))
    assert set(y[:4]) <= set(changed)
    assert len(changed) <= 4 * 8


def test_shared_mode_touches_only_labels_hashed_and_uniform_rows():
    x, y = prototype_data(3000, 16, 64, seed=2)
    model = compile_for_classes(output_model(3000, 16, num_candidates=8, num_uniform=20),
                                tf_wta.LazyAdam(0.01))
    model.build((None, 16))
    layer = model.layers[-1]
    assert layer.candidates == "shared"
    before = layer.kernel.numpy().copy()
    model.fit(x[:4], y[:4], batch_size=4, epochs=1, verbose=0)
    changed = set(np.flatnonzero(np.any(layer.kernel.numpy() != before, axis=1)))
    assert set(y[:4]) <= changed and len(changed) <= 4 + 4 * 8 + 20


def test_shared_candidate_set_positions_point_at_the_labels():
    labels = tf.constant([7, 3, 7, 9])
    sampled = tf.constant([3, -1, 5, 9, 11, 11, 2])
    ids, positions = tf_wta.layers.candidate_sets.shared_candidate_set(labels, sampled)
    ids = ids.numpy()
    assert sorted(ids) == [2, 3, 5, 7, 9, 11] and len(set(ids)) == len(ids)
    np.testing.assert_array_equal(ids[positions.numpy()], labels.numpy())


def test_uniform_negatives_per_example_are_masked_where_they_repeat_a_candidate():
    inputs = tf.constant([[1.0, 0.0], [0.0, 2.0]])
    kernel = tf.constant([[1.0, 1.0], [2.0, 0.0], [0.0, 3.0], [5.0, 5.0]])
    candidates = tf.constant([[2, 0], [1, -1]])
    logits, ids = tf_wta.layers.candidate_sets.uniform_logits_per_example(
        inputs, kernel, None, candidates, tf.constant([3, 0, 3, 1]), -1e9)
    np.testing.assert_array_equal(ids.numpy(), [3, 0, 1])
    np.testing.assert_allclose(logits.numpy(), [[5.0, -1e9, 2.0], [10.0, 2.0, -1e9]])


def test_per_example_mode_with_uniform_negatives_trains_their_rows():
    x, y = prototype_data(3000, 16, 64, seed=6)
    model = compile_for_classes(output_model(3000, 16, candidates="per_example",
                                             num_candidates=8, num_uniform=30),
                                tf_wta.LazyAdam(0.01))
    model.build((None, 16))
    layer = model.layers[-1]
    before = layer.kernel.numpy().copy()
    history = model.fit(x[:4], y[:4], batch_size=4, epochs=1, verbose=0)
    changed = set(np.flatnonzero(np.any(layer.kernel.numpy() != before, axis=1)))
    assert set(y[:4]) <= changed and 30 < len(changed) <= 4 * 8 + 30
    assert np.isfinite(history.history["loss"][0])


def test_shared_mode_learns_like_per_example_mode():
    x, y = prototype_data(2000, 32, 8192, noise=1.0, seed=4)
    accuracies = {}
    for candidates in ("shared", "per_example"):
        model = compile_for_classes(output_model(2000, 32, candidates=candidates,
                                                 rebuild_every=20), tf_wta.LazyAdam(0.01))
        model.fit(dataset(x, y), epochs=3, verbose=0)
        accuracies[candidates] = model.evaluate(dataset(x, y), verbose=0)[1]
    assert accuracies["shared"] > 0.5  # chance: 0.0005
    assert accuracies["shared"] > accuracies["per_example"] - 0.05


def test_labels_out_of_range_are_a_clear_error():
    model = compile_for_classes(output_model(50, 8))
    x = np.zeros((4, 8), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be < units=50"):
        model.fit(x, np.array([1, 2, 50, 3], np.int32), verbose=0)


def test_wta_model_without_a_wta_output_trains_like_keras_model():
    x, y = prototype_data(4, 8, 64, seed=3)

    def trained(model_class):
        keras.utils.set_random_seed(5)
        inputs = keras.Input((8,))
        model = model_class(inputs, keras.layers.Dense(4)(inputs))
        model.compile(keras.optimizers.SGD(0.1),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        history = model.fit(dataset(x, y, 16), epochs=2, verbose=0).history
        return history, model.get_weights()

    ours, ours_weights = trained(tf_wta.WTAModel)
    keras_history, keras_weights = trained(keras.Model)
    assert ours.keys() == keras_history.keys()
    np.testing.assert_allclose(ours["loss"], keras_history["loss"], rtol=1e-5)
    for mine, theirs in zip(ours_weights, keras_weights):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_output_layer_outside_a_wta_model_says_what_to_use():
    inputs = keras.Input((8,))
    model = keras.Model(inputs, tf_wta.WTADense(50, seed=0)(inputs))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="tf_wta.WTAModel"):
        model.fit(np.zeros((4, 8), np.float32), np.zeros(4, np.int32), verbose=0)


@pytest.mark.parametrize("candidates", ["shared", "per_example"])
def test_wta_sequential_trains_like_wta_model(candidates):
    x, y = prototype_data(300, 16, 512, seed=9)
    kwargs = dict(candidates=candidates, num_candidates=8, num_uniform=32, seed=0)

    def trained(build):
        keras.utils.set_random_seed(3)
        model = compile_for_classes(build(), tf_wta.LazyAdam(0.02))
        history = model.fit(dataset(x, y), epochs=2, verbose=0).history
        return history["loss"], model.layers[-1].kernel.numpy()

    def functional():
        inputs = keras.Input((16,))
        hidden = keras.layers.Dense(16)(inputs)
        return tf_wta.WTAModel(inputs, tf_wta.WTADense(300, **kwargs)(hidden))

    def sequential():
        return tf_wta.WTASequential([keras.Input((16,)), keras.layers.Dense(16),
                                     tf_wta.WTADense(300, **kwargs)])

    functional_loss, functional_kernel = trained(functional)
    sequential_loss, sequential_kernel = trained(sequential)
    assert sequential_loss[-1] < sequential_loss[0]
    np.testing.assert_allclose(sequential_loss, functional_loss, rtol=1e-4)
    np.testing.assert_allclose(sequential_kernel, functional_kernel, rtol=1e-4, atol=1e-6)


def test_rebuild_schedule_counts_optimizer_steps_not_calls():
    # One hidden WTADense called twice per step (two inputs): its index
    # must rebuild every 3 optimizer steps, not every 3 calls.
    x, y = prototype_data(10, 16, 7 * 8, seed=4)
    shared = tf_wta.WTADense(64, activation="relu", mode="hidden", num_candidates=8,
                             rebuild_every=3, seed=0)
    inputs = keras.Input((16,))
    both = keras.layers.Concatenate()([shared(inputs), shared(-inputs)])
    model = tf_wta.WTAModel(inputs, keras.layers.Dense(10)(both))
    model.compile(tf_wta.LazyAdam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(dataset(x, y, 8), epochs=1, verbose=0)  # 7 steps: rebuilds at 0, 3, 6
    assert int(model.optimizer.iterations) == 7
    assert int(shared.index.steps) == 7
    assert int(shared.index.built_at) == 6
    assert int(shared.index.next_rebuild) == 9


def test_lazy_adam_updates_only_selected_rows():
    x, y = prototype_data(400, 16, 64, seed=3)
    model = compile_for_classes(output_model(400, 16, num_candidates=8,
                                             candidates="per_example"),
                                tf_wta.LazyAdam(0.01))
    model.build((None, 16))
    layer = model.layers[-1]
    model.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)  # creates the slots
    before = layer.kernel.numpy().copy()
    model.fit(x[8:16], y[8:16], batch_size=8, epochs=1, verbose=0)
    changed = np.flatnonzero(np.any(layer.kernel.numpy() != before, axis=1))
    assert set(y[8:16]) <= set(changed) and len(changed) <= 8 * 8


def test_lazy_adam_matches_adam_on_the_rows_it_updates():
    variable = keras.Variable(np.ones((6, 3), np.float32))
    reference = keras.Variable(np.ones((6, 3), np.float32))
    lazy, dense = tf_wta.LazyAdam(0.1), keras.optimizers.Adam(0.1)
    values = tf.constant([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [1.0, 1.0, 1.0]])
    sparse = tf.IndexedSlices(values, tf.constant([4, 1, 4]), tf.constant([6, 3]))
    lazy.apply_gradients([(sparse, variable)])
    dense.apply_gradients([(tf.convert_to_tensor(sparse), reference)])
    np.testing.assert_allclose(variable.numpy(), reference.numpy(), rtol=1e-6)
    untouched = [0, 2, 3, 5]
    np.testing.assert_array_equal(variable.numpy()[untouched], 1.0)


@pytest.mark.parametrize("candidates", ["shared", "per_example"])
def test_kernel_regularizer_penalises_only_the_computed_rows(candidates):
    x, y = prototype_data(3000, 16, 64, seed=7)
    model = compile_for_classes(
        output_model(3000, 16, candidates=candidates, num_candidates=8,
                     kernel_regularizer=keras.regularizers.L2(0.1),
                     **({"num_uniform": 20} if candidates == "shared" else {})),
        tf_wta.LazyAdam(0.01))
    model.build((None, 16))
    layer = model.layers[-1]
    assert layer.losses == []  # no dense penalty on the whole kernel
    before = layer.kernel.numpy().copy()
    model.fit(x[:4], y[:4], batch_size=4, epochs=1, verbose=0)
    changed = np.flatnonzero(np.any(layer.kernel.numpy() != before, axis=1))
    assert len(changed) <= 4 + 4 * 8 + 20
    ids = tf.constant([3, -1, 5, 3])
    expected = 0.1 * np.sum(layer.kernel.numpy()[[3, 5]] ** 2)
    assert float(layer.row_penalty(ids)) == pytest.approx(expected, rel=1e-5)


def test_regularized_hidden_layer_adds_its_row_penalty_as_a_loss():
    layer = tf_wta.WTADense(64, mode="hidden", num_candidates=8, seed=0,
                            kernel_regularizer=keras.regularizers.L2(0.5))
    x = tf.random.normal([3, 16])
    layer(x, training=True)
    assert len(layer.losses) == 1 and float(layer.losses[0]) > 0
    layer(x, training=False)
    assert layer.losses == []


def test_top_k_rebuilds_an_index_that_training_without_hashing_left_behind():
    x, y = prototype_data(500, 16, 512, seed=8)
    model = compile_for_classes(output_model(500, 16, num_candidates=0, num_uniform=50),
                                tf_wta.LazyAdam(0.05))
    model.build((None, 16))
    layer = model.layers[-1]
    features = keras.Model(model.input, layer.input)
    layer.top_k(features(x[:4]), 1)  # builds the index from the initial kernel
    model.fit(dataset(x, y), epochs=2, verbose=0)
    assert int(layer.index.built_at) < int(layer.index.steps)
    layer.top_k(features(x[:4]), 1)
    assert int(layer.index.built_at) == int(layer.index.steps)


def dense_update_warnings(caught):
    return [str(w.message) for w in caught if "tf_wta.LazyAdam" in str(w.message)]


def large_output_model(units=10_000, input_dim=1000):
    inputs = keras.Input((input_dim,))
    return tf_wta.WTAModel(inputs, tf_wta.WTADense(units, seed=0, name="big")(inputs))


SLOW_OPTIMIZERS = ["adam", "adamw", "adagrad", "sgd"]


@pytest.mark.parametrize("optimizer, warns", [
    *[(name, True) for name in SLOW_OPTIMIZERS],
    (lambda: tf_wta.LazyAdam(), False), (lambda: tf_wta.SparseSGD(), False)])
def test_compile_warns_about_slow_sparse_updates_of_a_large_layer(optimizer, warns):
    import warnings

    model = large_output_model()
    optimizer = optimizer if isinstance(optimizer, str) else optimizer()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    messages = dense_update_warnings(caught)
    assert len(messages) == int(warns), messages
    if warns:
        assert "big" in messages[0] and "tf_wta.SparseSGD" in messages[0]
        assert caught[0].filename == __file__  # points at the compile call
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(np.zeros((2, 1000), np.float32), np.array([1, 2]), verbose=0)
    assert dense_update_warnings(caught) == []  # not a second time


@pytest.mark.parametrize("units, input_dim", [(9_999, 1000), (10_000, 999)])
def test_compile_does_not_warn_below_ten_million_weights(units, input_dim):
    import warnings

    model = large_output_model(units, input_dim)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert dense_update_warnings(caught) == []


def test_compile_sees_through_the_loss_scale_optimizer():
    import warnings

    model = large_output_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam()),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert len(dense_update_warnings(caught)) == 1
    assert "Adam updates" in dense_update_warnings(caught)[0]


def test_a_layer_built_after_compile_is_checked_once_when_training_starts():
    import warnings

    model = tf_wta.WTASequential([tf_wta.WTADense(10_000, seed=0, name="big")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert dense_update_warnings(caught) == []  # the layer's size is not known yet
    model.build((None, 1000))
    x, y = np.zeros((2, 1000), np.float32), np.array([1, 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, verbose=0)
        model.fit(x, y, verbose=0)
    assert len(dense_update_warnings(caught)) == 1, dense_update_warnings(caught)


def test_import_under_another_keras_backend_says_why(tmp_path):
    import os
    import subprocess
    import sys

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(tf_wta.__file__)))
    env = {**os.environ, "KERAS_BACKEND": "numpy", "PYTHONPATH": package_root}
    result = subprocess.run([sys.executable, "-c", "import tf_wta"], capture_output=True,
                            text=True, cwd=tmp_path, env=env)
    assert result.returncode != 0
    assert "need Keras' TensorFlow backend" in result.stderr
    assert "KERAS_BACKEND=tensorflow" in result.stderr
