"""Kernel rescaling (de Gusmao et al. 2016): train a CNN at low resolution with
proportionally smaller kernels, then rescale its kernels to full size.

The spatial scaling property of convolution: if an image is upsampled by `s`
per axis, a kernel resampled to `s` times its size per axis and divided by
`s * s` (the ratio of kernel areas) gives, at the upsampled positions, the
response the small kernel gave on the small image.  So a network trained at low
resolution becomes, after `rescale_kernels`, a good initialisation of its
full-resolution twin, which is then refined at full resolution.

    low = build(16)                       # 16x16 inputs, 3x3 kernels
    low.fit(small_images, labels, ...)
    full = build(32)                      # 32x32 inputs, 6x6 kernels
    rescale_kernels(low, full)            # copy, resampling the kernels
    full.fit(images, labels, ...)

`fit_with_kernel_rescaling` does all of this in one call.
"""
import keras
import numpy as np
import tensorflow as tf

# Layers whose first weight is a spatial kernel [kh, kw, ...] to be resampled.
_SPATIAL_KERNELS = {
    "Conv2D": ("kernel",),
    "DepthwiseConv2D": ("kernel",),
    "SeparableConv2D": ("depthwise_kernel",),
}
RESAMPLE_METHODS = ("bilinear", "nearest", "bicubic", "area", "lanczos3")


def resample_kernel(kernel, size, method="nearest"):
    """Resamples a convolution kernel spatially and rescales its values.

    Args:
      kernel: float array [kh, kw, ...] (Conv2D [kh, kw, in, out],
        DepthwiseConv2D [kh, kw, in, multiplier]).
      size: (KH, KW), the new spatial size.
      method: a `tf.image.resize` method. "nearest" (the default) is the
        adjoint of block averaging: for integer factors s = KH/kh = KW/kw, the
        resampled kernel at stride s on an image X reproduces exactly the small
        kernel's response on the block-averaged image (`tf.image.resize(X,
        method="area")`) and on the nearest-neighbour-upsampled image.
        "bilinear"/"bicubic" give smoother kernels whose responses on smooth
        upsampled images agree within a few percent.
    Returns:
      float32 numpy array [KH, KW, ...], divided by (KH * KW) / (kh * kw) so
      that the response to an image upsampled by KH/kh x KW/kw is preserved
      (for upsampling by an integer factor with "bilinear" or "nearest", the
      sum of each kernel slice, hence the response to a constant image, is
      preserved exactly).
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    kh, kw = kernel.shape[:2]
    size = (int(size[0]), int(size[1]))
    if size == (kh, kw):
        return kernel.copy()
    if method not in RESAMPLE_METHODS:
        raise ValueError(f"method must be one of {RESAMPLE_METHODS}, got {method!r}")
    rest = kernel.shape[2:]
    flat = kernel.reshape(kh, kw, -1)
    resized = tf.image.resize(flat, size, method=method).numpy()
    resized = resized.reshape(size + rest)
    return (resized * (kh * kw) / (size[0] * size[1])).astype(np.float32)


def _weighted_layers(model):
    """Layers with weights, in order, nested models flattened."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layers.extend(_weighted_layers(layer))
        elif layer.weights:
            layers.append(layer)
    return layers


def _check_pair(low, full):
    if type(low) is not type(full):
        raise ValueError(f"cannot map layer {low.name!r} ({type(low).__name__}) onto layer "
                         f"{full.name!r} ({type(full).__name__}): different layer types")
    if len(low.weights) != len(full.weights):
        raise ValueError(f"cannot map layer {low.name!r} onto {full.name!r}: "
                         f"{len(low.weights)} weights against {len(full.weights)}")


def _weight_name(variable):
    return variable.path.rsplit("/", 1)[-1]


