"""FastfoodDense against Dense as the fully connected pair of a small CNN
trained end to end, as Deep Fried Convnets train theirs (offline, CPU).

    python benchmarks/bench_fastfood_end_to_end.py                  # Fashion-MNIST, one seed, ~12 min on 2 cores
    python benchmarks/bench_fastfood_end_to_end.py --seeds 0 1 2    # ~35 min
    python benchmarks/bench_fastfood_end_to_end.py --dataset convex --epochs 15 \
        --seeds 0 1 2 --test-size 20000 --name fastfood_end_to_end_convex   # ~55 min

bench_fastfood_dense.py compares the two tops on frozen features of a
randomly initialised backbone, where the paper's result cannot show: the
paper trains the convolutional layers together with the Fastfood layers.
Here both models are the same LeNet-like CNN, trained from scratch with the
same optimizer (tf_wta.LazyAdam), batches and epochs, side by side in one
process:

  28x28 image -> Conv2D(32, 5, relu) -> MaxPool(2) -> Conv2D(64, 5, relu)
  -> MaxPool(2) -> Flatten (1,024 features) -> hidden pair -> Dense(classes)

with the hidden pair Dense(4096, relu) x 2 ("dense") or adaptive
FastfoodDense(4096, relu) x 2 ("fastfood": S, G, B learned), each followed
by Dropout(--dropout) when it is above 0 (the paper's ImageNet tops keep
AlexNet's dropout 0.5 after both layers). Data:
Fashion-MNIST from Debian's dataset-fashion-mnist package (the script says
how to install it when it is absent), or Rectangles / Convex generated as
Larochelle et al. describe (benchmarks/larochelle_shapes.py).

Reported per method and seed (--seeds; the seed draws the initial weights,
Fastfood's permutations and signs, and the batch order): trainable
parameters of the hidden pair and of the whole model, s per epoch (median
over the epochs after the first), test top-1 after every epoch, the last
one's difference to dense of the same seed in points and the binomial
standard error of a top-1 on this test set. With several seeds, one more row
per method ("seed": "mean") holds the means, and points_vs_dense_sd the
standard deviation of the per-seed differences. Writes results/<name>.json
and .png/.svg (test top-1 per epoch).
"""
import argparse
import math
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import common  # noqa: E402
from bench_sparse_hidden import DATASETS, load_dataset  # noqa: E402

METHODS = ("dense", "fastfood")


def cnn(method, classes, seed, args):
    """The CNN of the module docstring: float32 [B, 784] in [0, 1] ->
    logits float32 [B, classes]."""
    import keras

    import tf_wta

    inputs = keras.Input((784,))
    x = keras.layers.Reshape((28, 28, 1))(inputs)
    for filters in args.conv_filters:
        x = keras.layers.Conv2D(filters, 5, activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    for i, units in enumerate(args.hidden_units):
        if method == "dense":
            x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
        else:
            x = tf_wta.FastfoodDense(units, activation="relu", seed=seed + i,
                                     name=f"hidden_{i}")(x)
        if args.dropout > 0:
            x = keras.layers.Dropout(args.dropout)(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x), name=method)


def train(method, seed, data, args):
    """Trains one model epoch by epoch; returns its row."""
    import keras
    import numpy as np

    import tf_wta

    x_train, y_train, x_test, y_test, classes = data
    keras.utils.set_random_seed(seed)
    model = cnn(method, classes, seed, args)
    model.compile(tf_wta.LazyAdam(args.learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    top1, seconds = [], []
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=args.batch_size, epochs=1, verbose=0)
        seconds.append(time.perf_counter() - start)
        logits = model.predict(x_test, batch_size=1024, verbose=0)
        top1.append(float(np.mean(np.argmax(logits, axis=1) == y_test)))
        print(f"{method} seed {seed} epoch {len(top1)}: {seconds[-1]:.1f} s, "
              f"test top-1 {top1[-1]:.4f}", flush=True)
    hidden = sum(int(np.prod(w.shape)) for layer in model.layers
                 if layer.name.startswith("hidden_") for w in layer.trainable_weights)
    total = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"method": method, "seed": seed, "hidden_params": hidden, "model_params": total,
            "s_per_epoch": round(statistics.median(seconds[1:] or seconds), 2),
            "top1": round(top1[-1], 4), "top1_per_epoch": [round(t, 4) for t in top1]}


