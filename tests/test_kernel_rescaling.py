"""Kernel rescaling: the scaling property, weight mapping, errors, saving, schedule."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_wta
from tf_wta.kernel_rescaling_schedule import resize_images

RNG = np.random.default_rng(0)


def relative_error(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_nearest_rescaling_is_exact_on_block_averaged_images(padding):
    # Any image X (no smoothness needed): x = 2x2 block averages of X. The 3x3
    # kernel on x equals its nearest-resampled 6x6 kernel / 4 on X at stride 2,
    # up to float32 rounding (tolerance 1e-5 relative).
    images = RNG.normal(size=(3, 32, 32, 4)).astype(np.float32)
    small = tf.image.resize(images, (16, 16), method="area")
    kernel = RNG.normal(size=(3, 3, 4, 5)).astype(np.float32)
    big = tf_wta.resample_kernel(kernel, (6, 6))
    assert big.shape == (6, 6, 4, 5)
    expected = tf.nn.conv2d(small, kernel, 1, padding)
    got = tf.nn.conv2d(images, big, 2, padding)
    assert got.shape == expected.shape
    assert relative_error(got, expected) < 1e-5
    # Without the 1/(s*s) scaling of the values, the responses are 4x too large.
    assert relative_error(tf.nn.conv2d(images, big * 4, 2, padding), expected) > 2.5


def test_nearest_rescaling_is_exact_on_upsampled_images_depthwise():
    small = RNG.normal(size=(2, 12, 12, 3)).astype(np.float32)
    images = tf.image.resize(small, (36, 36), method="nearest")  # s = 3
    kernel = RNG.normal(size=(3, 3, 3, 2)).astype(np.float32)
    big = tf_wta.resample_kernel(kernel, (9, 9))
    expected = tf.nn.depthwise_conv2d(small, kernel, [1, 1, 1, 1], "SAME")
    got = tf.nn.depthwise_conv2d(images, big, [1, 3, 3, 1], "SAME")
    assert relative_error(got, expected) < 1e-5


@pytest.mark.parametrize("method", ["bilinear", "bicubic", "nearest"])
def test_smooth_kernels_on_bilinear_upsampled_smooth_images(method):
    # Smooth images (4x4 noise, bicubic to 16x16), bilinearly upsampled to 32x32:
    # the rescaled kernel at stride 2 gives the low-resolution response within
    # 10% relative L2 away from the border (measured: 4-6%); the error is the
    # interpolation error of the image and kernel resampling, which vanishes as
    # the images get smoother.
    small = tf.image.resize(RNG.normal(size=(4, 4, 4, 3)).astype(np.float32), (16, 16),
                            method="bicubic")
    images = tf.image.resize(small, (32, 32), method="bilinear")
    kernel = RNG.normal(size=(3, 3, 3, 5)).astype(np.float32)
    expected = tf.nn.conv2d(small, kernel, 1, "SAME")[:, 1:-1, 1:-1]
    got = tf.nn.conv2d(images, tf_wta.resample_kernel(kernel, (6, 6), method), 2,
                       "SAME")[:, 1:-1, 1:-1]
    assert relative_error(got, expected) < 0.10


def test_resampling_preserves_the_response_to_a_constant_image():
    kernel = RNG.normal(size=(3, 5, 2, 2)).astype(np.float32)
    for method in ("nearest", "bilinear"):
        big = tf_wta.resample_kernel(kernel, (6, 10), method)
        np.testing.assert_allclose(big.sum(axis=(0, 1)), kernel.sum(axis=(0, 1)), rtol=1e-5,
                                   atol=1e-5)


def stem_model(resolution, first, kernel, strides):
    """A first layer of type `first`, then the same layers at both resolutions."""
    inputs = keras.Input((resolution, resolution, 3))
    if first == "conv":
        x = keras.layers.Conv2D(8, kernel, strides=strides, padding="same")(inputs)
    elif first == "depthwise":
        x = keras.layers.DepthwiseConv2D(kernel, strides=strides, padding="same",
                                         depth_multiplier=2)(inputs)
        x = keras.layers.Conv2D(8, 1)(x)
    else:
        x = keras.layers.SeparableConv2D(8, kernel, strides=strides, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.SeparableConv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


def randomise(model):
    for layer in model.layers:
        for w in layer.weights:
            w.assign(RNG.normal(size=w.shape).astype(np.float32) * 0.3
                     + (1.0 if "variance" in w.path or "gamma" in w.path else 0.0))
            if "variance" in w.path:
                w.assign(np.abs(w.numpy()))


@pytest.mark.parametrize("first", ["conv", "depthwise", "separable"])
def test_rescaled_model_reproduces_the_low_resolution_model(first):
    # Layout (b): the first layer's kernel and stride scaled by 2, later layers
    # unchanged: the full model on X equals the low model on area(X) exactly.
    low = stem_model(16, first, 3, 1)
    full = stem_model(32, first, 6, 2)
    randomise(low)
    report = tf_wta.rescale_kernels(low, full)
    assert len(report) == 1 and report[0][2][:2] == (3, 3) and report[0][3][:2] == (6, 6)
    images = RNG.uniform(0, 255, size=(4, 32, 32, 3)).astype(np.float32)
    small = tf.image.resize(images, (16, 16), method="area")
    expected = low(small, training=False)
    assert relative_error(full(images, training=False), expected) < 1e-4
    # BatchNorm statistics were copied, not left at their initial values.
    bn_low = [l for l in low.layers if isinstance(l, keras.layers.BatchNormalization)][0]
    bn_full = [l for l in full.layers if isinstance(l, keras.layers.BatchNormalization)][0]
    np.testing.assert_array_equal(bn_full.moving_variance.numpy(),
                                  bn_low.moving_variance.numpy())


def test_every_kernel_rescaled_with_equal_strides():
    # Layout (a): same strides, every map and every kernel twice as large.
    def model(resolution, kernel):
        return keras.Sequential([
            keras.Input((resolution, resolution, 2)),
            keras.layers.Conv2D(4, kernel, padding="same", name="a"),
            keras.layers.DepthwiseConv2D(kernel, padding="same", name="b"),
            keras.layers.Conv2D(4, 1, name="c"),
            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, name="d")])
    low, full = model(8, 3), model(16, 6)
    report = tf_wta.rescale_kernels(low, full)
    assert [(r[0], r[3]) for r in report] == [("a", (6, 6, 2, 4)), ("b", (6, 6, 4, 1))]
    np.testing.assert_array_equal(full.get_layer("c").kernel.numpy(),
                                  low.get_layer("c").kernel.numpy())
    np.testing.assert_array_equal(full.get_layer("d").kernel.numpy(),
                                  low.get_layer("d").kernel.numpy())


def sequential(resolution, kernel, filters=8, flatten=False, layer=None):
    layers = [keras.Input((resolution, resolution, 1)),
              layer or keras.layers.Conv2D(filters, kernel, padding="same", name="stem"),
              keras.layers.Flatten() if flatten else keras.layers.GlobalMaxPooling2D(),
              keras.layers.Dense(3, name="head")]
    return keras.Sequential(layers)


@pytest.mark.parametrize("full, match", [
    (lambda: sequential(32, 6, filters=9), "stem"),
    (lambda: sequential(32, 6, layer=keras.layers.SeparableConv2D(8, 6, name="sep")), "sep"),
    (lambda: keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(8, 6, name="c"),
                               keras.layers.GlobalMaxPooling2D()]), "head"),
])
def test_layers_that_cannot_be_mapped_are_named(full, match):
    with pytest.raises(ValueError, match=match):
        tf_wta.rescale_kernels(sequential(16, 3), full())


def test_dense_after_flatten_is_refused():
    with pytest.raises(ValueError, match="'head'.*global pooling"):
        tf_wta.rescale_kernels(sequential(16, 3, flatten=True), sequential(32, 6, flatten=True))


def tiny_builder(resolution):
    k = 3 * resolution // 8
    model = keras.Sequential([
        keras.Input((resolution, resolution, 1)),
        keras.layers.Conv2D(4, k, padding="same", activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(2),
        keras.layers.SeparableConv2D(8, k, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])
    return model


def tiny_data(n=48):
    images = RNG.uniform(0, 1, size=(n, 16, 16, 1)).astype(np.float32)
    labels = (images[:, :8].mean(axis=(1, 2, 3)) > 0.5).astype(np.int32)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)


def test_fit_with_kernel_rescaling_then_save_and_load(tmp_path):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.5)
    result = tf_wta.fit_with_kernel_rescaling(
        tiny_builder, tiny_data(), 8, 16, epochs=3, low_epochs=2,
        compile_kwargs=dict(optimizer=keras.optimizers.Adam(schedule), metrics=["accuracy"],
                            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
        validation_data=tiny_data(16), verbose=0)
    assert result.low_model.input_shape == (None, 8, 8, 1)
    assert result.model.input_shape == (None, 16, 16, 1)
    assert [r[1] for r in result.rescaled] == ["kernel", "depthwise_kernel"]
    assert [r[3][:2] for r in result.rescaled] == [(6, 6), (6, 6)]
    history = result.history()
    assert len(history["loss"]) == 3 and len(history["val_accuracy"]) == 3
    # 3 batches per epoch: the learning-rate schedule continued from step 6.
    assert int(result.model.optimizer.iterations) == 9
    path = os.path.join(tmp_path, "rescaled.keras")
    result.model.save(path)
    loaded = keras.models.load_model(path)
    images = next(iter(tiny_data()))[0]
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               result.model.predict(images, verbose=0), rtol=1e-5, atol=1e-5)
    loaded.fit(tiny_data(), epochs=1, verbose=0)  # trains further after loading


def test_resize_images_and_bad_low_epochs():
    images, labels = next(iter(resize_images(tiny_data(), 8)))
    assert images.shape == (16, 8, 8, 1) and images.dtype == tf.float32
    with pytest.raises(ValueError, match="low_epochs"):
        tf_wta.fit_with_kernel_rescaling(tiny_builder, tiny_data(), 8, 16, epochs=2,
                                         low_epochs=3)


@pytest.mark.slow
def test_example_runs_and_saves(tmp_path, capsys):
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "examples"))
    import kernel_rescaling

    result, points = kernel_rescaling.main([
        "--classes", "3", "--train-per-class", "8", "--test-per-class", "4", "--epochs", "2",
        "--low-epochs", "1", "--width", "4", "--output", str(tmp_path)])
    assert [p[2] for p in points] == [16, 32]
    assert len(result.rescaled) == 3
    assert os.path.exists(os.path.join(tmp_path, "rescaled_cnn.keras"))
    assert "reloaded test accuracy" in capsys.readouterr().out
