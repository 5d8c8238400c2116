"""Every tf_wta op on inputs large enough that its CPU kernel shards over
threads, and the outputs as numpy arrays: one process's results, for
comparing runs at different intra-op thread counts or kernel paths.

    python tests/op_outputs.py OUT.npz [--threads N]

writes OUT.npz (one array per output name, see `op_outputs`). The thread
count must be set before TensorFlow initialises its runtime, hence a process
per setting.
"""
import argparse
import os

import numpy as np

# Sizes: each kernel's sharding (ParallelFor's cost model, the hashed matmul
# gradient's minimum of 64 Ki multiply-adds per block) splits these over 8
# threads, yet the whole run stays a few seconds on 2 cores.
BATCH, DIM = 1024, 256
UNITS, CANDIDATES = 4096, 64


def _hash_outputs(tf_wta, rng):
    x = rng.standard_normal((BATCH, DIM)).astype(np.float32)
    sparse_x = np.where(rng.random((BATCH, DIM)) < 0.9, 0.0, x).astype(np.float32)
    # Tiled path (D <= 2 M K) and row-by-row path (D > 2 M K).
    tiled_windows = tf_wta.wta_windows(DIM, 64, 8, seed=1)
    row_windows = tf_wta.wta_windows(DIM, 8, 4, seed=2)
    codes = tf_wta.wta_hash(x, tiled_windows)
    simhash_windows, signs = tf_wta.simhash_projections(DIM, 64, 16, seed=3)
    return {
        "wta_hash tiled": codes,
        "wta_hash rows": tf_wta.wta_hash(x, row_windows),
        "wta_hash float16": tf_wta.wta_hash(x.astype(np.float16), tiled_windows),
        "densified_wta_hash": tf_wta.densified_wta_hash(sparse_x, tiled_windows),
        "simhash": tf_wta.simhash(x, simhash_windows, signs),
        "wta_buckets": tf_wta.wta_buckets(codes, window_size=8, codes_per_table=2),
    }


def _index_outputs(tf, tf_wta, rng):
    tables, window_size, codes_per_table = 16, 4, 3
    num_buckets = window_size**codes_per_table
    unit_buckets = rng.integers(0, num_buckets, (UNITS, tables), dtype=np.int32)
    query_buckets = rng.integers(0, num_buckets, (BATCH, tables), dtype=np.int32)
    index = tf_wta.build_index(tf.constant(unit_buckets), num_buckets)
    return {
        "build_index sorted_buckets": index.sorted_buckets,
        "build_index sorted_units": index.sorted_units,
        "query_index": tf_wta.query_index(query_buckets, index, CANDIDATES),
        "query_index_pooled": tf_wta.query_index_pooled(query_buckets[:64], index, 256),
    }


def _matmul_outputs(tf, tf_wta, rng, dtype):
    ops = tf_wta.load_ops()
    x = tf.constant(rng.standard_normal((BATCH, DIM)), dtype)
    weights = tf.constant(rng.standard_normal((UNITS, DIM)), dtype)
    bias = tf.constant(rng.standard_normal(UNITS), dtype)
    # Some units chosen by many samples, some by none, some pairs empty (-1).
    indices = rng.integers(-1, UNITS // 2, (BATCH, CANDIDATES), dtype=np.int32)
    grad_out = tf.constant(rng.standard_normal((BATCH, CANDIDATES)), dtype)
    grad_x, units, grad_rows, grad_bias = ops.wta_hashed_matmul_grad(
        x, weights, indices, grad_out)
    name = tf.as_dtype(dtype).name
    return {
        f"hashed_matmul {name}": tf_wta.hashed_matmul(x, weights, indices, bias),
        f"hashed_matmul_grad grad_x {name}": grad_x,
        f"hashed_matmul_grad units {name}": units,
        f"hashed_matmul_grad grad_weight_rows {name}": grad_rows,
        f"hashed_matmul_grad grad_bias_rows {name}": grad_bias,
    }


def _sparse_apply_outputs(tf, tf_wta, rng):
    shape = (UNITS, DIM)
    row_ids = np.sort(rng.choice(UNITS, UNITS // 2, replace=False)).astype(np.int32)
    gradient = tf.IndexedSlices(tf.constant(rng.standard_normal((len(row_ids), DIM)),
                                            tf.float32), tf.constant(row_ids), shape)
    initial = rng.standard_normal(shape).astype(np.float32)
    sgd_var = tf.Variable(initial)
    tf_wta.sparse_apply_sgd(sgd_var, 0.1, gradient)
    adam_var, m, v = tf.Variable(initial), tf.Variable(tf.zeros(shape)), tf.Variable(
        tf.fill(shape, 0.5))
    tf_wta.sparse_apply_adam(adam_var, m, v, 0.01, 0.9, 0.999, 1e-7, gradient)
    return {"sparse_apply_sgd var": sgd_var, "sparse_apply_adam var": adam_var,
            "sparse_apply_adam m": m, "sparse_apply_adam v": v}


def _fwht_outputs(tf, tf_wta, rng):
    x = tf.constant(rng.standard_normal((BATCH, 512)), tf.float32)
    upstream = tf.constant(rng.standard_normal((BATCH, 512)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf_wta.fwht(x)
    return {"fwht": y, "fwht grad": tape.gradient(y, x, output_gradients=upstream),
            "fwht bfloat16": tf_wta.fwht(tf.cast(x, tf.bfloat16))}


def op_outputs(seed=0):
    """Runs every op once on the CPU on seeded inputs.

    Returns:
      {output name: numpy array}, names like "hashed_matmul_grad grad_x
      float32"; floats keep their dtype (bfloat16 as float32).
    """
    import tensorflow as tf

    import tf_wta

    rng = np.random.default_rng(seed)
    outputs = {}
    with tf.device("/CPU:0"):
        outputs.update(_hash_outputs(tf_wta, rng))
        outputs.update(_index_outputs(tf, tf_wta, rng))
        for dtype in (tf.float32, tf.float64, tf.float16):
            outputs.update(_matmul_outputs(tf, tf_wta, rng, dtype))
        outputs.update(_sparse_apply_outputs(tf, tf_wta, rng))
        outputs.update(_fwht_outputs(tf, tf_wta, rng))
    return {name: tf.cast(value, tf.float32).numpy() if value.dtype == tf.bfloat16
            else np.asarray(value.numpy() if hasattr(value, "numpy") else value)
            for name, value in outputs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="the .npz file to write")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads (0: TensorFlow's default)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    np.savez(args.out, **op_outputs())


if __name__ == "__main__":
    main()
