"""Trains a classifier epoch by epoch, timing training apart from evaluation."""
import statistics
import time

import keras


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of every training batch, in seconds."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def compile_classifier(model, optimizer):
    """Compiles with softmax cross-entropy on logits, top-1 and top-5 accuracy."""
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="top1"),
                           keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5")])
    return model


def fit_and_track(model, train, test, epochs, verbose=1):
    """Fits one epoch at a time and evaluates on `test` after each.

    Args:
      model: a compiled classifier (see `compile_classifier`).
      train, test: batched tf.data.Datasets of (features, int labels).
      epochs: int.
      verbose: Keras verbosity of fit (1: progress bars).
    Returns:
      dict: "curve" a list of (cumulative training seconds, test top-1) per
      epoch; "train_top1" the training top-1 of each epoch (averaged over its
      batches as they were trained); "top1", "top5" the final test
      accuracies; "epoch_s" the median training seconds per epoch;
      "step_ms" the median milliseconds per training step (both leave out the
      first epoch, which traces the graph, when there are more).
    """
    timer = StepTimer()
    curve, train_top1, epoch_seconds, steps_per_epoch, trained = [], [], [], [], 0.0
    for epoch in range(epochs):
        start = time.perf_counter()
        history = model.fit(train, epochs=epoch + 1, initial_epoch=epoch, callbacks=[timer],
                            shuffle=False, verbose=verbose)
        epoch_seconds.append(time.perf_counter() - start)
        steps_per_epoch.append(len(timer.seconds))
        trained += epoch_seconds[-1]
        metrics = model.evaluate(test, return_dict=True, verbose=0)
        curve.append((trained, metrics["top1"]))
        train_top1.append(history.history["top1"][-1])
    skip = 1 if epochs > 1 else 0
    return {"curve": curve, "train_top1": train_top1, "top1": metrics["top1"],
            "top5": metrics["top5"],
            "epoch_s": statistics.median(epoch_seconds[skip:]),
            "step_ms": 1e3 * statistics.median(timer.seconds[steps_per_epoch[0] if skip else 0:])}
