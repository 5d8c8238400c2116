"""Trains a WTAModel on several worker processes with MultiWorkerMirroredStrategy.

    # two workers on this machine: run both (same flags but the index), e.g.
    workers=127.0.0.1:23456,127.0.0.1:23457
    python examples/multiworker_training.py --workers $workers --worker-index 0 &
    python examples/multiworker_training.py --workers $workers --worker-index 1
    # the same training in one process, without a strategy
    python examples/multiworker_training.py

Each worker sets its `TF_CONFIG` from `--workers` and `--worker-index`,
creates the strategy, builds and compiles the same model in its scope and
calls `tf_wta.distributed_fit` (Keras' `fit` fails under this strategy:
keras-team/keras issue 20585). The model is a hidden `WTADense` and a
`WTADense(mode="output")` with per-example candidates, on synthetic
classes around random prototypes; the strategy splits each global batch
between the workers and sums their (sparse) gradients, so the trained
weights equal those of the one-process run. With `--checkpoint-dir`,
training backs up after every epoch and a restarted run resumes there.
`--save` writes the trained weights (hash indexes included) and this
worker's part of the first batch's labels to an .npz file, to compare runs.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_wta  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--workers", default=None,
                        help="comma-separated host:port of every worker (none: one process, "
                             "no strategy)")
    parser.add_argument("--worker-index", type=int, default=0,
                        help="this process's position in --workers")
    parser.add_argument("--epochs", type=int, default=2,
                        help="epoch to train up to, counting restored ones")
    parser.add_argument("--checkpoint-dir", default=None,
                        help="back up after every epoch, resume from the latest backup")
    parser.add_argument("--candidates", choices=("per_example", "shared"), default="per_example",
                        help="the output layer's candidate sets (shared: chosen per replica "
                             "from its part of the batch)")
    parser.add_argument("--classes", type=int, default=300)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch")
    parser.add_argument("--learning-rate", type=float, default=0.01, help="LazyAdam")
    parser.add_argument("--save", default=None, help=".npz file for the trained weights")
    return parser.parse_args(argv)


def strategy_for(workers, worker_index):
    """MultiWorkerMirroredStrategy over `workers` ("host:port,..."), or the
    default (no-op) strategy when there are none."""
    if not workers:
        return tf.distribute.get_strategy()
    addresses = workers.split(",")
    if not 0 <= worker_index < len(addresses):
        raise ValueError(f"--worker-index must be in [0, {len(addresses)}), got {worker_index}")
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses},
                                          "task": {"type": "worker", "index": worker_index}})
    return tf.distribute.MultiWorkerMirroredStrategy()


def prototype_classes(num_classes, dim, num_examples, seed=0):
    """Examples around random unit-norm class prototypes: float32 [n, dim]
    features, int32 [n] labels."""
    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((num_classes, dim))
    prototypes /= np.linalg.norm(prototypes, axis=1, keepdims=True)
    labels = rng.integers(0, num_classes, num_examples).astype(np.int32)
    features = prototypes[labels] + 0.5 * rng.standard_normal((num_examples, dim)) / np.sqrt(dim)
    return features.astype(np.float32), labels


def build_model(args):
    """The model every worker builds identically (same seeds: the strategy
    also broadcasts worker 0's initial weights)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((args.features,))
    hidden = tf_wta.WTADense(64, activation="relu", mode="hidden", num_candidates=16,
                             rebuild_every=3, seed=1, name="hidden")(inputs)
    outputs = tf_wta.WTADense(args.classes, candidates=args.candidates, num_candidates=16,
                              rebuild_every=3, seed=0, name="classes")(hidden)
    model = tf_wta.WTAModel(inputs, outputs)
    model.compile(tf_wta.LazyAdam(args.learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def first_local_labels(strategy, dataset):
    """This worker's part of the first global batch's labels: int32 [b]."""
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    return np.concatenate([labels.numpy()
                           for labels in strategy.experimental_local_results(batch[1])])


def main(argv=None):
    args = parse_args(argv)
    strategy = strategy_for(args.workers, args.worker_index)
    features, labels = prototype_classes(args.classes, args.features, args.examples)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(args.batch_size)
    with strategy.scope():
        model = build_model(args)
    history = tf_wta.distributed_fit(model, dataset, epochs=args.epochs,
                                     checkpoint_dir=args.checkpoint_dir)
    if tf_wta.is_chief(strategy):
        print(f"epochs trained: {history.epoch}")
        for name, values in history.history.items():
            print(f"{name}: {' '.join(f'{value:.6f}' for value in values)}")
    if args.save:
        np.savez(args.save, first_local_labels=first_local_labels(strategy, dataset),
                 **{variable.path: variable.numpy() for variable in model.weights})
    return history


if __name__ == "__main__":
    main()
