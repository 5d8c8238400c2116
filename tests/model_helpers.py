"""Small synthetic many-class problems and models shared by the layer tests."""
import keras
import numpy as np
import tensorflow as tf

import tf_wta


def prototype_data(num_classes, dim, num_examples, noise=0.5, seed=0, sample_seed=None):
    """Examples drawn around random unit-norm class prototypes.

    `seed` fixes the prototypes, `sample_seed` (default: seed) the examples,
    so a test split shares the classes of its training split.
    Returns:
      (x float32 [num_examples, dim], y int32 [num_examples]).
    """
    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((num_classes, dim))
    prototypes /= np.linalg.norm(prototypes, axis=1, keepdims=True)
    if sample_seed is not None:
        rng = np.random.default_rng([seed, sample_seed])
    y = rng.integers(0, num_classes, num_examples).astype(np.int32)
    x = prototypes[y] + noise * rng.standard_normal((num_examples, dim)) / np.sqrt(dim)
    return x.astype(np.float32), y


def output_model(num_classes, dim, **layer_kwargs):
    """A WTAModel: a linear Dense layer, then a WTADense output layer."""
    inputs = keras.Input((dim,))
    hidden = keras.layers.Dense(dim)(inputs)
    outputs = tf_wta.WTADense(num_classes, **{"seed": 0, **layer_kwargs})(hidden)
    return tf_wta.WTAModel(inputs, outputs)


def compile_for_classes(model, optimizer="sgd"):
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def dataset(x, y, batch_size=64):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def run_python(code, cwd, args=()):
    """Runs `code` (with `sys.argv[1:]` = `args`) in a fresh Python process
    that imports the tf_wta under test.

    Returns its stdout; fails the test with its stderr if it exits non-zero.
    """
    import os
    import subprocess
    import sys

    package_parent = os.path.dirname(os.path.dirname(tf_wta.__file__))
    env = {**os.environ, "PYTHONPATH": package_parent, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def assert_export_serves_in_fresh_process(model, x, tmp_path, load_ops, tolerance):
    """Exports `model` as a SavedModel and checks that a fresh process which
    imports only TensorFlow (and, with `load_ops`, registers tf_wta's ops)
    serves `x` as `model.predict` does, to rtol = atol = `tolerance`."""
    model.export(str(tmp_path / "exported"), verbose=False)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    run_python(
        "import numpy as np, tensorflow as tf\n"
        + ("import tf_wta\ntf_wta.load_ops()  # registers the ops the graph holds\n"
           if load_ops else "")
        + "served = tf.saved_model.load('exported')\n"
        "out = served.serve(tf.constant(np.load('x.npy'))).numpy()\n"
        f"np.testing.assert_allclose(out, np.load('expected.npy'), rtol={tolerance}, "
        f"atol={tolerance})\n",
        cwd=tmp_path)
