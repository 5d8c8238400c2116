"""Extreme multi-label classification from the Extreme Classification Repository's format.

    python examples/xml_classification.py                     # offline: writes a synthetic pair
    python examples/xml_classification.py --train Eurlex/train.txt --test Eurlex/test.txt

Trains `sparse input -> Dense(128, relu) -> WTADense(num_labels)` on a
repository file (header `N D L`, lines `l1,l2,... f:v f:v ...`) read by
`tf_wta.xml_repository_dataset` (streaming, sparse features, ragged
labels), with several labels per example and SLIDE's loss (softmax
cross-entropy against the uniform distribution over an example's labels),
then reports the field's metrics, P@k and nDCG@k for k = 1, 3, 5, on the
test file's exact top-5 (`tf_wta.ranking_evaluation`, chunked over the
labels). Without --train it writes a synthetic pair of
files (labels with their own feature signatures) to --output-dir first.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tf_wta  # noqa: E402

KS = (1, 3, 5)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--train", default=None, help="training file (default: synthetic)")
    parser.add_argument("--test", default=None, help="test file (default: synthetic)")
    parser.add_argument("--output-dir", default="xml_classification_output",
                        help="where the synthetic files are written")
    parser.add_argument("--synthetic-labels", type=int, default=20_000)
    parser.add_argument("--synthetic-features", type=int, default=20_000)
    parser.add_argument("--synthetic-points", type=int, default=40_000, help="training points")
    parser.add_argument("--hidden", type=int, default=128, help="relu units")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="LazyAdam")
    parser.add_argument("--verbose", type=int, default=1, help="Keras verbosity (0: silent)")
    return parser.parse_args(argv)


def write_synthetic_pair(directory, num_labels, num_features, num_points, seed=0):
    """Writes train.txt and test.txt (a quarter of the points) in the
    repository's format: 1 to 3 labels per point with Zipf-like frequencies;
    each label owns 8 features, of which a point shows 6 per label plus 20
    random ones. Returns (train path, test path)."""
    rng = np.random.default_rng(seed)
    signatures = rng.integers(0, num_features, (num_labels, 8))
    popularity = 1.0 / np.arange(1, num_labels + 1)
    popularity /= popularity.sum()
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, points in (("train", num_points), ("test", num_points // 4)):
        lines = [f"{points} {num_features} {num_labels}"]
        for _ in range(points):
            labels = rng.choice(num_labels, rng.integers(1, 4), replace=False, p=popularity)
            shown = [rng.choice(signatures[label], 6, replace=False) for label in labels]
            features = np.unique(np.concatenate(shown + [rng.integers(0, num_features, 20)]))
            lines.append(",".join(map(str, labels)) + " " + " ".join(
                f"{feature}:{rng.uniform(0.1, 1.0):.3f}" for feature in features))
        path = os.path.join(directory, f"{name}.txt")
        with open(path, "w") as file:
            file.write("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def build_model(num_features, num_labels, hidden):
    """sparse float32 [B, num_features] -> WTAModel with exact logits [B, num_labels]."""
    inputs = keras.Input((num_features,), sparse=True)
    features = keras.layers.Dense(hidden, activation="relu")(inputs)
    return tf_wta.WTAModel(inputs, tf_wta.WTADense(num_labels, seed=0)(features))


def main(argv=None):
    args = parse_args(argv)
    if args.train is None:
        started = time.perf_counter()
        args.train, args.test = write_synthetic_pair(
            args.output_dir, args.synthetic_labels, args.synthetic_features,
            args.synthetic_points)
        print(f"wrote {args.train} and {args.test} in {time.perf_counter() - started:.1f} s")
    _, num_features, num_labels = tf_wta.xml_repository.read_header(args.train)
    train = tf_wta.xml_repository_dataset(args.train, args.batch_size)
    test = tf_wta.xml_repository_dataset(args.test or args.train, args.batch_size,
                                         num_features=num_features, num_labels=num_labels)
    model = build_model(num_features, num_labels, args.hidden)
    model.compile(tf_wta.LazyAdam(args.learning_rate), tf_wta.MultiLabelSoftmaxCrossentropy())
    print(f"training sparse {num_features} -> {args.hidden} relu -> WTADense({num_labels}), "
          f"{args.epochs} epochs")
    started = time.perf_counter()
    model.fit(train.prefetch(2), epochs=args.epochs, verbose=args.verbose)
    seconds = time.perf_counter() - started
    # Exact top-5 in chunks of units: no [B, num_labels] tensor.
    results = tf_wta.ranking_evaluation(model, test, ks=KS)
    print(f"trained in {seconds:.1f} s; on {args.test or args.train} (exact outputs):")
    print("| k | P@k | nDCG@k |\n|---|---|---|")
    for k in KS:
        print(f"| {k} | {results[f'precision_at_{k}']:.3f} | {results[f'ndcg_at_{k}']:.3f} |")
    return results


if __name__ == "__main__":
    main()
