"""Which hash finds a trained output layer's top classes: candidate recall of hash variants.

    python benchmarks/bench_extreme_classification.py --methods wta-shared \\
        --save-layer benchmarks/results/trained_layer.npz        # train one layer, save it
    python benchmarks/bench_candidate_hashing.py --layer benchmarks/results/trained_layer.npz

Logits are inner products plus a bias, while WTA codes collide by rank
correlation. On one trained `WTADense` (kernel [N, H], bias [N]) and its
inputs on test points, this builds the index of each variant (same windows
seed, tables and codes per table as the layer's defaults) and measures, per
batch of `--batch` test points, three candidate sets: the `--hashed` classes
the batch collides with most in total (`query_index_pooled`, "pooled"), the
union of each point's best `--union-k` classes (`query_index`, "union": the
shared mode's hashed part), and the `--per-example` classes each point
hashes to ("per_example"), with
`tf_wta.candidate_quality`: recall of the exact top-1 / top-10 classes and
the share of the softmax partition function covered. Variants (rows | queries):
  wta            w | x                          (what the layer does)
  wta-centred    w - mean(w) | x                (ranking-preserving: x.mean(w) is common to all classes)
  wta-bias       [w - mean(w), b] | [x, 1]      (the bias enters the hash)
  wta-mips       [w, b, sqrt(M^2 - |w|^2 - b^2)] | [x, 1, 0]  (MIPS-to-NN reduction)
  dwta           w | x with densified_wta_hash  (ReLU inputs have many zeros)
  uniform        random classes (the baseline every hash must beat)
  frequent       the classes of largest bias (a fixed set of frequent classes)
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import tf_wta  # noqa: E402
from tf_wta.layers import hash_settings  # noqa: E402

VARIANTS = ("wta", "wta-centred", "wta-bias", "wta-mips", "dwta", "uniform", "frequent")


def hash_inputs(variant, kernel, bias, features):
    """(rows [N, D'], queries [n, D']) that `variant` hashes (see the docstring)."""
    if variant in ("wta", "dwta"):
        return kernel, features
    centred = kernel - kernel.mean(axis=0)
    ones = np.ones((len(features), 1), np.float32)
    if variant == "wta-centred":
        return centred, features
    if variant == "wta-bias":
        return np.hstack([centred, bias[:, None]]), np.hstack([features, ones])
    norms = np.sum(kernel**2, axis=1) + bias**2
    completion = np.sqrt(np.maximum(norms.max() - norms, 0.0))[:, None]
    return (np.hstack([kernel, bias[:, None], completion]),
            np.hstack([features, ones, np.zeros_like(ones)]))


def hashed_candidates(variant, kernel, bias, features, args):
    """Candidate ids: (pooled, union), one array per batch, and per_example
    [n, per_example]."""
    units = len(kernel)
    batches = [slice(i, i + args.batch) for i in range(0, len(features), args.batch)]
    rng = np.random.default_rng(0)
    if variant == "uniform":
        pooled = [rng.choice(units, args.hashed, replace=False) for _ in batches]
        return pooled, pooled, np.stack([rng.choice(units, args.per_example, replace=False)
                                         for _ in range(len(features))])
    if variant == "frequent":
        top = np.argsort(-bias)
        pooled = [top[:args.hashed] for _ in batches]
        return pooled, pooled, np.tile(top[:args.per_example], (len(features), 1))
    rows, queries = hash_inputs(variant, kernel, bias, features)
    window_size = 8
    codes_per_table = hash_settings.default_codes_per_table(units, window_size)
    windows = tf_wta.wta_windows(rows.shape[1], args.tables * codes_per_table, window_size, 0)
    hash_fn = tf_wta.densified_wta_hash if variant == "dwta" else tf_wta.wta_hash

    def buckets(vectors):
        return tf_wta.wta_buckets(hash_fn(tf.constant(vectors, tf.float32), windows),
                                  window_size, codes_per_table)

    index = tf_wta.build_index(buckets(rows), tf_wta.num_buckets(window_size, codes_per_table))
    query_buckets = buckets(queries)
    pooled = [tf_wta.query_index_pooled(query_buckets[b], index, args.hashed).numpy()
              for b in batches]
    union = [tf_wta.query_index(query_buckets[b], index, args.union_k).numpy().ravel()
             for b in batches]
    return pooled, union, tf_wta.query_index(query_buckets, index, args.per_example).numpy()


def measure(variant, kernel, bias, features, args):
    """Table row: the variant's mean candidate quality, pooled and per example."""
    pooled, union, per_example = hashed_candidates(variant, kernel, bias, features, args)
    row = {"variant": variant}
    batches = range(0, len(features), args.batch)
    for kind, sets in (("pooled", pooled), ("union", union)):
        qualities = [tf_wta.candidate_quality(features[i:i + args.batch], kernel, bias, ids)
                     for i, ids in zip(batches, sets)]
        for name in qualities[0]:
            row[f"{kind}_{name}"] = round(float(np.mean([q[name] for q in qualities])), 3)
        row[f"{kind}_size"] = round(float(np.mean([len(np.unique(ids[ids >= 0]))
                                                   for ids in sets])))
    quality = tf_wta.candidate_quality(features, kernel, bias, per_example)
    for name, value in quality.items():
        row[f"per_example_{name}"] = round(value, 3)
    return row


def plot(rows, path):
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = ["pooled_recall@10", "union_recall@10", "per_example_recall@10"]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.bar(np.arange(len(rows)) + i * width, [r[name] for r in rows], width, label=name)
    ax.set_xticks(np.arange(len(rows)) + 0.4 - width / 2, [r["variant"] for r in rows],
                  rotation=20)
    ax.set(ylabel="recall of the exact top classes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", required=True, help=".npz from --save-layer")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--hashed", type=int, default=256, help="pooled classes per batch")
    parser.add_argument("--union-k", type=int, default=8,
                        help="each point's classes in the union (the shared mode's default)")
    parser.add_argument("--per-example", type=int, default=128, help="classes per point")
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--name", default="candidate_hashing")
    args = parser.parse_args()
    with np.load(args.layer) as data:
        kernel, bias = data["kernel"].astype(np.float32), data["bias"].astype(np.float32)
        features = data["features"].astype(np.float32)
    rows = [measure(variant, kernel, bias, features, args) for variant in args.variants]
    common.report(args.name, rows, plot, units=len(kernel), points=len(features),
                  **{k: v for k, v in vars(args).items() if k not in ("variants", "name")})


if __name__ == "__main__":
    main()