def rescale_layer(low, full, method="nearest"):
    """Copies one layer's weights from `low` into `full`, resampling kernels.

    Args:
      low: a built Keras layer (trained at low resolution).
      full: a built layer of the same type in the full-resolution twin.
      method: resampling method for spatial kernels (see `resample_kernel`).
    Returns:
      list of (weight name, low shape, full shape) of resampled kernels.
    Raises:
      ValueError naming the layers: different types or weight counts, a
        non-spatial dimension that differs (channels, units, multiplier), or a
        kernel shape that differs in a layer that has no spatial kernel.
    """
    _check_pair(low, full)
    spatial = _SPATIAL_KERNELS.get(type(low).__name__, ())
    resampled, values = [], []
    for wl, wf in zip(low.weights, full.weights):
        name = _weight_name(wl)
        value = keras.ops.convert_to_numpy(wl)
        if name in spatial:
            if tuple(wl.shape[2:]) != tuple(wf.shape[2:]):
                raise ValueError(
                    f"cannot map layer {low.name!r} onto {full.name!r}: weight {name!r} has "
                    f"shape {tuple(wl.shape)} against {tuple(wf.shape)}; only the spatial "
                    "dimensions (the first two) may differ")
            if tuple(wl.shape) != tuple(wf.shape):
                resampled.append((name, tuple(wl.shape), tuple(wf.shape)))
            value = resample_kernel(value, wf.shape[:2], method)
        elif tuple(wl.shape) != tuple(wf.shape):
            raise ValueError(
                f"cannot map layer {low.name!r} onto {full.name!r}: weight {name!r} has shape "
                f"{tuple(wl.shape)} against {tuple(wf.shape)} (only the spatial dimensions of "
                "Conv2D, DepthwiseConv2D and SeparableConv2D kernels can be rescaled; e.g. a "
                "Dense layer after Flatten sees a larger input at full resolution: use global "
                "pooling)")
        values.append(value)
    for wf, value in zip(full.weights, values):
        wf.assign(value)
    return resampled


def rescale_kernels(low_model, full_model, method="nearest", verbose=False):
    """Copies every weight of a low-resolution model into its full-resolution twin.

    The two models must have the same layers with weights, in the same order
    (nested models are flattened), with the same types and channel counts.
    Conv2D, DepthwiseConv2D and SeparableConv2D (depthwise) kernels may differ
    in their spatial size: they are resampled with `resample_kernel` (values
    divided by the ratio of kernel areas, so responses on an upsampled image are
    preserved).  All other weights (biases, pointwise kernels, Dense heads after
    global pooling, BatchNormalization gamma/beta/moving mean/moving variance,
    and weights of any other layer type) are copied unchanged and must have
    equal shapes.  Layers without weights (pooling, activations, resizing) are
    not compared: strides, padding and pool sizes of the twin are the caller's
    choice.  Two layouts are natural: (a) the same strides everywhere, so every
    feature map is `s` times larger and every kernel `s` times larger,
    followed by global pooling; (b) the first layers' strides multiplied by
    `s`, so later feature maps and kernels have the same size (copied as is).

    Args:
      low_model: a built Keras model (trained at low resolution).
      full_model: a built Keras model, its full-resolution twin; modified in
        place.
      method: spatial resampling of kernels, a `tf.image.resize` method.
      verbose: print one line per resampled kernel.
    Returns:
      list of (layer name, weight name, low shape, full shape), the kernels that
      were resampled (kernels of equal size are copied and not listed).
    Raises:
      ValueError naming the layer(s) that cannot be mapped.
    """
    low_layers, full_layers = _weighted_layers(low_model), _weighted_layers(full_model)
    for low, full in zip(low_layers, full_layers):
        _check_pair(low, full)
    if len(low_layers) != len(full_layers):
        extra = (low_layers if len(low_layers) > len(full_layers) else full_layers)[
            min(len(low_layers), len(full_layers))]
        raise ValueError(f"the models have {len(low_layers)} and {len(full_layers)} layers with "
                         f"weights; the first unmatched one is {extra.name!r}")
    report = []
    for low, full in zip(low_layers, full_layers):
        for name, low_shape, full_shape in rescale_layer(low, full, method):
            report.append((full.name, name, low_shape, full_shape))
            if verbose:
                print(f"rescaled {full.name}/{name}: {low_shape} -> {full_shape}")
    return report


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
