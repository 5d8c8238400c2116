"""What one parameter-server shard of a huge WTADense costs per step, and what
a 10^7- or 10^8-class layer would need (docs/distributed.md, "Scale").

    python benchmarks/bench_shard_costs.py [--shard-rows 100000 300000 1000000]

A shard holds rows [R, D] of the kernel, their two LazyAdam moments and,
in the hashed modes only, a hash index of its rows. Per training step it
serves the rows of the step's candidate set that fall in its range (a
gather of k rows, which the worker reads over the network) and applies the
sparse gradient of those rows (`tf_wta.sparse_apply_adam`, LazyAdam's
update); with hashed candidates it also answers the batch's query
(`HashIndex.query`, B vectors against its own rows) and rebuilds its index
every `--rebuild-every` steps. Each R runs in its own process, on this
machine's cores, with the rows in local memory: network time is not in
these figures but estimated from the bytes a step moves.

The worker's side (the shared-candidate step's GEMM, softmax and gradients
over the whole candidate set, none of which depends on the number of
classes) is timed once, as `worker_ms` at k = batch + num_uniform rows.

The estimate, for --workers workers and the default shared candidates
(no index on the shards): shards = the memory the kernel and its moments
need (3 x 4 x C x D bytes, bias ignored) over --shard-memory-gb; a worker
moves the candidate rows it reads plus their gradient per step,
2 x k x (4 D + 8) bytes, and a shard the k / shards rows of every worker;
step time = worker compute + the busier network side (the worker's link or
a shard's, at --network-gbit) + a shard's gather + update of all workers'
rows, served one after another (measured on the largest shard, linear
between the measured k). --estimate-only recomputes the estimate from the
last results/shard_costs.json with other --classes, --workers, memory or
bandwidth. Writes results/shard_costs.json and .png.
"""
import argparse
import json
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import common  # noqa: E402


def shard_worker(args):
    """Times gather, update, query and rebuild on one shard of args.shard_rows rows."""
    import numpy as np
    import tensorflow as tf

    import tf_wta
    from tf_wta.layers.hash_index import HashIndex

    rng = np.random.default_rng(args.seed)
    initial = rng.standard_normal((args.shard_rows, args.dim), dtype=np.float32)
    initial *= args.dim**-0.5
    kernel = tf.Variable(initial)
    del initial
    m, v = tf.Variable(tf.zeros_like(kernel)), tf.Variable(tf.zeros_like(kernel))
    queries = tf.constant(rng.standard_normal((args.batch, args.dim), dtype=np.float32))
    result = {}
    for touched in args.touched:
        ids = tf.constant(rng.choice(args.shard_rows, min(touched, args.shard_rows),
                                     replace=False), tf.int32)
        rows_grad = tf.constant(rng.standard_normal((len(ids), args.dim), dtype=np.float32))
        gather = tf.function(lambda ids=ids: tf.gather(kernel, ids))

        @tf.function
        def update(ids=ids, gradient=rows_grad):
            tf_wta.sparse_apply_adam(kernel, m, v, 1e-3, 0.9, 0.999, 1e-7,
                                     tf.IndexedSlices(gradient, ids))
            return tf.constant(0)

        result[f"gather_ms@{touched}"] = 1e3 * common.median_seconds(
            lambda: gather().numpy(), args.repeats)
        result[f"update_ms@{touched}"] = 1e3 * common.median_seconds(
            lambda: update().numpy(), args.repeats)
    if args.num_candidates:
        index = HashIndex(num_tables=args.num_tables, seed=args.seed)
        index.build(kernel.shape)
        rebuild = tf.function(lambda: index.rebuild(kernel))
        query = tf.function(lambda: index.query(queries, args.num_candidates))
        common.reset_peak_memory()
        result["rebuild_ms"] = 1e3 * common.median_seconds(
            lambda: rebuild().numpy(), args.rebuild_repeats, warmup=1)
        result["query_ms"] = 1e3 * common.median_seconds(lambda: query().numpy(), args.repeats)
        result["index_mb"] = sum(w.numpy().nbytes for w in index.weights) / 2**20
    result["peak_rss_mb"] = common.peak_memory_mb()
    return result


