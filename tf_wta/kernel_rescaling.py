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

`tf_wta.fit_with_kernel_rescaling` (kernel_rescaling_schedule.py) does all of
this in one call.
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
