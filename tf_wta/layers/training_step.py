"""What a training step tells the WTADense layers it runs: the optimizer's
step number and, for an output layer, the labels.

`tf_wta.WTAModel` opens a `TrainingStep` around its forward pass. Layers
read it with `current_training_step()`: hash-index schedules count the
optimizer's iterations (a layer called twice in one step counts one step),
and an output layer finds the labels that put each true class among its
candidates, reporting back where it put them. The context is thread-local
because `tf.distribute` strategies run one replica's step per thread.
"""
import contextlib
import threading

_local = threading.local()


class TrainingStep:
    """One training step's shared state.

    Attributes:
      step: int64 scalar tensor or variable, the optimizer's iteration
        count before this step's update.
      labels: the step's labels (int [B] or [B, 1]), or None.
      label_positions: set by the output layer: int32 [B], the column of
        each example's label in the layer's training outputs.
      output_layer: the layer that consumed the labels, or None.
    """

    def __init__(self, step, labels=None):
        self.step = step
        self.labels = labels
        self.label_positions = None
        self.output_layer = None

    def take_labels(self, layer):
        """The labels, for the one output layer of the model.

        Raises:
          ValueError: no labels, or a second output layer asks for them.
        """
        if self.labels is None:
            raise ValueError(f"{layer.name}: this training step has no labels")
        if self.output_layer is not None and self.output_layer is not layer:
            raise ValueError(
                f"A model trains one WTADense(mode='output') layer, its output; found "
                f"{self.output_layer.name} and {layer.name}")
        self.output_layer = layer
        return self.labels


@contextlib.contextmanager
def training_step(step):
    """Makes `step` (a `TrainingStep`) current in this thread."""
    previous = getattr(_local, "step", None)
    _local.step = step
    try:
        yield step
    finally:
        _local.step = previous


def current_training_step():
    """The `TrainingStep` open in this thread, or None (e.g. in a plain
    `keras.Model`'s `fit`, where each training call counts as a step)."""
    return getattr(_local, "step", None)