def worker_compute(args):
    """Times the worker's step over k = batch + num_uniform gathered rows."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(args.seed)
    k = args.batch + args.num_uniform
    features = tf.constant(rng.standard_normal((args.batch, args.dim), dtype=np.float32))
    rows = tf.constant(rng.standard_normal((k, args.dim), dtype=np.float32) * args.dim**-0.5)
    labels = tf.constant(np.arange(args.batch), tf.int32)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch([features, rows])
            logits = tf.matmul(features, rows, transpose_b=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        return tape.gradient(loss, [features, rows])

    return {"worker_ms": 1e3 * common.median_seconds(lambda: [g.numpy() for g in step()],
                                                     args.repeats)}


def interpolate_ms(rows, column, touched):
    """Per-shard ms of `column` at `touched` rows: linear in the measured
    touched counts of the largest shard measured (clamped at the ends)."""
    row = rows[-1]
    points = sorted((int(key.split("@")[1]), value) for key, value in row.items()
                    if key.startswith(column + "@") and value is not None)
    for (k0, t0), (k1, t1) in zip(points, points[1:]):
        if touched <= k1:
            return t0 + (t1 - t0) * max(0.0, (touched - k0) / (k1 - k0))
    return points[-1][1] * touched / points[-1][0]


def estimate(rows, worker_ms, args):
    """Shards, bytes and step time for each of args.classes (list of dicts)."""
    k = args.batch + args.num_uniform
    row_bytes = 2 * (4 * args.dim + 8)  # a row read and its gradient written
    table = []
    for classes in args.classes:
        state_bytes = 3 * 4 * classes * args.dim
        shards = math.ceil(state_bytes / (args.shard_memory_gb * 2**30))
        per_shard = math.ceil(k / shards)
        shard_ms = args.workers * (interpolate_ms(rows, "gather_ms", per_shard)
                                   + interpolate_ms(rows, "update_ms", per_shard))
        busiest_link_bytes = max(k, args.workers * per_shard) * row_bytes
        network_ms = 1e3 * busiest_link_bytes * 8 / (args.network_gbit * 1e9)
        table.append({"classes": classes, "state_gb": round(state_bytes / 2**30),
                      "shards": shards, "rows_per_shard": classes // shards,
                      "rows_per_shard_per_step": per_shard * args.workers,
                      "mb_per_worker_step": round(k * row_bytes / 2**20, 1),
                      "mb_per_shard_step": round(args.workers * per_shard * row_bytes / 2**20, 1),
                      "network_ms": round(network_ms, 1), "shard_ms": round(shard_ms, 1),
                      "worker_ms": round(worker_ms, 1),
                      "step_ms": round(worker_ms + network_ms + shard_ms, 1)})
    return table


def print_estimate(rows, worker_ms, args):
    """Prints and returns the estimate table."""
    table = estimate(rows, worker_ms, args)
    print(f"\nEstimate ({args.workers} workers of {worker_ms:.1f} ms compute per step, "
          f"{args.network_gbit:g} Gbit/s, {args.shard_memory_gb:g} GB per shard):")
    common.print_table(table, list(table[0]))
    return table


def plot(rows, path):
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for column, label in (("gather_ms", "gather k rows"),
                          ("update_ms", "LazyAdam update of k rows")):
        for key in sorted((key for key in rows[0] if key.startswith(column + "@")),
                          key=lambda key: int(key.split("@")[1])):
            points = [(r["rows"], r[key]) for r in rows if r.get(key) is not None]
            ax.plot(*zip(*points), marker="o", label=f"{label}, k={key.split('@')[1]}")
    points = [(r["rows"], r["query_ms"]) for r in rows if r.get("query_ms") is not None]
    if points:
        ax.plot(*zip(*points), marker="s", label="hashed query of the batch")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows on the shard")
    ax.set_ylabel("ms per step (CPU)")
    ax.set_title("One parameter-server shard's work per step")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shard-rows", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--num-uniform", type=int, default=2048,
                        help="uniform draws of the shared candidate set (WTADense's default)")
    parser.add_argument("--touched", type=int, nargs="+", default=[64, 256, 1024, 2304],
                        help="rows gathered and updated per step on the shard")
    parser.add_argument("--num-candidates", type=int, default=128,
                        help="hashed candidates per example of the query (0: no index)")
    parser.add_argument("--num-tables", type=int, default=50)
    parser.add_argument("--classes", type=int, nargs="+", default=[10_000_000, 100_000_000])
    parser.add_argument("--shard-memory-gb", type=float, default=48.0,
                        help="memory a parameter server gives its shard's rows and moments")
    parser.add_argument("--network-gbit", type=float, default=25.0,
                        help="the network bandwidth of a worker and of a shard")
    parser.add_argument("--workers", type=int, default=8, help="workers for the estimate")
    parser.add_argument("--estimate-only", action="store_true",
                        help="recompute the estimate from results/shard_costs.json")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rebuild-repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=["shard", "compute"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        args.shard_rows = args.shard_rows[0]
        print(json.dumps(shard_worker(args) if args.worker == "shard" else worker_compute(args)))
        return

    if args.estimate_only:
        with open(os.path.join(common.RESULTS_DIR, "shard_costs.json")) as f:
            measured = json.load(f)
        print_estimate(measured["rows"], measured["metadata"]["worker_ms"], args)
        return
    rows = []
    for num_rows in args.shard_rows:
        result = common.run_worker(os.path.abspath(__file__), args, worker="shard",
                                   shard_rows=num_rows)
        if result is None:
            raise SystemExit(f"the shard of {num_rows} rows failed (above)")
        rows.append({"rows": num_rows, **{key: round(value, 2) for key, value in result.items()}})
        print(json.dumps(rows[-1]), flush=True)
    compute = common.run_worker(os.path.abspath(__file__), args, worker="compute")
    table = print_estimate(rows, compute["worker_ms"], args)
    settings = {k: v for k, v in vars(args).items() if k not in ("worker", "estimate_only")}
    common.report("shard_costs", rows, plot, worker_ms=compute["worker_ms"], estimate=table,
                  **settings)


if __name__ == "__main__":
    main()
