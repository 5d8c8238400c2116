"""hashed_matmul against a dense tf.matmul over all N units, on the CPU.

    python benchmarks/bench_hashed_matmul.py [--repeats 10]

Forward, and forward + backward (gradients for x, weights and bias), with C
random candidates per sample. Prints a table, writes
benchmarks/results/hashed_matmul.json and hashed_matmul.png.

The hashed forward reads each distinct selected weight row once; its
effective bandwidth (bytes of those rows / time) is set against the read
bandwidth of a dense reduction over all the weights in the same process, the
practical memory-bandwidth bound of this machine.
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import common  # noqa: E402
import tf_wta  # noqa: E402

# (N, D, B, C); the first is the target configuration.
CONFIGS = [(100_000, 1280, 256, 128), (100_000, 1280, 1024, 128)]


@tf.function(jit_compile=False)
def dense_forward(x, weights, bias):
    return tf.matmul(x, weights, transpose_b=True) + bias


@tf.function(jit_compile=False)
def hashed_forward(x, weights, indices, bias):
    return tf_wta.hashed_matmul(x, weights, indices, bias)


@tf.function(jit_compile=False)
def dense_backward(x, weights, bias, upstream):
    with tf.GradientTape() as tape:
        tape.watch([x, weights, bias])
        loss = tf.reduce_sum(dense_forward(x, weights, bias) * upstream)
    return tape.gradient(loss, [x, weights, bias])


@tf.function(jit_compile=False)
def hashed_backward(x, weights, indices, bias, upstream):
    with tf.GradientTape() as tape:
        tape.watch([x, weights, bias])
        loss = tf.reduce_sum(hashed_forward(x, weights, indices, bias) * upstream)
    grad_x, grad_w, grad_b = tape.gradient(loss, [x, weights, bias])
    return grad_x, grad_w.values, grad_w.indices, grad_b.values


@tf.function(jit_compile=False)
def read_all(weights):
    return tf.reduce_sum(weights)


def fetch(tensors):
    return [t.numpy() for t in tf.nest.flatten(tensors)]


def run(repeats):
    rng = np.random.default_rng(0)
    rows = []
    for units, dim, batch, candidates in CONFIGS:
        weights = tf.constant(rng.standard_normal((units, dim), np.float32))
        bias = tf.constant(rng.standard_normal(units, np.float32))
        x = tf.constant(rng.standard_normal((batch, dim), np.float32))
        indices = tf.constant(rng.integers(0, units, (batch, candidates), np.int32))
        upstream = tf.ones([batch, candidates])
        dense_upstream = tf.ones([batch, units])
        expected = tf.gather(dense_forward(x, weights, bias), indices, batch_dims=1)
        np.testing.assert_allclose(hashed_forward(x, weights, indices, bias).numpy(),
                                   expected.numpy(), rtol=1e-4, atol=1e-3)

        times = {
            "dense_fwd": lambda: fetch(dense_forward(x, weights, bias)),
            "hashed_fwd": lambda: fetch(hashed_forward(x, weights, indices, bias)),
            "dense_fwd_bwd": lambda: fetch(dense_backward(x, weights, bias, dense_upstream)),
            "hashed_fwd_bwd": lambda: fetch(hashed_backward(x, weights, indices, bias, upstream)),
            "read_all": lambda: read_all(weights).numpy(),
        }
        seconds = {name: common.median_seconds(fn, repeats if "dense" in name else 3 * repeats,
                                               warmup=2)
                   for name, fn in times.items()}
        distinct = len(np.unique(indices.numpy()))
        row_bytes = distinct * dim * 4
        hashed_gbs = row_bytes / seconds["hashed_fwd"] / 1e9
        bound_gbs = units * dim * 4 / seconds["read_all"] / 1e9
        rows.append({
            "N": units, "D": dim, "B": batch, "C": candidates, "distinct_rows": distinct,
            "dense_fwd_ms": round(seconds["dense_fwd"] * 1e3, 2),
            "hashed_fwd_ms": round(seconds["hashed_fwd"] * 1e3, 2),
            "fwd_speedup": round(seconds["dense_fwd"] / seconds["hashed_fwd"], 1),
            "dense_fwd_bwd_ms": round(seconds["dense_fwd_bwd"] * 1e3, 2),
            "hashed_fwd_bwd_ms": round(seconds["hashed_fwd_bwd"] * 1e3, 2),
            "fwd_bwd_speedup": round(seconds["dense_fwd_bwd"] / seconds["hashed_fwd_bwd"], 1),
            "hashed_fwd_GB/s": round(hashed_gbs, 1),
            "dense_read_GB/s": round(bound_gbs, 1),
            "of_bound": f"{100 * hashed_gbs / bound_gbs:.0f}%",
        })
    return rows


def plot(rows, path):
    plt = common.pyplot()
    labels = [f"N={r['N']} D={r['D']}\nB={r['B']} C={r['C']}" for r in rows]
    positions = np.arange(len(rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, kind, title in zip(axes, ["fwd", "fwd_bwd"], ["forward", "forward + backward"]):
        ax.bar(positions - 0.2, [r[f"dense_{kind}_ms"] for r in rows], 0.4,
               label="tf.matmul (dense, all N)")
        ax.bar(positions + 0.2, [r[f"hashed_{kind}_ms"] for r in rows], 0.4,
               label="tf_wta.hashed_matmul")
        ax.set_xticks(positions, labels, fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("median ms per call (CPU)")
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = run(args.repeats)
    common.report("hashed_matmul", rows, plot)


if __name__ == "__main__":
    main()
