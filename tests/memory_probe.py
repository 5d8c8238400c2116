"""Resident-memory growth of every tf_wta op over many calls and of WTAModel
training with index rebuilds, measured in this process.

`tests/test_no_leaks.py` runs it in a fresh process; by hand:

    python tests/memory_probe.py ops        # resident bytes grown per op, as JSON
    python tests/memory_probe.py training   # ... over 1,000 WTAModel steps

Each measurement warms its workload up (TensorFlow's one-time caches,
traced functions, allocator pools), then reads the resident set size
(VmRSS) before and after running it (ops: twice, keeping the smaller
growth), each time after handing malloc's free pages back to the system so
that a leak cannot hide in pages an earlier run freed. A leaking control
that keeps a known number of bytes per call (per step) shows that the
measurement sees a real leak of that size.
"""
import argparse
import ctypes
import gc
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_wta  # noqa: E402
from tf_wta import ops  # noqa: E402

OP_CALLS = 10_000
TRAINING_STEPS = 1_000
# The leaking controls keep this much per op call / training step (plus
# Python's object overhead).
CONTROL_BYTES_PER_CALL = 256
CONTROL_BYTES_PER_STEP = 4096

_kept = []  # what the leaking control keeps


def _release_free_memory():
    """Collects garbage and hands malloc's free pages back to the system
    (glibc's malloc_trim), so that resident memory counts live allocations:
    a leak must not hide in pages an earlier run freed."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except AttributeError:  # not glibc
        pass


def resident_bytes():
    """This process's resident set size in bytes (Linux /proc/self/status VmRSS)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


def growth(workload, warm_up=None, runs=2):
    """Resident bytes that `workload()` adds once warmed up: it runs
    `warm_up()` (default `workload()`), then `workload()` `runs` times, and
    returns the smallest growth of one run (int, negative when memory was
    returned). A per-call leak grows every run alike; a one-time
    allocation (an allocator pool reaching its size) grows one at most."""
    (warm_up or workload)()
    growths = []
    for _ in range(runs):
        _release_free_memory()
        before = resident_bytes()
        workload()
        _release_free_memory()
        growths.append(resident_bytes() - before)
    return min(growths)


def _looped(body):
    """A tf.function of `calls` running `body(i)` for i in range(calls) in
    one graph loop. Each call's inputs depend on i and its result feeds the
    returned float64 checksum, so the kernel runs on every iteration."""

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
    def run(calls):
        checksum = tf.constant(0.0, tf.float64)
        for i in tf.range(calls):
            checksum += tf.reduce_sum(tf.cast(body(i), tf.float64))
        return checksum

    return run


def _shifted(x, i):
    """x plus a small step that depends on the loop counter i."""
    return x + tf.cast(i % 7, x.dtype) * 0.01


