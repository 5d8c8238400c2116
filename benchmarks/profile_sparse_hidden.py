"""Where the time of a sparse hidden layer's training step goes, against Dense.

    python benchmarks/profile_sparse_hidden.py [--units 1000] [--dim 784] [--active 0.05]

One hidden layer of bench_sparse_hidden.py (ReLU, hidden-mode defaults) on
a batch of random [0, 1) inputs: each stage timed as its own tf.function
(median of --repeats calls, the stages taken in turn round after round, so
that a change in the machine's load reaches every stage alike): Dense's
forward + backward, the hidden WTADense's forward + backward (tables
current, no rebuild), and within it hashing + querying the batch (and
apart: hashing the batch to its bucket keys, querying the tables with
those keys), the `hashed_matmul` forward and the scatter of the candidates
to [B, units]; the rehash of every kernel row, which the schedule does
every `rebuild_every` steps, is reported whole and amortised.
Writes results/sparse_hidden_profile.json and .png.
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import common  # noqa: E402

STAGES = ("dense_step", "sparse_step", "hash_and_query", "hash", "query", "hashed_matmul",
          "scatter", "rehash_all_rows", "rehash_amortised")


def median_ms(functions, repeats):
    """{name: median milliseconds of fn()} for a dict of functions returning
    tensors, after 5 warm-up calls each, calling them in turn each round."""
    import tensorflow as tf

    def run(fn):
        for tensor in tf.nest.flatten(fn(), expand_composites=True):
            tensor.numpy()
    for fn in functions.values():
        for _ in range(5):
            run(fn)
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            run(fn)
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


def profile(args):
    import keras
    import numpy as np
    import tensorflow as tf

    import tf_wta
    from tf_wta.layers.candidate_sets import scatter_rows

    inputs = tf.constant(np.random.default_rng(0).random((args.batch, args.dim), np.float32))
    sparse = tf_wta.WTADense(args.units, activation="relu", mode="hidden", seed=0,
                             num_candidates=max(1, round(args.active * args.units)))
    sparse.build((None, args.dim))
    sparse.index.rebuild(sparse.kernel)
    dense = keras.layers.Dense(args.units, activation="relu")
    dense.build((None, args.dim))
    candidates = sparse.query(inputs)
    query_buckets = sparse.index.hash_buckets(inputs)
    index = (sparse.index.sorted_buckets, sparse.index.sorted_units,
             tf.constant(sparse.index.num_buckets, tf.int32))

    def step(layer):
        @tf.function
        def forward_backward():
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(layer(inputs, training=False))
            return tape.gradient(total, layer.trainable_variables)
        return forward_backward

    stages = {
        "dense_step": step(dense),
        "sparse_step": step(sparse),
        "hash_and_query": tf.function(lambda: sparse.query(inputs)),
        "hash": tf.function(lambda: sparse.index.hash_buckets(inputs)),
        "query": tf.function(lambda: tf_wta.query_index(
            query_buckets, index, sparse.num_candidates, check_index=False)),
        "hashed_matmul": tf.function(
            lambda: tf_wta.hashed_matmul(inputs, sparse.kernel, candidates, sparse.bias)),
        "scatter": tf.function(lambda: scatter_rows(
            tf.ones(tf.shape(candidates)), candidates, args.units)),
        "rehash_all_rows": tf.function(lambda: sparse.index.hash_buckets(sparse.kernel)),
    }
    row = {"units": args.units, "dim": args.dim, "batch": args.batch,
           "candidates": sparse.num_candidates}
    for name, ms in median_ms(stages, args.repeats).items():
        row[name] = round(ms, 2)
    row["rehash_amortised"] = round(row["rehash_all_rows"] / sparse.index.rebuild_every, 2)
    return row


def plot(rows, path):
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(list(STAGES), [rows[0][stage] for stage in STAGES])
    ax.set(xlabel="ms (median)", title=f"{rows[0]['units']:,} units, batch {rows[0]['batch']}")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--active", type=float, default=0.05, help="fraction of units computed")
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    common.report("sparse_hidden_profile", [profile(args)], plot,
                  ["units", "batch", "candidates", *STAGES], **vars(args))


if __name__ == "__main__":
    main()
