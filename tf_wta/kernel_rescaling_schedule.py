"""The one-call kernel-rescaling schedule: train at low resolution, rescale
the kernels (`tf_wta.kernel_rescaling`), continue at full resolution."""
import keras
import tensorflow as tf

from tf_wta.kernel_rescaling import rescale_kernels


class RescaledTraining:
    """What `fit_with_kernel_rescaling` returns.

    Attributes:
      model: the full-resolution model, trained (a plain compiled Keras model).
      low_model: the low-resolution model it was initialised from.
      low_history, full_history: the `keras.callbacks.History` of each phase
        (the full phase's epochs are numbered after the low phase's).
      rescaled: `rescale_kernels`'s report of the resampled kernels.
    """

    def __init__(self, model, low_model, low_history, full_history, rescaled):
        self.model, self.low_model = model, low_model
        self.low_history, self.full_history = low_history, full_history
        self.rescaled = rescaled

    def history(self):
        """Both phases' metrics, dict name -> list of per-epoch values."""
        merged = {}
        for history in (self.low_history, self.full_history):
            for name, values in (history.history if history else {}).items():
                merged.setdefault(name, []).extend(values)
        return merged


def resize_images(dataset, resolution, method="area"):
    """Maps a dataset of (images [..., H, W, C], ...) tuples to images of
    [..., resolution, resolution, C] float32 (other elements unchanged).
    "area" (the default) averages s x s blocks for an integer factor s, which
    makes the default "nearest" kernel rescaling exact at stride s."""
    size = (int(resolution), int(resolution))

    def resize(images, *rest):
        images = tf.image.resize(tf.cast(images, tf.float32), size, method=method)
        return (images, *rest)
    return dataset.map(resize, num_parallel_calls=tf.data.AUTOTUNE)


def _data_at(data, resolution, resize=True):
    """`data(resolution)` for a function; a dataset resized (or as it is)."""
    if data is None:
        return None
    if callable(data) and not isinstance(data, tf.data.Dataset):
        return data(resolution)
    return resize_images(data, resolution) if resize else data


def _compiled(model, compile_kwargs, first):
    if getattr(model, "optimizer", None) is not None and getattr(model, "compiled", False):
        return model
    if compile_kwargs is None:
        raise ValueError("build_model returned an uncompiled model: pass compile_kwargs")
    kwargs = dict(compile_kwargs)
    optimizer = kwargs.get("optimizer")
    if isinstance(optimizer, keras.optimizers.Optimizer) and not first:
        kwargs["optimizer"] = optimizer.__class__.from_config(optimizer.get_config())
    model.compile(**kwargs)
    return model


def fit_with_kernel_rescaling(build_model, data, low_resolution, full_resolution, epochs,
                              low_epochs=None, low_fraction=0.5, compile_kwargs=None,
                              validation_data=None, method="nearest", callbacks=None,
                              verbose="auto", **fit_kwargs):
    """Trains at low resolution, rescales the kernels, refines at full resolution.

    Runs `low.fit` for `low_epochs` epochs on images resized to
    `low_resolution`, builds `build_model(full_resolution)`, copies the weights
    with `rescale_kernels(low, full, method)`, carries the optimizer's iteration
    count over (learning-rate schedules continue; moment estimates restart) and
    runs `full.fit(..., initial_epoch=low_epochs, epochs=epochs)`: plain
    `model.fit` underneath, progress bars and callbacks as usual.

    Args:
      build_model: function resolution (int) -> Keras model for
        [resolution, resolution, C] inputs, compiled or not; kernels
        proportional to the resolution (e.g. `3 * resolution // 16`), or a
        Keras Applications constructor with weights=None (equal kernel sizes,
        weights copied as they are: progressive resizing).
      data: a tf.data.Dataset of batched (images [B, H, W, C] at full
        resolution, any dtype, labels[, sample weights]) (resized to
        `low_resolution` with `resize_images` for the first phase), or a
        function resolution -> such a dataset.
      low_resolution, full_resolution: ints, the image sizes of the phases.
      epochs: total epochs of both phases.
      low_epochs: epochs at low resolution (default round(low_fraction * epochs)).
      low_fraction: used when low_epochs is None.
      compile_kwargs: `model.compile` arguments for uncompiled models (an
        Optimizer instance is cloned from its config for the second model).
      validation_data: like `data`, or None.
      method: kernel resampling method (see `resample_kernel`).
      callbacks, verbose, **fit_kwargs: passed to both `fit` calls.
    Returns:
      RescaledTraining (`.model` is the trained full-resolution model).
    """
    if low_epochs is None:
        low_epochs = int(round(low_fraction * epochs))
    if not 0 <= low_epochs <= epochs:
        raise ValueError(f"low_epochs must be in [0, epochs={epochs}], got {low_epochs}")
    low = _compiled(build_model(low_resolution), compile_kwargs, first=True)
    low_history = None
    if low_epochs:
        low_history = low.fit(_data_at(data, low_resolution), epochs=low_epochs,
                              validation_data=_data_at(validation_data, low_resolution),
                              callbacks=callbacks, verbose=verbose, **fit_kwargs)
    full = _compiled(build_model(full_resolution), compile_kwargs, first=False)
    rescaled = rescale_kernels(low, full, method)
    if low_epochs and getattr(low.optimizer, "iterations", None) is not None:
        full.optimizer.build(full.trainable_variables)
        full.optimizer.iterations.assign(low.optimizer.iterations)
    full_history = None
    if epochs > low_epochs:
        full_history = full.fit(_data_at(data, full_resolution, resize=False), epochs=epochs,
                                initial_epoch=low_epochs,
                                validation_data=_data_at(validation_data, full_resolution,
                                                         resize=False),
                                callbacks=callbacks, verbose=verbose, **fit_kwargs)
    return RescaledTraining(full, low, low_history, full_history, rescaled)
