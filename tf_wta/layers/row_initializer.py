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


def _fan(mode, rows, dim):
    # Keras' fans of a [rows, dim] matrix: fan_in = rows, fan_out = dim.
    return {"fan_in": rows, "fan_out": dim}.get(mode, (rows + dim) / 2)


def row_block(initializer, units, block_rows, input_dim, block):
    """An initializer for rows `[block_rows, D]` of a `[units, D]` kernel
    (block number `block` of a `ShardedWTADense`) that draws with the
    variance `row_per_unit(initializer)` has for the whole kernel: a
    variance-scaling initializer's scale is corrected for the block's
    smaller fan, and any seeded initializer's int seed is offset by the
    block number (else every block would draw the same rows)."""
    initializer = row_per_unit(initializer)
    config = initializer.get_config()
    if isinstance(config.get("seed"), int):
        config["seed"] += block
    if isinstance(initializer, keras.initializers.VarianceScaling):
        config["scale"] *= (_fan(initializer.mode, block_rows, input_dim)
                            / _fan(initializer.mode, units, input_dim))
    return type(initializer).from_config(config)
