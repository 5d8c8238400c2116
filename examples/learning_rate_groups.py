"""Optimizers with their own learning rate for chosen variables (a parameter
group), e.g. FastfoodDense's diagonals."""
import keras

import tf_wta


class _GroupRate:
    """Mixin for a Keras optimizer: variables in `group` step with
    `learning_rate * group_multiplier` (the schedule, if any, still applies)."""

    def __init__(self, *args, group=(), group_multiplier=1.0, **kwargs):
        super().__init__(*args, **kwargs)
        if not group_multiplier > 0:
            raise ValueError(f"group_multiplier must be > 0, got {group_multiplier!r}")
        self.group_multiplier = float(group_multiplier)
        # _var_key (Keras' own key for a variable's slots) also matches the
        # tf.Variable that Keras' TensorFlow backend passes to update_step.
        self._group_keys = {self._var_key(variable) for variable in group}

    def update_step(self, gradient, variable, learning_rate):
        """Keras' step of `variable` (float, any shape) by `gradient` (a tensor
        or `tf.IndexedSlices` of its rows, as the parent optimizer takes),
        `learning_rate` a float scalar, times `group_multiplier` for a
        variable of the group."""
        if self._var_key(variable) in self._group_keys:
            learning_rate = learning_rate * self.group_multiplier
        return super().update_step(gradient, variable, learning_rate)


class GroupRateAdam(_GroupRate, tf_wta.LazyAdam):
    """`tf_wta.LazyAdam` (plain Adam on dense gradients) whose `group`
    variables step with `group_multiplier` times the learning rate."""


class GroupRateSGD(_GroupRate, keras.optimizers.SGD):
    """`keras.optimizers.SGD` (momentum, nesterov as there) whose `group`
    variables step with `group_multiplier` times the learning rate."""


def fastfood_diagonals(model):
    """The trainable S, G and B variables of every `tf_wta.FastfoodDense`
    layer of `model` (a list of Keras variables)."""
    return [weight for layer in model.layers if isinstance(layer, tf_wta.FastfoodDense)
            for weight in (layer.scaling, layer.gaussian, layer.binary) if weight.trainable]


def make_optimizer(name, learning_rate, momentum=0.9, diagonal_learning_rate=None, model=None):
    """"adam" (tf_wta.LazyAdam) or "sgd" (SGD with `momentum`) at
    `learning_rate` (float > 0); with `diagonal_learning_rate` (float > 0)
    the FastfoodDense diagonals of `model` (see `fastfood_diagonals`) step at
    that rate instead."""
    if name not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")
    group, multiplier = [], 1.0
    if diagonal_learning_rate is not None:
        if model is None:
            raise ValueError("diagonal_learning_rate needs the model whose diagonals it sets")
        group, multiplier = fastfood_diagonals(model), diagonal_learning_rate / learning_rate
    if name == "adam":
        return GroupRateAdam(learning_rate, group=group, group_multiplier=multiplier)
    return GroupRateSGD(learning_rate, momentum=momentum, group=group,
                        group_multiplier=multiplier)
