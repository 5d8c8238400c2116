"""Trains a ShardedWTADense output layer under ParameterServerStrategy.

    # everything in this process: 2 workers and 2 parameter servers on 127.0.0.1
    python examples/parameter_server_training.py
    # or one process per task (same --cluster everywhere), servers first:
    cluster=chief=127.0.0.1:23460,worker=127.0.0.1:23461,worker=127.0.0.1:23462,ps=127.0.0.1:23463,ps=127.0.0.1:23464
    python examples/parameter_server_training.py --cluster $cluster --job worker --task 0 &
    ...                                                             --job ps --task 1 &
    python examples/parameter_server_training.py --cluster $cluster --job chief

The chief builds a `tf_wta.WTAModel` whose output is a `ShardedWTADense`
with one block of rows per parameter server, and trains it with
`tf_wta.parameter_server_fit` (Keras' `fit` refuses this strategy's
datasets): the workers run the steps, the parameter servers hold the
blocks and apply `LazyAdam`'s sparse updates to them in place. It prints
the loss per epoch, where each block lives, and the exact top-1 accuracy
on the training examples. Worker and parameter-server processes call
`tf_wta.load_ops()` before they serve, so that they know its custom ops
(without it: `NotFoundError: Op type not registered 'WtaSparseApplyAdam'`),
and serve until killed.
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_wta  # noqa: E402
from tf_wta import parameter_servers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from multiworker_training import prototype_classes  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--cluster", default=None,
                        help="job=host:port,... for one chief, the workers and the parameter "
                             "servers (none: an in-process cluster of 2 workers and 2 servers)")
    parser.add_argument("--job", choices=("chief", "worker", "ps"), default="chief",
                        help="this process's task type in --cluster")
    parser.add_argument("--task", type=int, default=0, help="its index among that job's tasks")
    parser.add_argument("--num-shards", type=int, default=2,
                        help="blocks of the output layer (one per parameter server is natural)")
    parser.add_argument("--classes", type=int, default=2000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps-per-epoch", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.01, help="LazyAdam")
    return parser.parse_args(argv)


def parse_cluster(text):
    """{"chief": [...], "worker": [...], "ps": [...]} of "job=host:port,..."."""
    addresses = {"chief": [], "worker": [], "ps": []}
    for item in text.split(","):
        job, _, address = item.partition("=")
        if job not in addresses or not address:
            raise ValueError(f"--cluster entries are chief=, worker= or ps=host:port, got {item!r}")
        addresses[job].append(address)
    return addresses


def serve(spec, job, task):
    """Runs this process's worker or parameter server until it is killed."""
    # The steps the chief sends run tf_wta's custom ops here: register them
    # (importing tf_wta alone loads the library lazily, on first use).
    tf_wta.load_ops()
    server = tf.distribute.Server(spec, job_name=job, task_index=task, protocol="grpc")
    print(f"{job} {task} serving at {spec.task_address(job, task)}", flush=True)
    server.join()


def train(strategy, args):
    """Builds, trains and evaluates the model under strategy; returns the
    history's losses."""
    features, labels = prototype_classes(args.classes, args.features, args.examples)
    with strategy.scope():
        inputs = keras.Input((args.features,))
        layer = tf_wta.ShardedWTADense(args.classes, num_shards=args.num_shards, seed=0)
        model = tf_wta.WTAModel(inputs, layer(inputs))
        model.compile(tf_wta.LazyAdam(args.learning_rate),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    for shard, kernel in enumerate(layer.kernel_shards):
        print(f"block {shard}: rows {tuple(kernel.shape)} on {kernel.value.device}")

    def dataset_fn():
        dataset = tf.data.Dataset.from_tensor_slices((features, labels))
        return dataset.shuffle(len(labels), seed=0).batch(args.batch_size).repeat()

    history = tf_wta.parameter_server_fit(model, dataset_fn, args.epochs, args.steps_per_epoch)
    for epoch, loss in enumerate(history.history["loss"]):
        print(f"epoch {epoch}: loss {loss:.4f} (over the candidates)")
    predictions = np.argmax(model(features[:1024]).numpy(), axis=1)
    print(f"exact top-1 accuracy on 1024 training examples: "
          f"{np.mean(predictions == labels[:1024]):.3f}")
    return history.history["loss"]


def main(argv=None):
    args = parse_args(argv)
    if args.cluster is None:
        strategy, _servers = parameter_servers.in_process_cluster(2, 2)
        return train(strategy, args)
    spec = parameter_servers.cluster_spec(parse_cluster(args.cluster))
    if args.job != "chief":
        return serve(spec, args.job, args.task)
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        spec, task_type="chief", task_id=0, rpc_layer="grpc")
    return train(tf.distribute.experimental.ParameterServerStrategy(resolver), args)


if __name__ == "__main__":
    main()
