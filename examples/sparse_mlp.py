"""SLIDE-style sparse MLP: hidden WTADense layers against the same MLP with Dense.

    python examples/sparse_mlp.py                      # offline default: glyphs
    python examples/sparse_mlp.py --dataset mnist --hidden-units 4096 4096

Both MLPs classify flattened images (pixels scaled to [0, 1]) through the
same hidden layer sizes and a Dense output layer. In the sparse one each
hidden layer is a `tf_wta.WTADense(mode="hidden", activation="relu")`: only
the `--num-candidates` units whose weight rows collide with the input's WTA
hash are computed, forward and backward (Spring & Shrivastava 2017); the
others output 0. `--hash-type dwta` hashes with densified WTA (Chen &
Shrivastava 2018), meant for mostly-zero inputs such as pixels and a sparse
layer's ReLU output; it measured worse than plain WTA here (see examples/README.md), so
plain WTA is the default. Prints test accuracy, time per epoch and per step,
and the fraction of the Dense MLP's multiplications that the sparse one
performs.
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_wta  # noqa: E402
from example_data import load_image_splits  # noqa: E402
from training import compile_classifier, fit_and_track  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default="glyphs",
                        help="TFDS image-classification dataset (glyphs: generated offline)")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--test-split", default="test")
    parser.add_argument("--data-dir", default=None, help="TFDS data dir (default: TFDS's own)")
    parser.add_argument("--hidden-units", type=int, nargs="+", default=[4096, 4096],
                        help="units of each hidden layer")
    parser.add_argument("--num-candidates", type=int, default=256,
                        help="units computed per example in each sparse hidden layer")
    parser.add_argument("--num-tables", type=int, default=100, help="hash tables per layer")
    parser.add_argument("--hash-type", choices=("wta", "dwta", "simhash"), default="wta",
                        help="plain or densified WTA, or signed random projections "
                             "(WTADense's hash_type)")
    parser.add_argument("--window-size", type=int, default=8,
                        help="WTA window, or non-zeros per projection for simhash")
    parser.add_argument("--num-uniform", type=int, default=0,
                        help="units drawn uniformly per training step besides the hashed ones")
    parser.add_argument("--rebuild-every", type=int, default=20,
                        help="training steps between index rebuilds")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="LazyAdam")
    parser.add_argument("--verbose", type=int, default=1, help="Keras verbosity (0: silent)")
    return parser.parse_args(argv)


def flat_pixels(dataset, batch_size, shuffle):
    """(image uint8 [H, W, C], label) -> batches of (float32 [B, H*W*C] in [0, 1], int32 [B])."""
    def convert(image, label):
        return tf.reshape(tf.cast(image, tf.float32) / 255.0, [-1]), tf.cast(label, tf.int32)
    dataset = dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if shuffle:
        dataset = dataset.shuffle(50_000, seed=0)
    return dataset.batch(batch_size).prefetch(2)


def mlp(kind, input_dim, hidden_units, num_classes, args):
    """flattened images float32 [B, input_dim] -> logits [B, num_classes]."""
    inputs = keras.Input((input_dim,))
    x = inputs
    for units in hidden_units:
        if kind == "Dense":
            x = keras.layers.Dense(units, activation="relu")(x)
        else:
            x = tf_wta.WTADense(units, activation="relu", mode="hidden",
                                num_candidates=min(args.num_candidates, units),
                                num_tables=args.num_tables, hash_type=args.hash_type,
                                window_size=args.window_size, num_uniform=args.num_uniform,
                                rebuild_every=args.rebuild_every, seed=0)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x), name=f"{kind.lower()}_mlp")


def multiplications(input_dim, hidden_units, num_classes, computed_units):
    """Multiplications per example in the forward pass (hashing excluded: it
    only compares). `computed_units[i]` is how many units of hidden layer i
    are computed."""
    dims = [input_dim] + list(hidden_units)
    hidden = sum(d * c for d, c in zip(dims, computed_units))
    return hidden + dims[-1] * num_classes


def main(argv=None):
    args = parse_args(argv)
    datasets, info = load_image_splits(args.dataset, (args.train_split, args.test_split),
                                       args.data_dir)
    num_classes = info.features["label"].num_classes
    input_dim = int(tf.reduce_prod(info.features["image"].shape))
    train = flat_pixels(datasets[args.train_split], args.batch_size, shuffle=True)
    test = flat_pixels(datasets[args.test_split], 1024, shuffle=False)
    print(f"data: {info.full_name} ({num_classes} classes), {input_dim} pixels per image; "
          f"MLP {input_dim} -> {' -> '.join(map(str, args.hidden_units))} -> {num_classes}")

    rows = []
    for kind in ("Dense", "WTADense"):
        print(f"\ntraining the {kind} MLP")
        keras.utils.set_random_seed(0)
        model = compile_classifier(mlp(kind, input_dim, args.hidden_units, num_classes, args),
                                   tf_wta.LazyAdam(args.learning_rate))
        computed = (args.hidden_units if kind == "Dense"
                    else [min(args.num_candidates, units) for units in args.hidden_units])
        rows.append({"name": kind, **fit_and_track(model, train, test, args.epochs, args.verbose),
                     "mults": multiplications(input_dim, args.hidden_units, num_classes,
                                              computed)})
    print(f"\n{info.full_name}, hidden {args.hidden_units}, {args.num_candidates} candidates per "
          f"sparse layer ({args.hash_type}, {args.num_tables} tables), {args.epochs} epochs, "
          f"batch {args.batch_size}")
    print(f"{'MLP':>8}  {'top-1':>6}  {'top-5':>6}  {'s/epoch':>7}  {'ms/step':>7}  "
          f"{'speedup':>7}  {'mults/example':>13}  {'fraction':>8}")
    for row in rows:
        print(f"{row['name']:>8}  {row['top1']:6.3f}  {row['top5']:6.3f}  {row['epoch_s']:7.2f}  "
              f"{row['step_ms']:7.1f}  {rows[0]['step_ms'] / row['step_ms']:6.1f}x  "
              f"{row['mults']:13,d}  {row['mults'] / rows[0]['mults']:8.1%}")


if __name__ == "__main__":
    main()
