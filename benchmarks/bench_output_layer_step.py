"""One SGD step of a huge softmax output layer: hashed (tf_wta ops) against dense.

    python benchmarks/bench_output_layer_step.py [--units 100000 300000 1000000]

Hashed step: hash the batch (wta_hash, wta_buckets), query the candidates
(query_index) with the true label forced in, hashed_matmul, softmax
cross-entropy over the candidates, sparse SGD update of the touched rows
(tf_wta.sparse_apply_sgd).
The index rebuild (hash every weight row, build_index) is timed on its own
and amortised over --rebuild-every steps. Dense step: tf.matmul, full
softmax cross-entropy, dense SGD update. Each (method, units) runs in its own
process so its peak memory is its own: the peak resident memory while stepping
(weights included, their initialisation excluded), and for the hashed layer
separately while rebuilding the index. Prints a table, writes
benchmarks/results/output_layer_step.json and .png.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import common  # noqa: E402


def make_problem(units, dim, batch, seed):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    # Drawn in place in numpy and freed after the copy, so no initialisation
    # temporary stays resident and the measured peak is the steps' own.
    initial = rng.standard_normal((units, dim), dtype=np.float32)
    initial *= dim**-0.5
    weights = tf.Variable(initial)
    del initial
    bias = tf.Variable(tf.zeros([units]))
    x = tf.constant(rng.standard_normal((batch, dim)), tf.float32)
    labels = tf.constant(rng.integers(0, units, batch), tf.int32)
    return weights, bias, x, labels


def dense_worker(args):
    import tensorflow as tf

    weights, bias, x, labels = make_problem(args.units, args.dim, args.batch, args.seed)

    @tf.function(jit_compile=False)
    def step():
        with tf.GradientTape() as tape:
            logits = tf.matmul(x, weights, transpose_b=True) + bias
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        grad_w, grad_b = tape.gradient(loss, [weights, bias])
        weights.assign_sub(args.learning_rate * grad_w)
        bias.assign_sub(args.learning_rate * grad_b)
        return loss

    common.reset_peak_memory()
    seconds = common.median_seconds(lambda: step().numpy(), args.steps, warmup=2)
    return {"step_ms": seconds * 1e3, "rebuild_ms": 0.0, "amortised_ms": seconds * 1e3}


def hashed_worker(args):
    import tensorflow as tf

    import tf_wta
    from tf_wta.candidates import candidates_with_labels
    from tf_wta.layers.hash_settings import default_codes_per_table

    weights, bias, x, labels = make_problem(args.units, args.dim, args.batch, args.seed)
    if args.codes_per_table is None:
        args.codes_per_table = default_codes_per_table(args.units, args.window_size)
    num_hashes = args.num_tables * args.codes_per_table
    windows = tf_wta.wta_windows(args.dim, num_hashes, args.window_size, seed=args.seed)
    num_buckets = tf_wta.num_buckets(args.window_size, args.codes_per_table)

    def unit_buckets(vectors):
        codes = tf_wta.wta_hash(vectors, windows)
        return tf_wta.wta_buckets(codes, args.window_size, args.codes_per_table)

    index = [tf.Variable(t, trainable=False)
             for t in tf_wta.build_index(unit_buckets(weights), num_buckets)]

    @tf.function(jit_compile=False)
    def rebuild():
        for variable, tensor in zip(index, tf_wta.build_index(unit_buckets(weights), num_buckets)):
            variable.assign(tensor)
        return index[0][0, 0]

    @tf.function(jit_compile=False)
    def step():
        # check_index=False as in WTADense: the index comes straight from
        # build_index, so the O(L * N) validation pass is skipped.
        candidates = tf_wta.query_index(unit_buckets(x), tuple(v.read_value() for v in index),
                                        args.num_candidates, check_index=False)
        candidates, positions = candidates_with_labels(candidates, labels)
        with tf.GradientTape() as tape:
            logits = tf_wta.hashed_matmul(x, weights, candidates, bias)
            logits = tf.where(candidates >= 0, logits, tf.float32.min)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(positions, logits))
        grad_w, grad_b = tape.gradient(loss, [weights, bias])
        # Fused in-place sparse update: unlike Variable.scatter_sub it keeps
        # the next step's full read of `weights` from copying the variable.
        tf_wta.sparse_apply_sgd(weights, args.learning_rate, grad_w)
        tf_wta.sparse_apply_sgd(bias, args.learning_rate, grad_b)
        return loss

    common.reset_peak_memory()
    step_s = common.median_seconds(lambda: step().numpy(), args.steps, warmup=3)
    step_peak_mb = common.peak_memory_mb()
    common.reset_peak_memory()
    rebuild_s = common.median_seconds(lambda: rebuild().numpy(), args.rebuild_repeats, warmup=1)
    return {"step_ms": step_s * 1e3, "rebuild_ms": rebuild_s * 1e3,
            "amortised_ms": (step_s + rebuild_s / args.rebuild_every) * 1e3,
            "peak_rss_mb": step_peak_mb, "rebuild_peak_mb": common.peak_memory_mb()}


def plot(rows, path):
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, label in (("dense", "Dense (tf.matmul + full softmax)"),
                          ("hashed", "tf_wta ops (amortised rebuild)")):
        points = [(r["units"], r[f"{method}_ms"]) for r in rows if r.get(f"{method}_ms")]
        ax.plot(*zip(*points), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("output units")
    ax.set_ylabel("ms per SGD step (CPU)")
    ax.set_title("Output layer step, batch 256, 1280 inputs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--num-candidates", type=int, default=128)
    parser.add_argument("--num-tables", type=int, default=50)
    parser.add_argument("--codes-per-table", type=int, default=None,
                        help="default: WTADense's default for the number of units")
    parser.add_argument("--window-size", type=int, default=8)
    parser.add_argument("--rebuild-every", type=int, default=50)
    parser.add_argument("--rebuild-repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dense-steps", type=int, default=3, help="steps for Dense above 300,000 units")
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=["dense", "hashed"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        args.units = args.units[0]
        result = (dense_worker if args.worker == "dense" else hashed_worker)(args)
        result.setdefault("peak_rss_mb", common.peak_memory_mb())
        print(json.dumps(result))
        return

    rows = []
    for units in args.units:
        row = {"units": units}
        for method in ("dense", "hashed"):
            steps = args.dense_steps if method == "dense" and units > 300_000 else args.steps
            result = common.run_worker(os.path.abspath(__file__), args, worker=method,
                                       units=units, steps=steps)
            if result is None:
                row[f"{method}_ms"] = None
                continue
            row[f"{method}_ms"] = round(result["amortised_ms"], 1)
            row[f"{method}_peak_mb"] = round(result["peak_rss_mb"])
            if method == "hashed":
                row["hashed_step_ms"] = round(result["step_ms"], 1)
                row["rebuild_ms"] = round(result["rebuild_ms"], 1)
                row["rebuild_peak_mb"] = round(result["rebuild_peak_mb"])
        if row.get("dense_ms") and row.get("hashed_ms"):
            row["speedup"] = round(row["dense_ms"] / row["hashed_ms"], 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    columns = ["units", "dense_ms", "hashed_ms", "speedup", "hashed_step_ms", "rebuild_ms",
               "dense_peak_mb", "hashed_peak_mb", "rebuild_peak_mb"]
    settings = {k: v for k, v in vars(args).items() if k != "worker"}
    common.report("output_layer_step", rows, plot,
                  columns, **settings)


if __name__ == "__main__":
    main()
