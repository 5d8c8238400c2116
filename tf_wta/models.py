"""Keras models whose training step tells their WTADense layers the step and
the labels: `WTAModel` (functional) and `WTASequential`."""
import keras
import tensorflow as tf

from tf_wta.dense_update_warning import warn_about_dense_updates
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

    def compile(self, optimizer="rmsprop", *args, **kwargs):
        """`keras.Model.compile`, which also warns when a large `WTADense`
        (10,000,000 weights or more) would train with Keras' `Adam`,
        `AdamW`, `Adagrad` or `SGD` (use `tf_wta.LazyAdam` or
        `tf_wta.SparseSGD`). A WTADense not built yet is checked when
        training starts."""
        super().compile(optimizer, *args, **kwargs)
        layers = [layer for layer in self.layers
                  if isinstance(layer, WTADense) and layer.trainable]
        warn_about_dense_updates(self.optimizer, [layer for layer in layers if layer.built],
                                 stacklevel=2)
        # A frozenset: Keras and TensorFlow track (and wrap) lists and tuples.
        self._wta_layers_unsized_at_compile = frozenset(
            layer.name for layer in layers if not layer.built)

    def compile_from_config(self, config):
        """Compiles a model loaded from a `.keras` file (Keras' own body:
        it skips models that override `compile`)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _warn_about_layers_built_after_compile(self):
        # Runs while the training step is traced, after the forward pass
        # has built the layers.
        names = getattr(self, "_wta_layers_unsized_at_compile", frozenset())
        if names:
            self._wta_layers_unsized_at_compile = frozenset()
            warn_about_dense_updates(
                self.optimizer, [layer for layer in self.layers if layer.name in names],
                stacklevel=3)

    def train_step(self, data):
        """One training step on `data`, `(x, y)` or `(x, y, sample_weight)`:
        y int class ids `[B]`, or for several labels int `[B, k]` padded with
        -1 or ragged `[B, None]`. Returns the metrics' results (dict of
        float scalars)."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
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
        self._warn_about_layers_built_after_compile()
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        """One evaluation step on exact outputs, labels as in `train_step`
        (several per example become multi-hot float `[B, units]`). Returns
        the metrics' results (dict of float scalars)."""
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
    on `(inputs, labels)` with int class labels `[B]` as for a Dense
    classifier (several labels per example: int `[B, k]` padded with -1 or
    ragged `[B, None]`): in training the output layer computes only its candidate
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
    of the kernel (one per step) copy all of it; `compile` warns when it
    gets one of these for a WTADense of 10,000,000 weights or more.
    """


@keras.saving.register_keras_serializable(package="tf_wta")
class WTASequential(CandidateTrainStep, keras.Sequential):
    """`keras.Sequential` with `WTAModel`'s training step: a stack of layers
    ending in a `WTADense(mode="output")` trains on candidates, as in
    `WTAModel` (int labels `[B]`, or `[B, k]` padded with -1, or ragged
    `[B, None]`)."""
