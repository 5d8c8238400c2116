"""fwht against tf.matmul with an explicit Hadamard matrix and against a
pure-TensorFlow butterfly, forward and backward, on the CPU.

    python benchmarks/bench_fwht.py [--repeats 10] [--dims 8,10,12,14,16]
                                    [--batches 1,32,1024] [--max-matmul-dim 8192]
                                    [--max-butterfly-elements 4194304]

Prints a table, writes benchmarks/results/fwht.json. For each [B, d] float32
input, "GB/s" is the bytes fwht must move (read x, write y: 8 B d) over its
time, and "x bound" its time over that of a streaming op moving the same
bytes (`x * 2`, this machine's practical memory bound for the shape): 1.0 is
the bound. The matmul is skipped above --max-matmul-dim (H_d is d^2 floats).
Every method runs as a tf.function in the same process; compare ratios
across machines, not absolute times.
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import common  # noqa: E402
import tf_wta  # noqa: E402


def hadamard(d):
    """The Sylvester-ordered Hadamard matrix H_d, float32."""
    h = np.ones((1, 1), np.float32)
    while h.shape[0] < d:
        h = np.block([[h, h], [h, -h]])
    return h


def butterfly(x):
    """x @ H_d with stock ops: log2 d stages, each a reshape to
    [B, d / 2h, 2, h], a sum and a difference, and a concat."""
    d = x.shape[-1]
    h = 1
    while h < d:
        v = tf.reshape(x, [-1, d // (2 * h), 2, h])
        a, b = v[:, :, 0, :], v[:, :, 1, :]
        x = tf.reshape(tf.stack([a + b, a - b], axis=2), [-1, d])
        h *= 2
    return x


def forward_and_backward(transform):
    forward = tf.function(transform, jit_compile=False)

    @tf.function(jit_compile=False)
    def backward(x, upstream):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = transform(x)
        return tape.gradient(y, x, output_gradients=upstream)

    return forward, backward


def run(dims, batches, repeats, max_matmul_dim, max_butterfly_elements):
    rows = []
    stream = tf.function(lambda x: x * 2.0, jit_compile=False)
    methods = {"fwht": forward_and_backward(tf_wta.fwht),
               "butterfly": forward_and_backward(butterfly)}
    for log_d in dims:
        d = 2**log_d
        h = tf.constant(hadamard(d)) if d <= max_matmul_dim else None
        if h is not None:
            methods["matmul"] = forward_and_backward(lambda x, h=h: tf.matmul(x, h))
        for batch in batches:
            x = tf.constant(np.random.default_rng(log_d).standard_normal((batch, d)),
                            tf.float32)
            upstream = tf.ones_like(x)
            reps = max(3, repeats if batch * d <= 2**22 else repeats // 2)
            stream_s = common.median_seconds(lambda: stream(x).numpy(), reps)
            bytes_moved = 8 * batch * d
            row = {"d": f"2^{log_d}", "batch": batch,
                   "stream_ms": round(stream_s * 1e3, 4)}
            times = {}
            for name, (forward, backward) in methods.items():
                if name == "matmul" and h is None:
                    continue
                if name == "butterfly" and batch * d > max_butterfly_elements:
                    continue
                r = reps if name != "matmul" or batch * d * d <= 2**32 else 3
                times[name] = common.median_seconds(lambda: forward(x).numpy(), r)
                row[f"{name}_fwd_ms"] = round(times[name] * 1e3, 4)
                row[f"{name}_bwd_ms"] = round(
                    common.median_seconds(lambda: backward(x, upstream).numpy(), r) * 1e3, 4)
            row["fwht_GB/s"] = round(bytes_moved / times["fwht"] / 1e9, 2)
            row["x_bound"] = round(times["fwht"] / stream_s, 2)
            if "butterfly" in times:
                row["vs_butterfly"] = round(times["butterfly"] / times["fwht"], 1)
            if "matmul" in times:
                row["vs_matmul"] = round(times["matmul"] / times["fwht"], 1)
            rows.append(row)
            common.print_table([row], list(row))
        methods.pop("matmul", None)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dims", default="8,10,12,14,16",
                        help="comma-separated log2 d (default 8,10,12,14,16)")
    parser.add_argument("--batches", default="1,32,1024")
    parser.add_argument("--max-matmul-dim", type=int, default=8192)
    parser.add_argument("--max-butterfly-elements", type=int, default=2**22,
                        help="skip the pure-TF butterfly above this B * d (it is slow)")
    args = parser.parse_args()
    dims = [int(v) for v in args.dims.split(",")]
    batches = [int(v) for v in args.batches.split(",")]
    rows = run(dims, batches, args.repeats, args.max_matmul_dim, args.max_butterfly_elements)
    columns = ["d", "batch", "stream_ms", "fwht_fwd_ms", "fwht_bwd_ms", "fwht_GB/s",
               "x_bound", "butterfly_fwd_ms", "butterfly_bwd_ms", "vs_butterfly",
               "matmul_fwd_ms", "matmul_bwd_ms", "vs_matmul"]
    print()
    common.print_table(rows, columns)
    path = common.write_json("fwht", rows, tensorflow=tf.__version__,
                             threads=tf.config.threading.get_intra_op_parallelism_threads())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