def plot(rows, path):
    """Test top-1 per epoch: one line per method, the mean over seeds where
    there are several (each seed then a thin line of the same colour)."""
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    several = any(row["seed"] == "mean" for row in rows)
    for i, method in enumerate(dict.fromkeys(row["method"] for row in rows)):
        color = f"C{i}"
        for row in (r for r in rows if r["method"] == method):
            epochs = range(1, len(row["top1_per_epoch"]) + 1)
            if several and row["seed"] != "mean":
                ax.plot(epochs, row["top1_per_epoch"], color=color, alpha=0.3, linewidth=0.8)
            else:
                label = "mean over seeds" if several else f"seed {row['seed']}"
                ax.plot(epochs, row["top1_per_epoch"], color=color, marker="o",
                        label=f"{method}, {label} ({row['hidden_params']:,} in the pair)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test top-1")
    ax.set_title("CNN trained end to end: Dense vs FastfoodDense pair")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=tuple(DATASETS), default="fashion_mnist")
    parser.add_argument("--train-size", type=int, default=None,
                        help="training images (default: bench_sparse_hidden's per dataset)")
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--conv-filters", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--hidden-units", type=int, nargs="+", default=[4096, 4096])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="dropout rate after each hidden layer, both methods")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--name", default="fastfood_end_to_end",
                        help="results/<name>.json, .png and .svg")
    args = parser.parse_args(argv)
    if not 0 <= args.dropout < 1:
        parser.error(f"--dropout must be in [0, 1), got {args.dropout}")

    train_size, test_size = DATASETS[args.dataset]
    data = load_dataset(args.dataset, args.train_size or train_size,
                        args.test_size or test_size)
    rows = [train(method, seed, data, args) for seed in args.seeds for method in args.methods]
    compare_with_dense(rows, len(data[3]))
    if len(args.seeds) > 1:
        rows += [mean_over_seeds([r for r in rows if r["method"] == method])
                 for method in args.methods]
    columns = ["method", "seed", "hidden_params", "model_params", "pair_params_vs_dense",
               "s_per_epoch", "top1", "top1_stderr", "points_vs_dense", "points_vs_dense_sd",
               "top1_per_epoch"]
    common.report(args.name, rows, plot, columns,
                  max_top1_stderr=round(math.sqrt(0.25 / len(data[3])), 4), args=vars(args))


def compare_with_dense(rows, test_size):
    """Adds top1_stderr and, where the same seed has a dense row, the
    difference to it in points and its parameter ratio, to every row."""
    dense = {r["seed"]: r for r in rows if r["method"] == "dense"}
    for row in rows:
        row["top1_stderr"] = round(math.sqrt(row["top1"] * (1 - row["top1"]) / test_size), 4)
        reference = dense.get(row["seed"])
        if reference:
            row["points_vs_dense"] = round(100 * (row["top1"] - reference["top1"]), 2)
            row["pair_params_vs_dense"] = round(reference["hidden_params"]
                                                / row["hidden_params"], 1)


def mean_over_seeds(rows):
    """One method's rows (one per seed) -> a row of their means; the
    per-seed differences to dense also give their standard deviation."""
    mean = {"method": rows[0]["method"], "seed": "mean",
            "hidden_params": rows[0]["hidden_params"], "model_params": rows[0]["model_params"]}
    for key in ("s_per_epoch", "top1", "points_vs_dense", "pair_params_vs_dense"):
        if key in rows[0]:
            mean[key] = round(statistics.mean(r[key] for r in rows), 4)
    if "points_vs_dense" in rows[0]:
        mean["points_vs_dense_sd"] = round(statistics.stdev(r["points_vs_dense"] for r in rows), 2)
    mean["top1_per_epoch"] = [round(statistics.mean(epoch), 4)
                              for epoch in zip(*(r["top1_per_epoch"] for r in rows))]
    return mean


if __name__ == "__main__":
    main()
