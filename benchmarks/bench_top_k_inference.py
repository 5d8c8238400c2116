"""Serving: WTADense's hashed top-k against the exact top-k, up to 1,000,000 units.

    python benchmarks/bench_top_k_inference.py [--units 100000 1000000] [--candidates 128 512 2048]

The layer's kernel is set to the class prototypes of the synthetic task
(synthetic_task.py), i.e. the weights of an ideal linear classifier for it,
and the index is built from it. Queries are a batch of examples
`prototype + noise` for each `--query-noise` (noise norm relative to the
prototype's; the cosine between a query and its class row is about
1 / sqrt(1 + noise**2)), since how close a query is to its best row decides
what the hash can find. Exact: `tf.matmul` over all units + `tf.math.top_k`. Hashed:
`WTADense.top_k(x, k, num_candidates=C)` (hash, query, score C candidates).
Reports the median time of each for the batch, the speedup, and recall@1:
the fraction of queries whose hashed top-1 is the exact argmax. Each size
runs in its own process. Writes results/top_k_inference.json and .png.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import common  # noqa: E402


def worker(args):
    import tensorflow as tf

    import tf_wta
    from synthetic_task import ConfusablePrototypes

    task = ConfusablePrototypes(args.units, args.dim)
    layer = tf_wta.WTADense(args.units, use_bias=False, seed=0)
    layer.build((None, args.dim))
    # One whole assignment: a sliced assignment would switch the kernel to
    # copy-on-read mode (every later read copies all of it).
    layer.kernel.assign(tf.concat([task.prototypes(start, min(start + 100_000, args.units))
                                   for start in range(0, args.units, 100_000)], axis=0))
    layer.index.rebuild(layer.kernel)
    rows = []
    for noise in args.query_noise:
        x = tf.constant(task.sample(args.batch, noise=noise, nuisance=0.0)[0])
        rows += compare(layer, x, args, query_noise=noise)
    return rows


def compare(layer, x, args, **row):
    """Rows comparing exact and hashed top-k of queries x [B, D], one per C."""
    import numpy as np
    import tensorflow as tf

    @tf.function(jit_compile=False)
    def exact():
        return tf.math.top_k(tf.matmul(x, layer.kernel, transpose_b=True), args.k).indices

    exact_ms = common.median_seconds(lambda: exact().numpy(), args.repeats, warmup=1) * 1e3
    exact_top1 = exact().numpy()[:, 0]
    rows = []
    for candidates in args.candidates:
        hashed = tf.function(lambda c=candidates: layer.top_k(x, args.k, num_candidates=c)[1],
                             jit_compile=False)
        hashed_ms = common.median_seconds(lambda: hashed().numpy(), args.repeats) * 1e3
        recall = float(np.mean(hashed().numpy()[:, 0] == exact_top1))
        rows.append({"units": args.units, **row, "batch": args.batch, "k": args.k,
                     "candidates": candidates, "exact_ms": round(exact_ms, 1),
                     "hashed_ms": round(hashed_ms, 2), "speedup": round(exact_ms / hashed_ms, 1),
                     "recall@1": round(recall, 3)})
    return rows


def plot(rows, path):
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for units, noise in sorted({(r["units"], r["query_noise"]) for r in rows}):
        points = [(r["speedup"], r["recall@1"], r["candidates"]) for r in rows
                  if (r["units"], r["query_noise"]) == (units, noise)]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                label=f"{units:,} units, query noise {noise:g}")
        for speedup, recall, candidates in points:
            ax.annotate(f"C={candidates}", (speedup, recall), fontsize=7)
    ax.set(xscale="log", xlabel="speedup over exact top-k", ylabel="recall@1 of the exact argmax")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--candidates", type=int, nargs="+", default=[128, 512, 2048])
    parser.add_argument("--query-noise", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.units = args.units[0]
        print(json.dumps(worker(args)))
        return
    rows = []
    for units in args.units:
        result = common.run_worker(os.path.abspath(__file__), args, worker=True, units=units)
        if result is None:
            raise SystemExit(f"the {units}-unit run failed (its error is above)")
        rows += result
    common.report("top_k_inference", rows, plot,
                  **{k: v for k, v in vars(args).items() if k != "worker"})


if __name__ == "__main__":
    main()
