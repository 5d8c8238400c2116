"""FastfoodDense against Dense as the hidden fully connected pair of a new top
on frozen CNN features (glyphs, offline, CPU).

    python benchmarks/bench_fastfood_dense.py       # ~30 min on 2 heavily loaded cores
    python benchmarks/bench_fastfood_dense.py --classes 0 --epochs 10 --batch-size 512
    python benchmarks/bench_fastfood_dense.py --methods fastfood --diagonal-learning-rate 1e-2
    python benchmarks/bench_fastfood_dense.py --optimizer sgd --learning-rate 1e-2

The features are the retraining example's (examples/retrain_top.py): a
frozen, randomly initialised (seeded) DenseNet121 at 32x32 on "glyphs/6k"
(1,024 features; computed once and cached, the example's cache is reused),
restricted to the first --classes classes. Every method trains the same kind
of top on them, side by side in one process, with the same optimizer,
batches and epochs (examples/hidden_layer_tops.py): Adam (tf_wta.LazyAdam)
or SGD with momentum (--optimizer), optionally with a learning rate of its
own for FastfoodDense's diagonals (--diagonal-learning-rate,
examples/learning_rate_groups.py) and wider FastfoodDense layers
(--fastfood-units), with dropout after each hidden layer (--dropout):

  dense:          standardise -> Dense(4096, relu) -> Dense(4096, relu) -> Dense(classes)
  fastfood:       the hidden pair as FastfoodDense(4096, relu) (adaptive: S, G, B learned)
  fastfood-fixed: FastfoodDense with fixed diagonals (Le et al.; only biases train there)
  fastfood-gb, fastfood-s: FastfoodDense learning only G and B, or only S (diagnostics)
  dense-fixed:    the Dense pair frozen at its random initialisation (random ReLU
                  features, as fastfood-fixed; a diagnostic)
  linear:         standardise -> Dense(classes) (the example's Dense top, for reference)

Reported per method: trainable parameters of the hidden layers and of the
whole top, median ms per training step and s per epoch (first epoch left
out: tracing), test top-1/top-5 after the last epoch (top-1 after every
epoch too, and the training top-1 of each epoch) and the difference to dense in points, with the binomial standard error of a top-1 on this test
set, and the mean |S| of each FastfoodDense layer before -> after training.
Writes results/fastfood_dense.json (--name) and .png/.svg (test top-1 against
training time). The issue's target: the FastfoodDense pair has >= 10x fewer
parameters than the Dense pair and its top-1 is within 1 point of dense's.
"""
import argparse
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))

import common  # noqa: E402
from markdown_table import markdown_table  # noqa: E402

METHODS = {  # name -> (hidden layer, learned diagonals or None, hidden layers used)
    "dense": ("Dense", None, True),
    "dense-fixed": ("Dense", "", True),
    "fastfood": ("FastfoodDense", "SGB", True),
    "fastfood-fixed": ("FastfoodDense", "", True),
    "fastfood-gb": ("FastfoodDense", "GB", True),
    "fastfood-s": ("FastfoodDense", "S", True),
    "linear": ("Dense", None, False),
}
COLUMNS = ["method", "hidden", "hidden_params", "top_params", "hidden_params_vs_dense",
           "top_params_vs_dense", "ms_per_step", "step_speedup", "s_per_epoch", "top1", "top5",
           "top1_vs_dense_points", "mean_abs_S", "top1_per_epoch",
           "train_top1_per_epoch"]


def glyph_features(args):
    """(x_train float32 [N, D], y_train int32 [N], x_test, y_test) of the
    first `args.classes` classes (all when 0), from the example's cache."""
    import numpy as np
    from example_data import load_image_splits, resized_rgb
    from features import cache_path, cached_features, load_backbone, preprocess_function

    weights = None if args.weights == "none" else args.weights
    datasets, info = load_image_splits(args.dataset, ("train", "test"), args.data_dir)
    backbone, preprocess = None, preprocess_function(args.backbone)
    arrays = []
    for split in ("train", "test"):
        path = cache_path(args.cache_dir, args.backbone, weights, info.full_name, split,
                          args.image_size)
        if backbone is None and not os.path.exists(path):
            backbone = load_backbone(args.backbone, weights, args.image_size)
        x, y, seconds = cached_features(path, backbone, preprocess,
                                        resized_rgb(datasets[split], args.image_size),
                                        verbose=0)
        print(f"features {split}: {x.shape[0]} x {x.shape[1]}, "
              f"{f'computed in {seconds:.0f} s' if seconds else 'read from cache'} ({path})")
        keep = y < args.classes if args.classes else np.ones(len(y), bool)
        arrays += [x[keep], y[keep].astype(np.int32)]
    return arrays, info.full_name


