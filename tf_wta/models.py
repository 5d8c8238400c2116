"""WTAModel: a functional keras.Model whose WTADense output trains on candidates."""
import keras
import tensorflow as tf

from tf_wta.layers.wta_dense import WTADense


def _replicas():
    # Keras scales the loss down by the replica count for the gradient; its
    # loss tracker reports the unscaled value, as Model.train_step does.
    return tf.distribute.get_strategy().num_replicas_in_sync


@keras.saving.register_keras_serializable(package="tf_wta")
class WTAModel(keras.Model):
    """A functional Keras model whose output is a `WTADense(mode="output")`.

    Build it exactly like `keras.Model(inputs, outputs)` and train it with
    `model.fit(ds)` on `(inputs, labels)` with integer class labels, as for a
    Dense classifier. In training, the output layer computes only its
    candidate classes (one set shared by the batch, or per example: see
    `WTADense`), with every true label among them, and the compiled loss
    (e.g. `SparseCategoricalCrossentropy(from_logits=True)`) and metrics are taken over the candidates, with labels remapped to
    their candidate positions. Training metrics are therefore candidate-set
    metrics; `evaluate`, `predict` and `export` use the exact outputs.

    Compile it with `tf_wta.SparseSGD` or `tf_wta.LazyAdam`: they update only
    the selected kernel rows, in place. Keras' Adam updates the whole kernel,
    and Keras' SGD scatters the rows in a way that makes every later full read
    of the kernel (one per step) copy all of it.
    """

    def _wta_parts(self):
        """(sub-model from the inputs to the WTADense input, the WTADense)."""
        if getattr(self, "_wta_parts_cache", None) is None:
            layer = self.layers[-1] if self.layers else None
            if (not isinstance(layer, WTADense) or layer.mode != "output"
                    or len(self.outputs) != 1 or self.outputs[0] is not layer.output):
                raise ValueError(
                    "WTAModel's single output must be a WTADense(mode='output') layer, got "
                    f"outputs {self.outputs}; use keras.Model for other models")
            features = keras.Model(self.input, layer.input, name=f"{self.name}_features")
            self._wta_parts_cache = (features, layer)
        return self._wta_parts_cache

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        features_model, layer = self._wta_parts()
        with tf.GradientTape() as tape:
            features = features_model(x, training=True)
            y_pred, positions, candidates = layer.training_outputs(features, y)
            loss = self._compute_loss(x=x, y=positions, y_pred=y_pred,
                                      sample_weight=sample_weight, training=True)
            # The output layer's regularizers, on the rows this step computed.
            loss += layer.row_penalty(tf.reshape(candidates, [-1])) / _replicas()
            self._loss_tracker.update_state(
                loss * _replicas(),
                sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
            if self.optimizer is not None:
                loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self.compute_metrics(x, positions, y_pred, sample_weight=sample_weight)
