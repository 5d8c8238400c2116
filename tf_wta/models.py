"""Keras models whose training step tells their WTADense layers the step and
the labels: `WTAModel` (functional) and `WTASequential`."""
import warnings

import keras
import tensorflow as tf

from tf_wta.labels import label_matrix, multi_hot
from tf_wta.layers.training_step import TrainingStep, training_step
from tf_wta.layers.wta_dense import WTADense


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

    Multi-label (labels int [B, k] padded with -1, or ragged [B, None]):
    every positive is among the candidates, and the compiled loss and
    metrics get multi-hot float targets over the candidates in training,
    over all units in `evaluate` (e.g. `tf_wta.MultiLabelSoftmaxCrossentropy()`
    or `tf_wta.SampledBinaryCrossentropy(units)`).
    """

    # Keras' optimizers that make a huge WTADense slow: Adam, AdamW and
    # Adagrad update every row on a sparse gradient, SGD's sparse scatter
    # makes every later full read of the kernel a copy.
    DENSE_UPDATE_OPTIMIZERS = (keras.optimizers.Adam, keras.optimizers.AdamW,
                               keras.optimizers.Adagrad, keras.optimizers.SGD)
    LARGE_KERNEL = 10_000_000  # weights; below it a dense update costs little

    def _warn_about_dense_updates(self):
        # Called when the training step is traced: overriding compile() would
        # keep Keras from compiling a model it loads from a .keras file.
        from tf_wta.optimizers import LazyAdam, SparseSGD

        optimizer = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        if (not isinstance(optimizer, self.DENSE_UPDATE_OPTIMIZERS)
                or isinstance(optimizer, (LazyAdam, SparseSGD))):
            return
        large = [layer.name for layer in self.layers
                 if isinstance(layer, WTADense) and layer.built
                 and layer.kernel.shape.num_elements() >= self.LARGE_KERNEL]
        if large:
            warnings.warn(
                f"{type(optimizer).__name__} updates every row of {', '.join(large)} on each "
                f"step (or, for SGD, makes each full read of the kernel a copy): training will "
                f"be as slow as a dense layer. Compile with tf_wta.LazyAdam or "
                f"tf_wta.SparseSGD, which update only the rows a step computed.",
                stacklevel=3)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self._warn_about_dense_updates()
        step = TrainingStep(self.optimizer.iterations, labels=y)
        with training_step(step), tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            if step.output_layer is not None:
                y = step.label_positions
                if y.shape.rank == 2:  # multi-label: multi-hot over the candidates
                    y = multi_hot(y, tf.shape(y_pred)[1], y_pred.dtype)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=True)
            self._track_loss(loss, x)
            loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is not None and self._has_output_layer():
            labels, multi_label = label_matrix(y)
            if multi_label:
                y_pred = self(x, training=False)
                y = multi_hot(labels, tf.shape(y_pred)[1], y_pred.dtype)
                return self._evaluate(x, y, y_pred, sample_weight)
        return super().test_step(data)

    def _evaluate(self, x, y, y_pred, sample_weight):
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                 training=False)
        self._track_loss(loss, x)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _has_output_layer(self):
        return any(isinstance(layer, WTADense) and layer.mode == "output"
                   for layer in self.layers)

    def _track_loss(self, loss, x):
        # Keras divides the loss by the replica count for the gradient sum;
        # the tracked loss is the unscaled one, as in Model.train_step.
        tracker = next(metric for metric in self.metrics if metric.name == "loss")
        tracker.update_state(loss * _replicas(), sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])


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
