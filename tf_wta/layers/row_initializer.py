"""Initializers for a kernel stored with one row per unit, `[units, D]`."""
import keras


def row_per_unit(initializer):
    """An initializer for a [units, D] kernel that draws what `initializer`
    draws for Dense's [D, units] kernel. Variance-scaling initializers get
    their fan mode swapped (no transposed copy: a 1,000,000-unit kernel is
    5 GB); the others do not depend on the orientation."""
    if not isinstance(initializer, keras.initializers.VarianceScaling):
        return initializer
    swapped = {"fan_in": "fan_out", "fan_out": "fan_in"}.get(initializer.mode, initializer.mode)
    return keras.initializers.VarianceScaling(scale=initializer.scale, mode=swapped,
                                              distribution=initializer.distribution,
                                              seed=initializer.seed)