def run_method(name, args, data):
    import keras
    import numpy as np
    import tensorflow as tf

    import tf_wta
    from hidden_layer_tops import hidden_layer_top, trainable_parameters
    from learning_rate_groups import make_optimizer
    from training import compile_classifier, fit_and_track

    hidden_layer, learned, has_hidden = METHODS[name]
    x_train, y_train, x_test, y_test = data
    num_classes = int(y_train.max()) + 1
    hidden_units = ((args.fastfood_units or args.hidden_units) if hidden_layer == "FastfoodDense"
                    else args.hidden_units) if has_hidden else []
    keras.utils.set_random_seed(0)
    top = hidden_layer_top(hidden_layer, hidden_units, x_train.mean(0), x_train.var(0),
                           num_classes, learn_diagonals=learned or "", dropout=args.dropout)
    fastfood_layers = [layer for layer in top.layers if isinstance(layer, tf_wta.FastfoodDense)]
    if hidden_layer == "Dense" and learned == "":
        for layer in top.layers[:-1]:
            if isinstance(layer, keras.layers.Dense):
                layer.trainable = False
    scale_before = [float(np.mean(np.abs(layer.scaling.numpy()))) for layer in fastfood_layers]
    compile_classifier(top, make_optimizer(args.optimizer, args.learning_rate, args.momentum,
                                           args.diagonal_learning_rate, top))
    train = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
             .shuffle(len(y_train), seed=0).batch(args.batch_size).prefetch(2))
    test = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(1024)
    print(f"\n{name}: {top.name}, hidden {hidden_units or 'none'}", flush=True)
    result = fit_and_track(top, train, test, args.epochs, verbose=args.verbose)
    scale_after = [float(np.mean(np.abs(layer.scaling.numpy()))) for layer in fastfood_layers]
    trained = (f" (learned: {learned or 'none'})" if hidden_layer == "FastfoodDense"
               else " (fixed)" if learned == "" else "")
    hidden = (f"{len(hidden_units)} x {hidden_units[0]} {hidden_layer}{trained}"
              if has_hidden else "none")
    return {"method": name, "hidden": hidden,
            "mean_abs_S": ", ".join(f"{a:.1e}->{b:.1e}" for a, b in zip(scale_before, scale_after))
            or None,
            "hidden_params": trainable_parameters(top, hidden_only=True),
            "top_params": trainable_parameters(top),
            "ms_per_step": round(result["step_ms"], 1), "s_per_epoch": round(result["epoch_s"], 2),
            "top1": round(result["top1"], 4), "top5": round(result["top5"], 4),
            "top1_per_epoch": ", ".join(f"{a:.4f}" for _, a in result["curve"]),
            "train_top1_per_epoch": ", ".join(f"{a:.4f}" for a in result["train_top1"]),
            "curve": [[round(s, 2), round(a, 4)] for s, a in result["curve"]]}


def compare_with_dense(rows):
    """Adds the ratios to the dense row (parameters, step time) and the top-1
    difference in points."""
    dense = next((row for row in rows if row["method"] == "dense"), None)
    for row in rows:
        if dense is None:
            continue
        for key in ("hidden_params", "top_params"):
            row[f"{key}_vs_dense"] = (f"{dense[key] / row[key]:.1f}x fewer" if row[key] else "-")
        row["step_speedup"] = f"{dense['ms_per_step'] / row['ms_per_step']:.2f}x"
        row["top1_vs_dense_points"] = round(100 * (row["top1"] - dense["top1"]), 2)
    return dense


