"""Keras models whose training step tells their WTADense layers the step and
the labels: `WTAModel` (functional) and `WTASequential`."""
import keras
import tensorflow as tf

from tf_wta.layers.training_step import TrainingStep, training_step


def _replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync


class CandidateTrainStep:
    """The training step of `WTAModel` and `WTASequential`, with Keras'
    public hooks only (`compute_loss`, `metrics`, `compute_metrics`).

    It opens a `TrainingStep` with the optimizer's iteration count and the
    labels around the forward pass: the hash index of every WTADense counts
    optimizer steps (not calls), and a `WTADense(mode="output")`, which
    must be the model's output, computes its candidate classes only and
    says where each label went, so the compiled loss and metrics are taken
    over the candidates. Without such an output layer the step is Keras'
    own.
    """

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        step = TrainingStep(self.optimizer.iterations, labels=y)
        with training_step(step), tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            if step.output_layer is not None:
                y = step.label_positions
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=True)
            # Keras divides the loss by the replica count for the gradient
            # sum; the tracked loss is the unscaled one, as in Model.train_step.
            self._loss_metric().update_state(
                loss * _replicas(), sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
            loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _loss_metric(self):
        return next(metric for metric in self.metrics if metric.name == "loss")


@keras.saving.register_keras_serializable(package="tf_wta")
class WTAModel(CandidateTrainStep, keras.Model):
    """A functional Keras model that trains `WTADense` layers.

    Build it exactly like `keras.Model(inputs, outputs)` and train it with
    `model.fit(ds)`. With a `WTADense(mode="output")` as its output, train
    on `(inputs, labels)` with integer class labels as for a Dense
    classifier: in training the output layer computes only its candidate
    classes (one set shared by the batch, or per example: see `WTADense`)
    with every true label among them, and the compiled loss (e.g.
    `SparseCategoricalCrossentropy(from_logits=True)`) and metrics are
    taken over the candidates, with labels remapped to their candidate
    positions. Training metrics are therefore candidate-set metrics;
    `evaluate`, `predict` and `export` use the exact outputs. Hidden
    WTADense layers anywhere in it count optimizer steps for their rebuild
    schedules.

    Compile it with `tf_wta.SparseSGD` or `tf_wta.LazyAdam`: they update only
    the selected kernel rows, in place. Keras' Adam updates the whole kernel,
    and Keras' SGD scatters the rows in a way that makes every later full read
    of the kernel (one per step) copy all of it.
    """


@keras.saving.register_keras_serializable(package="tf_wta")
class WTASequential(CandidateTrainStep, keras.Sequential):
    """`keras.Sequential` with `WTAModel`'s training step: a stack of layers
    ending in a `WTADense(mode="output")` trains on candidates, as in
    `WTAModel`."""
