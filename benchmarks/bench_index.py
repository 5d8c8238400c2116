"""build_index and query_index against stock TensorFlow equivalents on the CPU.

    python benchmarks/bench_index.py [--repeats 5]

build_index is compared with a stable tf.argsort of each table; query_index
(B=256, C=128; with and without the O(L*N) index check, with and without a
bucket cap) with dense collision counting (B x N per table) and
tf.math.top_k, where the [B, N] counts fit in memory (N=100,000). Prints a
table, writes benchmarks/results/index.json and index.png. Both methods run
as tf.functions in the same process; compare ratios across machines.
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import common  # noqa: E402
import tf_wta  # noqa: E402

NUM_TABLES = 50
BATCH, NUM_CANDIDATES = 256, 128
# (N, num_buckets): K=8 windows with 3 codes per table (512 buckets), and 8
# codes per table (8**8 buckets: a three-pass radix sort, sparse buckets).
INDEXES = [(100_000, 8**3), (1_000_000, 8**3), (1_000_000, 8**8)]
DENSE_QUERY_MAX_UNITS = 100_000  # [B, N] int32 counts: 100 MB here


@tf.function(jit_compile=False)
def pure_tf_build(unit_buckets):
    keys = tf.transpose(unit_buckets)
    order = tf.argsort(keys, axis=1, stable=True)
    return tf.gather(keys, order, batch_dims=1), order


@tf.function(jit_compile=False)
def pure_tf_query(query_buckets, unit_buckets):
    """Dense counts[b, n] over the tables, then top C (top_k keeps the
    lower id first among equal counts); -1 where the count is 0."""
    counts = tf.zeros([tf.shape(query_buckets)[0], tf.shape(unit_buckets)[0]], tf.int32)
    for t in range(NUM_TABLES):
        counts += tf.cast(tf.equal(query_buckets[:, t:t + 1], unit_buckets[None, :, t]), tf.int32)
    best, ids = tf.math.top_k(counts, NUM_CANDIDATES)
    return tf.where(best > 0, ids, -1)


def timed(fn, repeats):
    return round(common.median_seconds(fn, repeats, warmup=1) * 1e3, 2)


def run(repeats):
    rng = np.random.default_rng(0)
    rows = []
    for num_units, num_buckets in INDEXES:
        unit_buckets = tf.constant(rng.integers(0, num_buckets, (num_units, NUM_TABLES), np.int32))
        build = tf.function(lambda ub, nb=num_buckets: tf_wta.build_index(ub, nb),
                            jit_compile=False)
        index = build(unit_buckets)
        pure_keys, pure_units = pure_tf_build(unit_buckets)
        np.testing.assert_array_equal(index.sorted_units.numpy(), pure_units.numpy())
        np.testing.assert_array_equal(index.sorted_buckets.numpy(), pure_keys.numpy())
        ours = timed(lambda: build(unit_buckets).sorted_units.numpy(), repeats)
        pure = timed(lambda: pure_tf_build(unit_buckets)[1].numpy(), repeats)
        rows.append({"op": "build_index", "N": num_units, "L": NUM_TABLES,
                     "num_buckets": num_buckets, "B": "", "cap": "", "checked": "yes",
                     "stock_tf_ms": pure,
                     "tf_wta_ms": ours, "speedup": round(pure / ours, 1)})

        # Queries made like units, so each collides with ~L * N / num_buckets entries.
        query_buckets = tf.constant(rng.integers(0, num_buckets, (BATCH, NUM_TABLES), np.int32))
        for cap, check in ((None, True), (None, False), (128, False)):
            query = tf.function(lambda q, cap=cap, check=check: tf_wta.query_index(
                q, index, NUM_CANDIDATES, max_bucket_size=cap, check_index=check),
                jit_compile=False)
            candidates = query(query_buckets).numpy()
            ours = timed(lambda: query(query_buckets).numpy(), repeats)
            pure = ""
            if cap is None and check and num_units <= DENSE_QUERY_MAX_UNITS:
                np.testing.assert_array_equal(
                    candidates, pure_tf_query(query_buckets, unit_buckets).numpy())
                pure = timed(lambda: pure_tf_query(query_buckets, unit_buckets).numpy(), repeats)
            rows.append({"op": "query_index", "N": num_units, "L": NUM_TABLES,
                         "num_buckets": num_buckets, "B": BATCH, "cap": cap or "none",
                         "checked": "yes" if check else "no",
                         "stock_tf_ms": pure, "tf_wta_ms": ours,
                         "speedup": round(pure / ours, 1) if pure else ""})
    return rows


def plot(rows, path):
    plt = common.pyplot()
    labels = [f"{r['op'].split('_')[0]} N={r['N']:,} nb={r['num_buckets']}"
              + (f" cap={r['cap']} check={r['checked']}" if r["B"] else "") for r in rows]
    positions = np.arange(len(rows))[::-1]
    fig, ax = plt.subplots(figsize=(9, 6))
    ax.barh(positions + 0.2, [r["stock_tf_ms"] or 0 for r in rows], 0.4,
            label="stock TF (argsort / dense counts + top_k)")
    ax.barh(positions - 0.2, [r["tf_wta_ms"] for r in rows], 0.4, label="tf_wta")
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("median ms per call (CPU)")
    ax.set_title(f"Bucket index, L={NUM_TABLES} tables, queries B={BATCH} C={NUM_CANDIDATES}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = run(args.repeats)
    common.report("index", rows, plot)


if __name__ == "__main__":
    main()
