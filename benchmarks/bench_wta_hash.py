"""wta_hash against a pure-TensorFlow WTA hash (gather + argmax) on the CPU.

    python benchmarks/bench_wta_hash.py [--repeats 30]

Prints a table, writes benchmarks/results/wta_hash.json and wta_hash.png.
Both methods run as tf.functions in the same process; the ratio is what to
compare across machines, not the absolute times.
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import common  # noqa: E402
import tf_wta  # noqa: E402

# (B, D, M, K); the first is the target configuration.
CONFIGS = [(256, 1280, 1024, 8), (1, 1280, 1024, 8), (2048, 1280, 1024, 8),
           (256, 1280, 256, 4), (256, 100_000, 64, 8)]


@tf.function(jit_compile=False)
def pure_tf_wta_hash(x, windows):
    """The same codes with stock ops: gather [B, M, K] then argmax over K."""
    return tf.argmax(tf.gather(x, windows, axis=1), axis=-1, output_type=tf.int32)


@tf.function(jit_compile=False)
def custom_op_wta_hash(x, windows):
    return tf_wta.wta_hash(x, windows)


def run(repeats):
    rng = np.random.default_rng(0)
    rows = []
    for batch, dim, num_hashes, window_size in CONFIGS:
        x = tf.constant(rng.standard_normal((batch, dim)), tf.float32)
        windows = tf_wta.wta_windows(dim, num_hashes, window_size, seed=0)
        np.testing.assert_array_equal(custom_op_wta_hash(x, windows).numpy(),
                                      pure_tf_wta_hash(x, windows).numpy())
        pure = common.median_seconds(lambda: pure_tf_wta_hash(x, windows).numpy(), repeats)
        ours = common.median_seconds(lambda: custom_op_wta_hash(x, windows).numpy(), repeats)
        rows.append({"B": batch, "D": dim, "M": num_hashes, "K": window_size,
                     "pure_tf_ms": round(pure * 1e3, 3), "wta_hash_ms": round(ours * 1e3, 3),
                     "speedup": round(pure / ours, 1)})
    return rows


def plot(rows, path):
    plt = common.pyplot()
    labels = [f"B={r['B']} D={r['D']}\nM={r['M']} K={r['K']}" for r in rows]
    positions = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(positions - 0.2, [r["pure_tf_ms"] for r in rows], 0.4, label="gather + argmax (stock TF)")
    ax.bar(positions + 0.2, [r["wta_hash_ms"] for r in rows], 0.4, label="tf_wta.wta_hash")
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("median ms per call (CPU)")
    ax.set_title("WTA hash on the CPU")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rows = run(args.repeats)
    common.report("wta_hash", rows, plot)


if __name__ == "__main__":
    main()
