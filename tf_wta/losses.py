"""Losses for multi-label training of an output-mode WTADense."""
import keras
import tensorflow as tf


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
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(y_true, y_pred.dtype)
        positives = tf.reduce_sum(y_true, axis=-1, keepdims=True)
        target = tf.math.divide_no_nan(y_true, positives)
        return -tf.reduce_sum(target * tf.nn.log_softmax(y_pred, axis=-1), axis=-1)
