"""The warning that a large WTADense is about to be trained with one of
Keras' optimizers that handle its sparse gradients slowly."""
import warnings

import keras

# Adam, AdamW and Adagrad update every row of a variable (and of its slots)
# on a sparse gradient; SGD's sparse scatter switches the variable to
# copy-on-read, so every later full read of the kernel copies all of it.
SLOW_ON_SPARSE_GRADIENTS = (keras.optimizers.Adam, keras.optimizers.AdamW,
                            keras.optimizers.Adagrad, keras.optimizers.SGD)
LARGE_KERNEL = 10_000_000  # weights (units x input dim); below it a dense update costs little


def is_slow_on_sparse_gradients(optimizer):
    """Whether `optimizer` (possibly inside Keras' `LossScaleOptimizer`) is one
    of Keras' optimizers above rather than `tf_wta.LazyAdam` /
    `tf_wta.SparseSGD`, which subclass them."""
    from tf_wta.optimizers import LazyAdam, SparseSGD

    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    return (isinstance(optimizer, SLOW_ON_SPARSE_GRADIENTS)
            and not isinstance(optimizer, (LazyAdam, SparseSGD)))


def is_large(layer):
    """Whether a built WTADense has `LARGE_KERNEL` or more weights: its
    `units` times its input dimension (the kernel is `[units, D]`, or
    blocks of its rows in `ShardedWTADense`)."""
    kernels = [weight for weight in layer.trainable_weights if len(weight.shape) == 2]
    return sum(int(kernel.shape[0]) * int(kernel.shape[1]) for kernel in kernels) >= LARGE_KERNEL


def warn_about_dense_updates(optimizer, layers, stacklevel):
    """Warns (a `UserWarning`, at `stacklevel` above this function's caller)
    when `optimizer` is slow on sparse gradients and any of `layers`, built
    `WTADense` layers, is large; says which optimizer to use instead."""
    large = [layer.name for layer in layers if is_large(layer)]
    if not large or not is_slow_on_sparse_gradients(optimizer):
        return
    name = type(getattr(optimizer, "inner_optimizer", optimizer)).__name__
    warnings.warn(
        f"{name} updates every row of {', '.join(large)} on each step (or, for SGD, makes "
        f"each full read of the kernel a copy): training will be as slow as a dense layer. "
        f"Compile with tf_wta.LazyAdam, tf_wta.SparseSGD or tf_wta.SparseAdagrad, which update "
        f"only the rows a step computed.",
        stacklevel=stacklevel + 1)
