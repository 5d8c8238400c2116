"""Kernel rescaling: train a CNN on 16x16 glyphs with 3x3 kernels, rescale its
kernels to 6x6 and refine it on the 32x32 glyphs (de Gusmao et al. 2016).

    python examples/kernel_rescaling.py                      # ~3 min on 2 cores
    python examples/kernel_rescaling.py --epochs 8 --low-epochs 5 --classes 40

The glyphs are rendered offline by the `glyphs` dataset's renderer
(glyph_render.py): `--classes` character classes, each image randomly shifted,
rotated, scaled and noised. The model is saved as a .keras file and reloaded.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def glyph_arrays(num_classes, per_class, seed, image_size=32):
    """Rendered glyphs: (images uint8 [n, S, S, 1], labels int32 [n]), shuffled."""
    import numpy as np

    from glyph_render import GlyphRenderer

    renderer = GlyphRenderer(num_classes, image_size)
    images, labels = [], []
    for label in range(num_classes):
        rng = np.random.default_rng([seed, label])
        images += [renderer.render(label, rng) for _ in range(per_class)]
        labels += [label] * per_class
    order = np.random.default_rng(seed).permutation(len(labels))
    return np.stack(images)[order], np.asarray(labels, np.int32)[order]


def dataset(images, labels, batch_size, shuffle=False):
    """Batched tf.data.Dataset of (float32 images / 255, labels)."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images.astype("float32") / 255.0, labels))
    if shuffle:
        data = data.shuffle(len(labels), seed=0, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(2)


def build_cnn(resolution, num_classes, width=16, full_resolution=32):
    """Three conv blocks with kernels proportional to the resolution (6x6 at 32,
    3x3 at 16), the same strides at every resolution, global average pooling and a
    Dense head, so that `tf_wta.rescale_kernels` maps every layer."""
    import keras

    kernel = max(1, round(6 * resolution / full_resolution))
    inputs = keras.Input((resolution, resolution, 1))
    x = inputs
    for i, filters in enumerate((width, 2 * width, 4 * width)):
        x = keras.layers.Conv2D(filters, kernel, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        if i < 2:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x), name=f"cnn{resolution}")


def compile_kwargs(total_steps, learning_rate=3e-3):
    """Adam with a cosine decay over both phases (the iteration count carries over)."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    return dict(optimizer=keras.optimizers.Adam(schedule), metrics=["accuracy"],
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))


class TrainingClock:
    """Keras callback: training seconds per epoch (evaluation excluded) and the
    test accuracy after each epoch at the model's own resolution.

    `test_data(resolution)` -> dataset; `points` holds (cumulative training
    seconds, test accuracy, resolution) per epoch, across several `fit` calls.
    """

    def __init__(self, test_data):
        import keras

        clock = self
        self.points, self.seconds = [], 0.0

        class _Callback(keras.callbacks.Callback):
            def on_epoch_begin(cb, epoch, logs=None):
                clock.started = time.perf_counter()

            def on_epoch_end(cb, epoch, logs=None):
                clock.seconds += time.perf_counter() - clock.started
                resolution = cb.model.input_shape[1]
                _, accuracy = cb.model.evaluate(test_data(resolution), verbose=0)
                clock.points.append((clock.seconds, float(accuracy), resolution))

        self.callback = _Callback()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=40)
    parser.add_argument("--train-per-class", type=int, default=150)
    parser.add_argument("--test-per-class", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--low-epochs", type=int, default=5)
    parser.add_argument("--low-resolution", type=int, default=16)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", default="kernel_rescaling_output")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import tf_wta
    from tf_wta.kernel_rescaling_schedule import resize_images

    keras.utils.set_random_seed(0)
    train = glyph_arrays(args.classes, args.train_per_class, seed=0)
    test = glyph_arrays(args.classes, args.test_per_class, seed=1)
    train_data = dataset(*train, args.batch_size, shuffle=True)
    test_full = dataset(*test, 256)
    test_data = {32: test_full, args.low_resolution: resize_images(test_full, args.low_resolution)}
    clock = TrainingClock(test_data.__getitem__)
    steps = args.epochs * int(np.ceil(len(train[1]) / args.batch_size))
    result = tf_wta.fit_with_kernel_rescaling(
        lambda r: build_cnn(r, args.classes, args.width), train_data, args.low_resolution, 32,
        epochs=args.epochs, low_epochs=args.low_epochs, compile_kwargs=compile_kwargs(steps),
        callbacks=[clock.callback], verbose=2)
    for layer, weight, low_shape, full_shape in result.rescaled:
        print(f"rescaled {layer}/{weight}: {low_shape} -> {full_shape}")
    for seconds, accuracy, resolution in clock.points:
        print(f"{resolution}x{resolution}  {seconds:7.1f} s  test accuracy {accuracy:.4f}")
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "rescaled_cnn.keras")
    result.model.save(path)
    _, accuracy = keras.models.load_model(path).evaluate(test_full, verbose=0)
    print(f"saved {path}; reloaded test accuracy {accuracy:.4f}")
    return result, clock.points


if __name__ == "__main__":
    main()