def op_workloads():
    """{name: body(i) -> tensor}: one small call of every op (and of the
    hashed_matmul gradient), its inputs varied with the loop counter i."""
    rng = np.random.default_rng(0)
    batch, dim, units, window, tables, codes_per_table = 8, 64, 256, 8, 8, 2
    hashes = tables * codes_per_table
    num_buckets = ops.num_buckets(window, codes_per_table)
    x = tf.constant(rng.standard_normal((batch, dim)), tf.float32)
    sparse_x = tf.constant(rng.standard_normal((batch, dim)) * (rng.random((batch, dim)) < 0.2),
                           tf.float32)
    windows = ops.wta_windows(dim, hashes, window, seed=0)
    simhash_windows, signs = ops.simhash_projections(dim, hashes, window, seed=0)
    codes = tf.constant(rng.integers(0, window, (units, hashes)), tf.int32)
    unit_buckets = tf.constant(rng.integers(0, num_buckets, (units, tables)), tf.int32)
    index = ops.build_index(unit_buckets, num_buckets)
    query_buckets = tf.constant(rng.integers(0, num_buckets, (batch, tables)), tf.int32)
    weights = tf.constant(rng.standard_normal((units, dim)), tf.float32)
    bias = tf.constant(rng.standard_normal(units), tf.float32)
    candidates = tf.constant(rng.integers(-1, units, (batch, 16)), tf.int32)
    variable, m, v = (tf.Variable(tf.zeros((units, dim))) for _ in range(3))
    row_ids = tf.constant(rng.choice(units, 32, replace=False), tf.int32)
    rows = tf.constant(rng.standard_normal((32, dim)), tf.float32)

    def shifted_keys(keys, i, modulus):
        return (keys + i) % modulus

    def gradient_of_hashed_matmul(i):
        xi = _shifted(x, i)
        with tf.GradientTape() as tape:
            tape.watch([xi, weights, bias])
            out = ops.hashed_matmul(xi, weights, candidates, bias)
        dx, dw, db = tape.gradient(out, [xi, weights, bias])
        return tf.concat([tf.reshape(dx, [-1]), tf.reshape(dw.values, [-1]), db.values], 0)

    def gradient_slices(i):
        return tf.IndexedSlices(_shifted(rows, i), (row_ids + i) % units, [units, dim])

    def sgd(i):
        tf_wta.sparse_apply_sgd(variable, 0.01, gradient_slices(i))
        return variable.read_value()

    def adam(i):
        tf_wta.sparse_apply_adam(variable, m, v, 0.01, 0.9, 0.999, 1e-7, gradient_slices(i))
        return variable.read_value()

    return {
        "wta_hash": lambda i: ops.wta_hash(_shifted(x, i), windows),
        "densified_wta_hash": lambda i: ops.densified_wta_hash(_shifted(sparse_x, i), windows),
        "simhash": lambda i: ops.simhash(_shifted(x, i), simhash_windows, signs),
        "fwht": lambda i: ops.fwht(_shifted(x, i)),
        "wta_buckets": lambda i: ops.wta_buckets(shifted_keys(codes, i, window), window,
                                                 codes_per_table),
        "build_index": lambda i: ops.build_index(
            shifted_keys(unit_buckets, i, num_buckets), num_buckets).sorted_units,
        "query_index": lambda i: ops.query_index(
            shifted_keys(query_buckets, i, num_buckets), index, 16),
        "query_index_pooled": lambda i: ops.query_index_pooled(
            shifted_keys(query_buckets, i, num_buckets), index, 16),
        "hashed_matmul": lambda i: ops.hashed_matmul(_shifted(x, i), weights, candidates, bias),
        "hashed_matmul_grad": gradient_of_hashed_matmul,
        "sparse_apply_sgd": sgd,
        "sparse_apply_adam": adam,
    }


def _keep(size):
    # Non-zero bytes: calloc'ed zeros could stay untouched and not resident.
    _kept.append(b"\x01" * size)


def _leak(value):
    _keep(CONTROL_BYTES_PER_CALL)
    return value


def leaking_control(i):
    """A workload that leaks CONTROL_BYTES_PER_CALL (plus Python's object
    overhead) per call, through tf.numpy_function, in the same loop."""
    return tf.numpy_function(_leak, [i], tf.int32)


def measure_ops(calls=OP_CALLS, warm_up_calls=OP_CALLS // 10):
    """{op: resident bytes added by `calls` calls after `warm_up_calls`
    warm-up calls}, with "leaking_control" last."""
    workloads = {**op_workloads(), "leaking_control": leaking_control}
    result = {}
    for name, body in workloads.items():
        run = _looped(body)
        result[name] = growth(lambda: run(calls).numpy(), lambda: run(warm_up_calls).numpy())
    return result


def measure_training(steps=TRAINING_STEPS, warm_up_steps=200, rebuild_every=10,
                     control_bytes_per_step=CONTROL_BYTES_PER_STEP):
    """Resident bytes added by `steps` training steps of a small WTAModel
    (an output WTADense whose index is rebuilt every `rebuild_every` steps)
    after `warm_up_steps`, then by `steps` more with a callback that keeps
    `control_bytes_per_step` per step (the leaking control).

    Returns:
      {"training": bytes, "rebuilds": index rebuilds in the measured steps,
       "leaking_control": bytes}.
    """
    import keras

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from model_helpers import compile_for_classes, output_model, prototype_data

    keras.utils.set_random_seed(0)
    x, y = prototype_data(500, 16, 512, seed=0)
    data = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(32)
    model = compile_for_classes(output_model(500, 16, num_candidates=16,
                                             rebuild_every=rebuild_every),
                                tf_wta.SparseSGD(0.1))
    index = model.layers[-1].index

    class LeakingControl(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            _keep(control_bytes_per_step)

    def train(steps, callbacks=()):
        model.fit(data, epochs=1, steps_per_epoch=steps, callbacks=list(callbacks), verbose=0)

    clean = growth(lambda: train(steps), lambda: train(warm_up_steps), runs=1)
    built_at = int(index.built_at.numpy())
    leaking = growth(lambda: train(steps, [LeakingControl()]), warm_up=lambda: None, runs=1)
    return {"training": clean,
            "rebuilds": (built_at - warm_up_steps) // rebuild_every + 1,
            "leaking_control": leaking}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("ops", "training"))
    args = parser.parse_args()
    print(json.dumps(measure_ops() if args.what == "ops" else measure_training()))


if __name__ == "__main__":
    main()
