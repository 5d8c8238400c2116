"""Sparse hidden layers (SLIDE-style WTADense) against a Dense MLP, as in
Spring & Shrivastava (KDD 2017): accuracy, multiplications, time per epoch.

    python benchmarks/bench_sparse_hidden.py                 # Rectangles, Convex
    python benchmarks/bench_sparse_hidden.py --datasets fashion_mnist

Each model maps 784 pixels through `--layers` hidden layers of
`--hidden-units` ReLU units to a Dense output layer. The Dense MLP uses
`keras.layers.Dense` hidden layers; the sparse ones use
`tf_wta.WTADense(mode="hidden")` computing `fraction * units` units per
example (its hashed candidates; training adds `--num-uniform` uniformly
drawn units), in training and at test time. Both train with the same
optimizer, batch size and epochs. Rectangles and Convex are generated
(benchmarks/larochelle_shapes.py); Fashion-MNIST comes from Debian's
dataset-fashion-mnist package (benchmarks/fashion_mnist.py).

Columns: test accuracy after the last epoch, multiplications per example
of the test-time forward pass relative to the Dense MLP (hashing and
pooling included, see `multiplications`), the median seconds per
training epoch, and relative to Dense that (`epoch_rel`) and the median
CPU seconds of this process per epoch (`cpu_rel`: all its threads;
steadier than wall time on a machine other jobs share). Writes
results/sparse_hidden_<datasets>[_<n>_layers].json and .png.
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import common  # noqa: E402
import fashion_mnist  # noqa: E402
import larochelle_shapes  # noqa: E402

# Paper-like sizes scaled to a loaded 2-core CPU (paper: 12,000 / 8,000 /
# 60,000 training and 50,000 / 50,000 / 10,000 test images).
DATASETS = {"rectangles": (6_000, 5_000), "convex": (8_000, 5_000),
            "fashion_mnist": (20_000, 10_000)}


def load_dataset(name, train_size, test_size):
    """(x_train float32 [n, 784], y_train int32 [n], x_test, y_test, classes)."""
    if name == "fashion_mnist":
        x_train, y_train = fashion_mnist.load("train")
        x_test, y_test = fashion_mnist.load("test")
        return x_train[:train_size], y_train[:train_size], x_test[:test_size], \
            y_test[:test_size], 10
    generate = larochelle_shapes.GENERATORS[name]
    x_train, y_train = generate(train_size, seed=0)
    x_test, y_test = generate(test_size, seed=1)
    return x_train, y_train, x_test, y_test, 2


def multiplications(input_dim, hidden, classes, computed, hash_mults):
    """Multiplications (and divisions) per example of a test-time forward pass.

    Args:
      input_dim: int D; hidden: list of hidden layer widths; classes: int.
      computed: list, units computed per hidden layer (its width for Dense).
      hash_mults: list, multiplications of hashing each layer's query
        (pooling's divisions plus SimHash's projections; WTA only compares).
    Returns:
      int. The output layer is a Dense over all hidden units (zeros included),
      as Keras computes it.
    """
    dims = [input_dim] + list(hidden)
    return (sum(d * c for d, c in zip(dims, computed)) + sum(hash_mults)
            + dims[-1] * classes)


def hash_multiplications(input_dim, layer):
    """Multiplications of hashing one query of a hidden WTADense (its index's
    pooling divisions and SimHash projections)."""
    index = layer.index
    pooled = -(-input_dim // index.pool_size)
    pooling = pooled if index.pool_size > 1 else 0
    projections = index.num_hashes * index.window_size if index.hash_type == "simhash" else 0
    return pooling + projections


def build_model(kind, input_dim, classes, args, config):
    import keras

    import tf_wta

    inputs = keras.Input((input_dim,))
    x, layers = inputs, []
    for _ in range(args.layers):
        if kind == "dense":
            x = keras.layers.Dense(args.hidden_units, activation="relu")(x)
            continue
        layer = tf_wta.WTADense(
            args.hidden_units, activation="relu", mode="hidden",
            num_candidates=max(1, round(config["fraction"] * args.hidden_units)),
            hash_type=config["hash_type"], pool_size=config["pool_size"],
            num_uniform=config["num_uniform"], num_tables=config["num_tables"],
            codes_per_table=args.codes_per_table, window_size=args.window_size,
            rebuild_every=args.rebuild_every, rebuild_growth=args.rebuild_growth, seed=0)
        layers.append(layer)
        x = layer(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x)), layers


def optimizer(args):
    import keras

    import tf_wta

    if args.optimizer == "adam":
        return tf_wta.LazyAdam(args.learning_rate)
    if args.optimizer == "adagrad":
        return tf_wta.SparseAdagrad(args.learning_rate, momentum=0.5)
    return keras.optimizers.SGD(args.learning_rate, momentum=0.9)


def train_and_test(kind, data, args, config=None):
    """Trains one model; returns its row (accuracy, multiplications, s/epoch)."""
    import keras
    import tensorflow as tf

    x_train, y_train, x_test, y_test, classes = data
    keras.utils.set_random_seed(0)
    model, layers = build_model(kind, x_train.shape[1], classes, args, config)
    model.compile(optimizer(args), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    train = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
             .shuffle(len(x_train), seed=0).batch(args.batch_size).prefetch(2))
    seconds, cpu_seconds = [], []
    for epoch in range(args.epochs):
        start, start_cpu = time.perf_counter(), time.process_time()
        model.fit(train, epochs=epoch + 1, initial_epoch=epoch, verbose=0)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - start_cpu)
    accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0, return_dict=True)
    hidden = [args.hidden_units] * args.layers
    if kind == "dense":
        mults = multiplications(x_train.shape[1], hidden, classes, hidden, [0] * args.layers)
    else:
        dims = [x_train.shape[1]] + hidden
        mults = multiplications(x_train.shape[1], hidden, classes,
                                [layer.num_candidates for layer in layers],
                                [hash_multiplications(d, layer) for d, layer in zip(dims, layers)])
    return {"accuracy": round(float(accuracy["accuracy"]), 4), "mults": int(mults),
            "epoch_s": round(statistics.median(seconds[1:] or seconds), 2),
            "epoch_cpu_s": round(statistics.median(cpu_seconds[1:] or cpu_seconds), 2)}


# Hash settings of the sparse rows ("pool N": the index hashes inputs and rows
# mean-pooled by N). "simhash pool 2" is WTADense's hidden-mode default
# (hash_settings.MODE_DEFAULTS); "wta" was the default before it.
VARIANTS = {
    "wta": {"hash_type": "wta", "num_tables": 50, "pool_size": 1, "num_uniform": 0},
    "wta pool 2": {"hash_type": "wta", "num_tables": 100, "pool_size": 2, "num_uniform": 0},
    "simhash": {"hash_type": "simhash", "num_tables": 100, "pool_size": 1, "num_uniform": 0},
    "simhash pool 2": {"hash_type": "simhash", "num_tables": 100, "pool_size": 2,
                       "num_uniform": 0},
    "simhash pool 4": {"hash_type": "simhash", "num_tables": 100, "pool_size": 4,
                       "num_uniform": 0},
    "simhash pool 2 + 32 uniform": {"hash_type": "simhash", "num_tables": 100, "pool_size": 2,
                                    "num_uniform": 32},
}


def configurations(args):
    """The sparse rows: the main variant at every fraction, the others at
    --compare-at."""
    for fraction in args.fractions:
        for variant in [args.main_variant] + args.variants:
            if variant == args.main_variant or fraction in args.compare_at:
                yield {"fraction": fraction, "variant": variant, **VARIANTS[variant]}


def plot(rows, path):
    plt = common.pyplot()
    datasets = sorted({row["dataset"] for row in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.5), squeeze=False)
    for axis, name in zip(axes[0], datasets):
        dense = [r for r in rows if r["dataset"] == name and r["model"] == "Dense"]
        for row in dense:
            axis.axhline(row["accuracy"], color="black", linestyle="--", label="Dense")
        labels = sorted({r["model"] for r in rows if r["dataset"] == name} - {"Dense"})
        for label in labels:
            points = sorted((r["active"], r["accuracy"]) for r in rows
                            if r["dataset"] == name and r["model"] == label)
            axis.plot(*zip(*points), marker="o", label=label)
        axis.set(title=name, xlabel="active fraction of hidden units", ylabel="test accuracy")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATASETS),
                        default=["rectangles", "convex"])
    parser.add_argument("--train-size", type=int, default=None,
                        help="training images (default: per dataset, see DATASETS)")
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--layers", type=int, default=1, help="hidden layers")
    parser.add_argument("--hidden-units", type=int, default=1000)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.25],
                        help="active fractions of the hidden units")
    parser.add_argument("--main-variant", choices=sorted(VARIANTS), default="simhash pool 2",
                        help="hash settings (VARIANTS) run at every fraction")
    parser.add_argument("--variants", nargs="*", choices=sorted(VARIANTS),
                        default=["wta", "simhash", "simhash pool 4"],
                        help="hash settings compared with it at --compare-at")
    parser.add_argument("--compare-at", type=float, nargs="*", default=[0.05],
                        help="fractions at which --variants run")
    parser.add_argument("--codes-per-table", type=int, default=None)
    parser.add_argument("--window-size", type=int, default=8)
    parser.add_argument("--rebuild-every", type=int, default=50)
    parser.add_argument("--rebuild-growth", type=float, default=1.0)
    parser.add_argument("--optimizer", choices=("adam", "adagrad", "sgd"), default="adam",
                        help="adam: tf_wta.LazyAdam; adagrad: tf_wta.SparseAdagrad with "
                        "momentum 0.5 (the paper's code; its learning rate 1e-2 at 5%%); "
                        "sgd: Keras SGD with momentum 0.9")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)

    rows = []
    for name in args.datasets:
        train_size, test_size = DATASETS[name]
        data = load_dataset(name, args.train_size or train_size, args.test_size or test_size)
        runs = [("Dense", "dense", None, 1.0)] + [
            (c["variant"], "sparse", c, c["fraction"])
            for c in configurations(args)]
        dense_row = None
        for model_name, kind, config, active in runs:
            row = {"dataset": name, "model": model_name, "active": active,
                   **train_and_test(kind, data, args, config)}
            dense_row = dense_row or row
            row["mults_rel"] = round(row["mults"] / dense_row["mults"], 4)
            row["epoch_rel"] = round(row["epoch_s"] / dense_row["epoch_s"], 2)
            row["cpu_rel"] = round(row["epoch_cpu_s"] / dense_row["epoch_cpu_s"], 2)
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    name = "_".join(["sparse_hidden", *args.datasets]
                    + ([f"{args.layers}_layers"] if args.layers != 1 else []))
    common.report(name, rows, plot,
                  ["dataset", "model", "active", "accuracy", "mults_rel", "epoch_s", "epoch_rel",
                   "cpu_rel"],
                  **vars(args))


if __name__ == "__main__":
    sys.exit(main())