def plot(rows, path):
    from plotting import plot_curves

    return plot_curves({row["method"]: row["curve"] for row in rows}, path,
                       "hidden pair on glyph CNN features: Dense vs FastfoodDense")


def optimizer_description(args):
    """e.g. "SGD 0.01 (momentum 0.9), diagonals at 0.1"."""
    text = (f"Adam {args.learning_rate}" if args.optimizer == "adam"
            else f"SGD {args.learning_rate} (momentum {args.momentum})")
    if args.diagonal_learning_rate is not None:
        text += f", diagonals at {args.diagonal_learning_rate}"
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="glyphs/6k")
    parser.add_argument("--data-dir", default=None, help="TFDS data dir (default: TFDS's own)")
    parser.add_argument("--backbone", default="DenseNet121")
    parser.add_argument("--weights", default="none",
                        help="none (random, seeded: the offline default) or a weights file")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/tf_wta/features"))
    parser.add_argument("--classes", type=int, default=1000,
                        help="keep the first CLASSES classes (0: all)")
    parser.add_argument("--hidden-units", type=int, nargs="+", default=[4096, 4096])
    parser.add_argument("--fastfood-units", type=int, nargs="+", default=None,
                        help="hidden layer widths of the FastfoodDense arms (default: "
                             "--hidden-units; the paper's Fastfood-16 is 16384 wide)")
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="dropout rate after each hidden layer (AlexNet's: 0.5)")
    parser.add_argument("--methods", nargs="+", choices=tuple(METHODS),
                        default=["dense", "fastfood", "linear"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                        help="adam: tf_wta.LazyAdam (plain Adam on dense gradients); sgd: SGD "
                             "with --momentum (the paper's)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD's momentum")
    parser.add_argument("--diagonal-learning-rate", type=float, default=None,
                        help="learning rate of the FastfoodDense diagonals S, G, B "
                             "(default: --learning-rate)")
    parser.add_argument("--name", default="fastfood_dense",
                        help="results/NAME.json, .png and .svg")
    parser.add_argument("--verbose", type=int, default=0, help="Keras verbosity")
    args = parser.parse_args(argv)
    if args.classes < 0:
        parser.error(f"--classes must be >= 0, got {args.classes}")
    if not 0 <= args.dropout < 1:
        parser.error(f"--dropout must be in [0, 1), got {args.dropout}")
    for flag in ("learning_rate", "diagonal_learning_rate"):
        value = getattr(args, flag)
        if value is not None and not value > 0:
            parser.error(f"--{flag.replace('_', '-')} must be > 0, got {value}")

    (x_train, y_train, x_test, y_test), dataset = glyph_features(args)
    print(f"{dataset}, first {args.classes or 'all'} classes: {len(y_train)} train, "
          f"{len(y_test)} test examples; {args.epochs} epochs, batch {args.batch_size}, "
          f"{optimizer_description(args)}, dropout {args.dropout}")
    data = (x_train, y_train, x_test, y_test)
    rows = [run_method(name, args, data) for name in args.methods]
    dense = compare_with_dense(rows)
    common.report(args.name, rows, plot, COLUMNS, dataset=dataset, args=vars(args),
                  train_examples=len(y_train), test_examples=len(y_test))
    print("\n".join(markdown_table(rows, COLUMNS)))
    if dense is not None:
        stderr = 100 * math.sqrt(max(dense["top1"] * (1 - dense["top1"]), 1e-12) / len(y_test))
        print(f"standard error of a top-1 on {len(y_test)} test examples: {stderr:.2f} points")
        for row in rows:
            if row["method"].startswith("fastfood"):
                fewer = dense["hidden_params"] / row["hidden_params"]
                points = row["top1_vs_dense_points"]
                print(f"target, {row['method']}: {fewer:.0f}x fewer hidden parameters "
                      f"({'met' if fewer >= 10 else 'MISSED'}: >= 10x), top-1 {points:+.2f} "
                      f"points vs dense ({'met' if points >= -1 else 'MISSED'}: within 1 point)")
    return rows


if __name__ == "__main__":
    main()
