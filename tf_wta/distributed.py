"""A Keras-style training loop for the tf.distribute strategies that
`Model.fit` cannot run: `tf.distribute.MultiWorkerMirroredStrategy`.

Keras 3.15's `fit` fails under MultiWorkerMirroredStrategy even for a
model of plain Dense layers (keras-team/keras issue 20585: "Attempt to
convert a value (PerReplica...)" when it reduces the step's outputs).
`distributed_fit` runs the model's own `train_step` (for `tf_wta.WTAModel`,
the candidate training step) under `strategy.run`, which is all `fit` does
per step: gradients, dense and sparse (`tf.IndexedSlices`), are summed
across every replica of every worker by the optimizer's `apply_gradients`,
exactly as under `MirroredStrategy`. It runs under single-machine strategies
too (tested under `MirroredStrategy`), where `fit` works as well.
"""
import os

import keras
import tensorflow as tf

from tf_wta._arguments import positive_int


def is_chief(strategy):
    """Whether this process is the one that writes shared files (checkpoints,
    logs) under `strategy` (a `tf.distribute.Strategy`): the "chief" task,
    else worker 0 of a cluster without one; always True for single-machine
    strategies. Returns a Python bool."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not cluster:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


class _EpochCheckpoint:
    """The model's, optimizer's and epoch counter's state in `directory`,
    saved after every epoch as TensorFlow's multi-worker guide prescribes:
    every worker saves (saving may run collectives), the chief into
    `directory`, the others into a private temporary directory they delete.
    Every worker restores from `directory`."""

    def __init__(self, directory, strategy, model, epoch):
        self.directory = directory
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer,
                                              epoch=epoch)
        self.chief = is_chief(strategy)
        write_dir = directory
        if not self.chief:
            write_dir = os.path.join(directory, f"workertemp_{strategy.cluster_resolver.task_id}")
        self.write_dir = write_dir
        self.manager = tf.train.CheckpointManager(self.checkpoint, write_dir, max_to_keep=2)

    def restore(self):
        """Restores the latest checkpoint in the directory, if any; returns
        its path or None."""
        latest = tf.train.latest_checkpoint(self.directory)
        if latest is not None:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        return latest

    def save(self):
        self.manager.save()
        if not self.chief:
            tf.io.gfile.rmtree(self.write_dir)


def _steps_per_epoch(dataset, steps_per_epoch):
    cardinality = int(dataset.cardinality())
    if steps_per_epoch is not None:
        steps_per_epoch = positive_int(steps_per_epoch, "steps_per_epoch")
        if cardinality >= 0 and steps_per_epoch > cardinality:
            raise ValueError(f"steps_per_epoch={steps_per_epoch} is more than the dataset's "
                             f"{cardinality} batches: repeat() it or ask for fewer steps")
        return steps_per_epoch
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError("the dataset is infinite: pass steps_per_epoch")
    if cardinality < 0:
        raise ValueError("the dataset's number of batches is unknown: pass steps_per_epoch")
    if cardinality == 0:
        raise ValueError("the dataset is empty")
    return cardinality


def distributed_fit(model, dataset, epochs=1, steps_per_epoch=None, checkpoint_dir=None,
                    callbacks=None, verbose=0):
    """Trains a compiled Keras model like `model.fit(dataset, ...)`, with a
    loop on `strategy.run` that also runs under
    `tf.distribute.MultiWorkerMirroredStrategy`.

    Create and compile the model in `strategy.scope()`. Every worker runs
    the same script with its own `TF_CONFIG` and calls this with the same
    arguments. Each step runs `model.train_step` on every replica (so a
    `tf_wta.WTAModel` trains on its candidates, its WTADense layers count
    optimizer steps and rebuild their replica-local hash indexes from the
    synchronised kernel: every replica holds the same index, with no
    communication); the optimizer sums the replicas' gradients, sparse ones
    as `tf.IndexedSlices`.

    Args:
      model: a compiled, built `keras.Model` whose `distribute_strategy` is
        the strategy to run under (the one whose scope created it).
      dataset: `tf.data.Dataset` of global batches, `(x, y)` or
        `(x, y, sample_weight)`, as for `fit`: the strategy splits each
        batch between the replicas of all workers (auto-sharded by
        `tf.data.Options().experimental_distribute.auto_shard_policy`).
        Every worker must build the same dataset.
      epochs: int >= 1, the epoch to train up to (counting epochs restored
        from `checkpoint_dir`).
      steps_per_epoch: int >= 1 batches per epoch, or None for the dataset's
        cardinality. A finite dataset is iterated afresh each epoch (and
        must hold that many batches); an infinite one continues, and on
        resuming skips the batches of the restored epochs.
      checkpoint_dir: directory for a `tf.train.Checkpoint` of the model,
        optimizer and epoch count, written after every epoch (by the chief;
        the others write to temporary directories they delete). If it holds
        one when training starts, training resumes after its epoch: Keras'
        `BackupAndRestore` for this loop. Kept when training ends.
      callbacks: Keras callbacks, run on every worker (write files from
        `tf_wta.is_chief(strategy)` only; `model.stop_training` ends
        training after the epoch, as in `fit`). Epoch hooks get the epoch's
        metrics, reduced over all replicas; batch hooks get no logs, since
        reading the metrics would cost a collective per step.
      verbose: 0 (silent) or 1 (a progress bar, on the chief only).
    Returns:
      A `keras.callbacks.History`: `.history[name]` lists the metric per
      epoch trained in this call (loss and the compiled metrics over all
      replicas, as `fit` reports them).
    Raises:
      ValueError: an uncompiled or unbuilt model, a dataset that is not a
        `tf.data.Dataset`, bad epochs/steps, or a `BackupAndRestore` callback.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError("the model must be compiled (in the strategy's scope) before "
                         "distributed_fit")
    if not model.built:
        raise ValueError("the model must be built before distributed_fit: create it from "
                         "keras.Input or call it on a batch")
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(f"dataset must be a tf.data.Dataset of global batches, got "
                         f"{type(dataset).__name__}")
    epochs = positive_int(epochs, "epochs")
    if verbose not in (0, 1):
        raise ValueError(f"verbose must be 0 or 1, got {verbose!r}")
    callbacks = list(callbacks or [])
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.BackupAndRestore):
            raise ValueError("BackupAndRestore writes one file from every worker: pass "
                             "checkpoint_dir to distributed_fit instead, which backs up and "
                             "restores training across workers")
    steps = _steps_per_epoch(dataset, steps_per_epoch)
    strategy = model.distribute_strategy

    # What fit does before its first step under a strategy: create the
    # compiled metrics' and loss's variables (and the optimizer's) from the
    # batch's spec, outside the traced step, where creating them under
    # MirroredStrategy fails ("You must feed a value for placeholder
    # tensor"). Keras 3.15 has no public method for it; pyproject.toml
    # bounds keras.
    model._maybe_symbolic_build(data_batch=dataset.element_spec)
    with strategy.scope():
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = _EpochCheckpoint(os.fspath(checkpoint_dir), strategy, model, epoch)
        checkpoint.restore()
    initial_epoch = int(epoch.numpy())

    finite = int(dataset.cardinality()) >= 0
    if not finite:
        dataset = dataset.skip(initial_epoch * steps)
    distributed = strategy.experimental_distribute_dataset(dataset)

    @tf.function(reduce_retracing=True)
    def train_step(iterator):
        strategy.run(model.train_step, args=(next(iterator),))

    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        callbacks + [history], add_progbar=verbose == 1 and is_chief(strategy),
        model=model, verbose=verbose, epochs=epochs, steps=steps)
    model.stop_training = False
    callback_list.on_train_begin()
    iterator = None if finite else iter(distributed)
    for epoch_number in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch_number)
        if finite:
            iterator = iter(distributed)
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            train_step(iterator)
            callback_list.on_train_batch_end(step)
        # Read in cross-replica context: the metrics' on-read variables
        # are summed over every replica of every worker.
        logs = {name: float(value) for name, value in model.get_metrics_result().items()}
        epoch.assign(epoch_number + 1)
        if checkpoint is not None:
            checkpoint.save()
        callback_list.on_epoch_end(epoch_number, logs)
        if model.stop_training:  # e.g. EarlyStopping, alike on every worker
            break
    callback_list.on_train_end()
    return history
