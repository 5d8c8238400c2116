"""WTADense models saved as .keras files and exported SavedModels, reloaded in
fresh processes; and training under MirroredStrategy."""
import numpy as np
import pytest

from model_helpers import (assert_export_serves_in_fresh_process, compile_for_classes, dataset,
                           output_model, prototype_data, run_python)
import keras
import tf_wta


def trained_output_model():
    x, y = prototype_data(200, 16, 512, seed=4)
    model = compile_for_classes(output_model(200, 16, num_candidates=16, rebuild_every=5))
    model.fit(dataset(x, y), epochs=1, verbose=0)
    return model, x


def test_keras_file_reloads_in_a_fresh_process(tmp_path):
    model, x = trained_output_model()
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x[:32])
    np.save(tmp_path / "expected.npy", model.predict(x[:32], verbose=0))
    layer = model.layers[-1]
    np.save(tmp_path / "index.npy", layer.index.sorted_units.numpy())
    run_python(
        "import keras, numpy as np, tf_wta\n"
        "model = keras.saving.load_model('model.keras')\n"
        "assert type(model).__name__ == 'WTAModel', type(model)\n"
        "layer = model.layers[-1]\n"
        "np.testing.assert_array_equal(layer.index.sorted_units.numpy(), np.load('index.npy'))\n"
        "out = model.predict(np.load('x.npy'), verbose=0)\n"
        "np.testing.assert_array_equal(out, np.load('expected.npy'))\n"
        "x = np.load('x.npy'); y = np.argmax(out, axis=1)\n"
        "model.fit(x, y, epochs=1, verbose=0)  # training resumes after loading\n",
        cwd=tmp_path)


def test_exported_output_model_serves_with_stock_ops(tmp_path):
    model, x = trained_output_model()
    # The exact inference path is a plain matmul: no tf_wta import needed.
    assert_export_serves_in_fresh_process(model, x[:32], tmp_path, load_ops=False,
                                          tolerance=1e-6)


def test_exported_hidden_model_reloads_after_load_ops(tmp_path):
    x, y = prototype_data(10, 16, 256, seed=5)
    model = keras.Sequential([keras.Input((16,)),
                              tf_wta.WTADense(64, activation="relu", mode="hidden",
                                              num_candidates=16, seed=0),
                              keras.layers.Dense(10)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0)
    assert_export_serves_in_fresh_process(model, x[:32], tmp_path, load_ops=True,
                                          tolerance=1e-6)


@pytest.mark.parametrize("optimizer", ["keras.optimizers.SGD(0.5)", "tf_wta.SparseSGD(0.5)",
                                       "tf_wta.LazyAdam(0.05)"])
def test_trains_under_mirrored_strategy_on_two_cpus(tmp_path, optimizer):
    run_python(
        "import sys; sys.path.insert(0, %r)\n"
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(\n"
        "    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "import keras, numpy as np, tf_wta\n"
        "from model_helpers import compile_for_classes, dataset, output_model, prototype_data\n"
        "strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])\n"
        "x, y = prototype_data(300, 16, 1024, seed=6)\n"
        "with strategy.scope():\n"
        "    model = compile_for_classes(output_model(300, 16, num_candidates=16,\n"
        "                                             rebuild_every=4), %s)\n"
        "history = model.fit(dataset(x, y), epochs=3, verbose=0)\n"
        "assert history.history['loss'][-1] < history.history['loss'][0], history.history\n"
        "layer = model.layers[-1]\n"
        "assert int(layer.index.steps.numpy()) == 3 * 16, layer.index.steps.numpy()\n"
        "print('ok')\n" % (str(__import__('pathlib').Path(__file__).parent), optimizer),
        cwd=tmp_path)


@pytest.mark.parametrize("model_class", ["keras.Model", "tf_wta.WTAModel"])
def test_hidden_layer_trains_under_mirrored_strategy_on_two_cpus(tmp_path, model_class):
    # Keras builds the model symbolically outside the replicas first, where
    # the index's replica-local tables cannot be assigned inside tf.cond.
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
        "    inputs = keras.Input((32,))\n"
        "    hidden = tf_wta.WTADense(128, activation='relu', mode='hidden', num_candidates=16,\n"
        "                             rebuild_every=4, seed=0)\n"
        "    model = %s(inputs, keras.layers.Dense(2)(hidden(inputs)))\n"
        "    model.compile(tf_wta.LazyAdam(0.01),\n"
        "                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
        "loss = model.fit(x, y, batch_size=64, epochs=3, verbose=0).history['loss']\n"
        "assert loss[-1] < 0.7 * loss[0], loss\n"
        "assert int(hidden.index.steps.numpy()) == 3 * 8, hidden.index.steps.numpy()\n"
        "assert model.predict(x[:8], verbose=0).shape == (8, 2)\n" % model_class,
        cwd=tmp_path)


def test_exported_top_k_serves_in_a_fresh_process(tmp_path):
    x, y = prototype_data(300, 16, 512, seed=11)
    model = compile_for_classes(output_model(300, 16), tf_wta.LazyAdam(0.02))
    model.fit(dataset(x, y), epochs=2, verbose=0)
    tf_wta.export_top_k(model, str(tmp_path / "top_k"), k=5, num_candidates=40)
    features = keras.Model(model.inputs, model.layers[-1].input)
    scores, ids = model.layers[-1].top_k(features(x[:32]), 5, num_candidates=40)
    np.save(tmp_path / "x.npy", x[:32])
    np.save(tmp_path / "ids.npy", ids.numpy())
    np.save(tmp_path / "scores.npy", scores.numpy())
    run_python(
        "import numpy as np, tensorflow as tf, tf_wta\n"
        "tf_wta.load_ops()\n"
        "served = tf.saved_model.load('top_k')\n"
        "out = served.signatures['serving_default'](tf.constant(np.load('x.npy')))\n"
        "np.testing.assert_array_equal(out['ids'].numpy(), np.load('ids.npy'))\n"
        "np.testing.assert_allclose(out['scores'].numpy(), np.load('scores.npy'), rtol=1e-5)\n",
        cwd=tmp_path)
    # The served scores are the exact logits of the returned classes.
    exact = model.predict(x[:32], verbose=0)
    found = ids.numpy() >= 0
    assert found.all(axis=1).mean() > 0.9
    np.testing.assert_allclose(scores.numpy()[found],
                               np.take_along_axis(exact, np.maximum(ids.numpy(), 0), 1)[found],
                               rtol=1e-4, atol=1e-5)


def test_export_top_k_needs_a_wta_output():
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    with pytest.raises(ValueError, match="WTADense\\(mode='output'\\), got Dense"):
        tf_wta.export_top_k(model, "unused", k=1)

