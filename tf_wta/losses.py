"""Losses for multi-label training of an output-mode WTADense."""
import keras
import tensorflow as tf

from tf_wta.layers.candidate_sets import empty_slot_logit


@keras.saving.register_keras_serializable(package="tf_wta")
class MultiLabelSoftmaxCrossentropy(keras.losses.Loss):
    """Softmax cross-entropy against the uniform distribution over an
    example's positive classes (SLIDE's multi-label objective).

    `loss = -sum_j t_j log softmax(logits)_j` with `t` the multi-hot target
    divided by its number of positives; a row without positives has loss 0.
    `WTAModel` passes multi-hot targets over the candidates in training and
    over all units in `evaluate`, so it works with either.

    Call: y_true float [B, N] multi-hot, y_pred float [B, N] logits ->
    float [B] (reduced as Keras losses are).
    """

    def __init__(self, name="multi_label_softmax_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        """y_true float `[B, N]` multi-hot, y_pred float `[B, N]` logits ->
        float `[B]` loss per example."""
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(y_true, y_pred.dtype)
        positives = tf.reduce_sum(y_true, axis=-1, keepdims=True)
        target = tf.math.divide_no_nan(y_true, positives)
        return -tf.reduce_sum(target * tf.nn.log_softmax(y_pred, axis=-1), axis=-1)


@keras.saving.register_keras_serializable(package="tf_wta")
class SampledBinaryCrossentropy(keras.losses.Loss):
    """Per-class sigmoid cross-entropy over all `units` classes, estimated
    from a candidate set: the mean over classes of
    `sum_positives BCE + (units - positives) / negatives_scored * sum_scored_negatives BCE`.

    The scored negatives stand for all of an example's negatives (they are
    mostly uniform draws and other examples' labels in the shared set), so
    each weighs `(units - positives) / negatives_scored` instead of 1: without
    that correction the classes never drawn are never pushed down, and the
    scores are biased upwards. On exact outputs (`evaluate`: every class
    scored) the weight is 1 and this is Keras' mean binary cross-entropy.
    Empty candidate slots (logit -1e9, per-example mode) are not counted.

    Args:
      units: int, the number of classes N of the output layer.
    Call: y_true float [B, S] multi-hot, y_pred float [B, S] logits -> float [B].
    """

    def __init__(self, units, name="sampled_binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be an int >= 1, got {units!r}")
        self.units = units

    def call(self, y_true, y_pred):
        """y_true float `[B, C]` multi-hot, y_pred float `[B, C]` logits of C
        scored classes (C = units on exact outputs) -> float `[B]` loss per
        example."""
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(y_true, y_pred.dtype)
        scored = tf.cast(y_pred > empty_slot_logit(y_pred.dtype) / 2, y_pred.dtype)
        per_class = tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred) * scored
        positives = tf.reduce_sum(y_true * scored, axis=-1)
        negatives = tf.reduce_sum((1 - y_true) * scored, axis=-1)
        weight = tf.math.divide_no_nan(self.units - positives, negatives)
        total = (tf.reduce_sum(per_class * y_true, axis=-1)
                 + weight * tf.reduce_sum(per_class * (1 - y_true), axis=-1))
        return total / self.units

    def get_config(self):
        """The constructor's arguments, for Keras saving."""
        return {**super().get_config(), "units": self.units}
