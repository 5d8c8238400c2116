"""FastfoodDense against Dense as the fully connected pair of a small CNN
trained end to end, as Deep Fried Convnets train theirs (offline, CPU).

    python benchmarks/bench_fastfood_end_to_end.py                  # Fashion-MNIST, ~15 min on 2 quiet cores
    python benchmarks/bench_fastfood_end_to_end.py --dataset convex --epochs 8

bench_fastfood_dense.py compares the two tops on frozen features of a
randomly initialised backbone, where the paper's result cannot show: the
paper trains the convolutional layers together with the Fastfood layers.
Here both models are the same LeNet-like CNN, trained from scratch with the
same optimizer (tf_wta.LazyAdam), batches and epochs, side by side in one
process:

  28x28 image -> Conv2D(32, 5, relu) -> MaxPool(2) -> Conv2D(64, 5, relu)
  -> MaxPool(2) -> Flatten (1,024 features) -> hidden pair -> Dense(classes)

with the hidden pair Dense(4096, relu) x 2 ("dense") or adaptive
FastfoodDense(4096, relu) x 2 ("fastfood": S, G, B learned). Data:
Fashion-MNIST from Debian's dataset-fashion-mnist package (the script says
how to install it when it is absent), or Rectangles / Convex generated as
Larochelle et al. describe (benchmarks/larochelle_shapes.py).

Reported per method: trainable parameters of the hidden pair and of the
whole model, s per epoch (median over the epochs after the first), test
top-1 after every epoch, the last one's difference to dense in points and
the binomial standard error of a top-1 on this test set. Writes
results/fastfood_end_to_end.json and .png/.svg (test top-1 per epoch).
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


def cnn(method, classes, args):
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
            x = tf_wta.FastfoodDense(units, activation="relu", seed=args.seed + i,
                                     name=f"hidden_{i}")(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x), name=method)


def train(method, data, args):
    """Trains one model epoch by epoch; returns its row."""
    import keras
    import numpy as np

    import tf_wta

    x_train, y_train, x_test, y_test, classes = data
    keras.utils.set_random_seed(args.seed)
    model = cnn(method, classes, args)
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
    hidden = sum(int(np.prod(w.shape)) for layer in model.layers
                 if layer.name.startswith("hidden_") for w in layer.trainable_weights)
    total = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"method": method, "hidden_params": hidden, "model_params": total,
            "s_per_epoch": round(statistics.median(seconds[1:] or seconds), 2),
            "top1": round(top1[-1], 4), "top1_per_epoch": [round(t, 4) for t in top1]}


def plot(rows, path):
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in rows:
        epochs = range(1, len(row["top1_per_epoch"]) + 1)
        ax.plot(epochs, row["top1_per_epoch"], marker="o",
                label=f"{row['method']} ({row['hidden_params']:,} in the pair)")
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
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    train_size, test_size = DATASETS[args.dataset]
    data = load_dataset(args.dataset, args.train_size or train_size,
                        args.test_size or test_size)
    rows = [train(method, data, args) for method in args.methods]
    reference = {r["method"]: r for r in rows}.get("dense")
    stderr = math.sqrt(0.25 / len(data[3]))
    for row in rows:
        row["top1_stderr"] = round(math.sqrt(row["top1"] * (1 - row["top1"]) / len(data[3])), 4)
        if reference:
            row["points_vs_dense"] = round(100 * (row["top1"] - reference["top1"]), 2)
            row["pair_params_vs_dense"] = round(reference["hidden_params"]
                                                / row["hidden_params"], 1)
    columns = ["method", "hidden_params", "model_params", "pair_params_vs_dense", "s_per_epoch",
               "top1", "top1_stderr", "points_vs_dense", "top1_per_epoch"]
    common.report("fastfood_end_to_end", rows, plot, columns,
                  max_top1_stderr=round(stderr, 4), **vars(args))


if __name__ == "__main__":
    main()
