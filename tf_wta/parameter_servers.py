"""Training under tf.distribute's ParameterServerStrategy, which Keras 3's
`Model.fit` does not run: steps scheduled on the workers by a
`tf.distribute.coordinator.ClusterCoordinator`.

Each step is the model's own `train_step` (for `tf_wta.WTAModel`, the
candidate training step) on one worker; the variables live on the parameter
servers, and a `tf_wta.ShardedWTADense` keeps one block of its rows on each.
Steps on different workers run concurrently and update the variables as
they finish (asynchronous training, as with any ParameterServerStrategy).
"""
import socket

import keras
import tensorflow as tf

from tf_wta._arguments import positive_int


def free_port(host="127.0.0.1"):
    """A TCP port free on host now (int): the operating system's pick."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def cluster_spec(addresses):
    """`tf.train.ClusterSpec` of {"chief": [...], "worker": [...], "ps":
    [...]}, each a list of "host:port"; checked to have one chief and at
    least one worker and one parameter server."""
    if len(addresses.get("chief", [])) != 1:
        raise ValueError(f"the cluster needs exactly one chief, got {addresses.get('chief')}")
    for job in ("worker", "ps"):
        if not addresses.get(job):
            raise ValueError(f"the cluster needs at least one {job}, got none")
    return tf.train.ClusterSpec(addresses)


def in_process_cluster(num_workers=2, num_ps=2, variable_partitioner=None):
    """A ParameterServerStrategy whose workers and parameter servers are
    `tf.distribute.Server`s in this process (the chief) on 127.0.0.1, at
    ports picked now: for trying and testing on one machine.

    Args:
      num_workers, num_ps: ints >= 1.
      variable_partitioner: passed to the strategy, or None.
    Returns:
      (strategy, servers): keep the servers referenced; they stop when the
      process exits.
    """
    num_workers = positive_int(num_workers, "num_workers")
    num_ps = positive_int(num_ps, "num_ps")
    addresses = {job: [f"127.0.0.1:{free_port()}" for _ in range(count)]
                 for job, count in (("chief", 1), ("worker", num_workers), ("ps", num_ps))}
    spec = cluster_spec(addresses)
    # As in TensorFlow's parameter-server tutorial: in-process servers need
    # num_workers + 1 inter-op threads, or concurrent steps starve each
    # other (measured here, 2 cores: the first epoch never finished).
    config = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=num_workers + 1)
    servers = [tf.distribute.Server(spec, job_name=job, task_index=task, protocol="grpc",
                                    config=config)
               for job in ("worker", "ps") for task in range(len(addresses[job]))]
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        spec, task_type="chief", task_id=0, rpc_layer="grpc")
    strategy = tf.distribute.experimental.ParameterServerStrategy(
        resolver, variable_partitioner=variable_partitioner)
    return strategy, servers


def _strategy_of(model):
    strategy = model.distribute_strategy
    if not isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
        raise ValueError("the model must be created and compiled in the scope of a "
                         "tf.distribute.experimental.ParameterServerStrategy, got "
                         f"{type(strategy).__name__}")
    if model.optimizer is None:
        raise ValueError("compile the model (in the strategy's scope) before training it")
    return strategy


def train_function(model):
    """A `tf.function` that runs one `model.train_step` on a batch, for
    `ClusterCoordinator.schedule`.

    Args:
      model: built and compiled in a `ParameterServerStrategy` scope; its
        optimizer's slots are created here, on the parameter servers (a
        scheduled step cannot create variables).
    Returns:
      `step(batch)`: batch `(x, y)` (or `(x, y, sample_weight)`) -> the
      train step's logs, a dict of float32 scalars.
    """
    strategy = _strategy_of(model)
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)

    @tf.function
    def step(batch):
        return strategy.run(model.train_step, args=(batch,))

    return step


def parameter_server_fit(model, dataset_fn, epochs, steps_per_epoch, coordinator=None):
    """Trains `model` on the workers of its `ParameterServerStrategy`.

    Args:
      model: built and compiled in the strategy's scope (e.g. a
        `tf_wta.WTAModel` ending in a `tf_wta.ShardedWTADense`).
      dataset_fn: function (optionally of a `tf.distribute.InputContext`)
        returning the `tf.data.Dataset` of `(x, y)` batches each worker
        reads (`ClusterCoordinator.create_per_worker_dataset`); repeat it:
        every worker keeps its iterator across epochs.
      epochs: int >= 1.
      steps_per_epoch: int >= 1, steps scheduled per epoch (over all workers).
      coordinator: the strategy's `ClusterCoordinator` (default: created).
    Returns:
      `keras.callbacks.History`: `history.history[name]` the per-epoch
      values of the compiled loss and metrics (floats, over the epoch's
      steps, as `fit` reports them).
    """
    strategy = _strategy_of(model)
    epochs = positive_int(epochs, "epochs")
    steps_per_epoch = positive_int(steps_per_epoch, "steps_per_epoch")
    if coordinator is None:
        coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    step = train_function(model)
    iterator = iter(coordinator.create_per_worker_dataset(dataset_fn))

    @tf.function
    def step_on_next_batch(iterator):
        return step(next(iterator))

    history = keras.callbacks.History()
    history.set_model(model)
    history.on_train_begin()
    for epoch in range(epochs):
        model.reset_metrics()
        for _ in range(steps_per_epoch):
            coordinator.schedule(step_on_next_batch, args=(iterator,))
        coordinator.join()
        logs = {name: float(value) for name, value in model.get_metrics_result().items()}
        history.on_epoch_end(epoch, logs)
    return history
