"""New tops with hidden fully connected layers: Dense or FastfoodDense (Deep
Fried Convnets), for the retraining example and its benchmark."""
import keras
import numpy as np

import tf_wta

HIDDEN_LAYERS = ("Dense", "FastfoodDense")


def hidden_layer_top(hidden_layer, hidden_units, mean, variance, num_classes,
                     learn_diagonals=True, seed=0, dropout=0.0):
    """features float32 [B, D] -> logits [B, num_classes]: standardisation with
    the training features' statistics, then one ReLU layer per entry of
    `hidden_units` (`keras.layers.Dense` or `tf_wta.FastfoodDense`), each
    followed by `Dropout(dropout)` when dropout > 0 (AlexNet's fully
    connected pair, which Deep Fried Convnets replace, has 0.5), then a
    `Dense(num_classes)` output (Deep Fried Convnets keep the softmax layer
    dense). No hidden units: the linear top (standardisation and the output
    layer only).

    Args:
      hidden_layer: "Dense" or "FastfoodDense".
      hidden_units: sequence of ints, the width of each hidden layer.
      mean, variance: float32 [D], the training features' statistics.
      num_classes: int.
      learn_diagonals: FastfoodDense's: True (adaptive Fastfood, the paper's
        layer: S, G, B trained), False (fixed, Le et al.) or letters of "SGB".
      seed: int, the seed of each FastfoodDense layer (layer i: seed + i)
        and Dropout layer.
      dropout: float in [0, 1), the dropout rate after each hidden layer.
    Returns:
      an uncompiled keras.Model named "<hidden_layer>_top".
    """
    if hidden_layer not in HIDDEN_LAYERS:
        raise ValueError(f"hidden_layer must be one of {HIDDEN_LAYERS}, got {hidden_layer!r}")
    if any(int(units) < 1 for units in hidden_units):
        raise ValueError(f"hidden_units must be positive widths, got {list(hidden_units)!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    inputs = keras.Input((mean.shape[0],))
    x = keras.layers.Normalization(mean=mean, variance=variance)(inputs)
    for i, units in enumerate(hidden_units):
        if hidden_layer == "Dense":
            x = keras.layers.Dense(int(units), activation="relu")(x)
        else:
            x = tf_wta.FastfoodDense(int(units), activation="relu",
                                     learn_diagonals=learn_diagonals, seed=seed + i)(x)
        if dropout:
            x = keras.layers.Dropout(dropout, seed=seed + i)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x),
                       name=f"{hidden_layer.lower()}_top")


def trainable_parameters(model, hidden_only=False):
    """The number of trainable scalars of `model` (int); with hidden_only,
    only those of its hidden Dense / FastfoodDense layers (all but the last
    layer)."""
    layers = model.layers[:-1] if hidden_only else model.layers
    return int(sum(np.prod(weight.shape) for layer in layers
                   for weight in layer.trainable_weights))
