"""GPU kernels against the CPU kernels, and their safe behaviour on bad values.

Skipped when TensorFlow sees no GPU (the CPU tests cover the semantics; see
README.md for what has been run on a GPU).
"""
import numpy as np
import pytest
import tensorflow as tf

import references
import tf_wta

pytestmark = pytest.mark.skipif(not tf.config.list_physical_devices("GPU"),
                                reason="TensorFlow sees no GPU")


@pytest.mark.parametrize("dtype", [tf.float32, tf.float16, tf.bfloat16])
def test_gpu_hash_matches_reference(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((333, 700)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[:, ::7] = 0.0
    x = tf.cast(x, dtype)
    windows = tf_wta.wta_windows(700, 257, 8, seed=1)
    with tf.device("/GPU:0"):
        codes = tf_wta.wta_hash(x, windows)
        buckets = tf_wta.wta_buckets(codes[:, :256], 8, 4)
    expected = references.wta_hash(tf.cast(x, tf.float32).numpy(), windows.numpy())
    np.testing.assert_array_equal(codes.numpy(), expected)
    np.testing.assert_array_equal(buckets.numpy(), references.wta_buckets(expected[:, :256], 8, 4))


def test_gpu_out_of_range_window_never_wins():
    x = tf.constant([[1.0, 2.0, 3.0]])
    windows = tf.constant([[5, 0, 1], [-1, 2, 0], [0, 2, 99]], tf.int32)
    with tf.device("/GPU:0"):
        codes = tf_wta.wta_hash(x, windows)
    np.testing.assert_array_equal(codes.numpy(), [[2, 1, 1]])


def test_gpu_out_of_range_code_gives_bucket_minus_one():
    codes = tf.constant([[0, 1, 4, 0], [1, 1, -1, 0]], tf.int32)
    with tf.device("/GPU:0"):
        buckets = tf_wta.wta_buckets(codes, 4, 2)
    np.testing.assert_array_equal(buckets.numpy(), [[4, -1], [5, -1]])


@pytest.mark.parametrize("dtype", [tf.float32, tf.float16, tf.bfloat16])
@pytest.mark.parametrize("zero_fraction", [0.0, 0.9, 0.99, 1.0])
def test_gpu_densified_hash_matches_cpu_and_reference(dtype, zero_fraction):
    rng = np.random.default_rng(2)
    x = np.abs(rng.standard_normal((333, 700))).astype(np.float32)
    x[rng.random(x.shape) < zero_fraction] = 0.0
    x[rng.random(x.shape) < 0.02] = np.nan
    x[::5] *= -1.0  # some rows negative: zeros must not win there either
    x[3] = 0.0  # a row with nothing to borrow from
    x = tf.cast(x, dtype)
    windows = tf_wta.wta_windows(700, 1000, 8, seed=1)
    with tf.device("/GPU:0"):
        gpu = tf_wta.densified_wta_hash(x, windows, max_probes=50)
    with tf.device("/CPU:0"):
        cpu = tf_wta.densified_wta_hash(x, windows, max_probes=50)
    np.testing.assert_array_equal(gpu.numpy(), cpu.numpy())
    expected = references.densified_wta_hash(tf.cast(x, tf.float32).numpy(), windows.numpy(), 50)
    np.testing.assert_array_equal(gpu.numpy(), expected)


def test_gpu_densified_out_of_range_window_is_skipped_like_a_zero():
    x = tf.constant([[1.0, 2.0, 0.0, 3.0]])
    windows = tf.constant([[5, 0, 1], [-1, 2, 0], [99, 2, -7], [3, 1, 2]], tf.int32)
    with tf.device("/GPU:0"):
        codes = tf_wta.densified_wta_hash(x, windows)
    raw = np.array([[2, 2, -1, 0]])  # window 2 sees only bad indices and a zero
    expected = raw.copy()
    for t in range(1, 101):
        borrowed = raw[0, references.densified_probe(2, t, 4)]
        if borrowed >= 0:
            expected[0, 2] = borrowed
            break
    np.testing.assert_array_equal(codes.numpy(), expected)


def hashed_matmul_case(rng, batch, dim, units, candidates, dtype):
    x = rng.standard_normal((batch, dim)).astype(dtype)
    weights = rng.standard_normal((units, dim)).astype(dtype)
    bias = rng.standard_normal(units).astype(dtype)
    indices = rng.integers(-1, units, (batch, candidates)).astype(np.int32)
    indices[0, :3] = indices[0, 3]  # duplicates within a row and across rows
    indices[-1, :2] = indices[0, 3]
    return x, weights, indices, bias


def hashed_matmul_gradients(x, weights, indices, bias, upstream):
    x, weights, bias = tf.Variable(x), tf.Variable(weights), tf.Variable(bias)
    with tf.GradientTape() as tape:
        out = tf_wta.hashed_matmul(x, weights, indices, bias)
        loss = tf.reduce_sum(out * upstream)
    return [out] + tape.gradient(loss, [x, weights, bias])


@pytest.mark.parametrize("dtype,tolerance", [(np.float32, 1e-4), (np.float64, 1e-10)])
@pytest.mark.parametrize("batch,dim,units,candidates",
                         [(1, 1, 1, 1), (7, 33, 5, 9), (64, 257, 3000, 32),
                          (256, 1280, 100_000, 128)])
def test_gpu_hashed_matmul_matches_cpu_and_reference(batch, dim, units, candidates, dtype,
                                                     tolerance):
    rng = np.random.default_rng(dim)
    x, weights, indices, bias = hashed_matmul_case(rng, batch, dim, units, candidates, dtype)
    upstream = rng.standard_normal(indices.shape).astype(dtype)
    with tf.device("/GPU:0"):
        gpu = hashed_matmul_gradients(x, weights, indices, bias, upstream)
    with tf.device("/CPU:0"):
        cpu = hashed_matmul_gradients(x, weights, indices, bias, upstream)
    np.testing.assert_allclose(gpu[0].numpy(), references.hashed_matmul(x, weights, indices, bias),
                               rtol=tolerance, atol=tolerance)
    for name, ours, theirs in zip(["out", "x", "weights", "bias"], gpu, cpu):
        if isinstance(ours, tf.IndexedSlices):
            np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
            ours, theirs = ours.values, theirs.values
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=tolerance, atol=tolerance,
                                   err_msg=name)


def test_gpu_hashed_matmul_empty_inputs():
    with tf.device("/GPU:0"):
        empty_batch = tf_wta.hashed_matmul(tf.zeros([0, 3]), tf.ones([5, 3]),
                                           tf.zeros([0, 4], tf.int32))
        _, grad_x, grad_w, _ = hashed_matmul_gradients(
            np.ones([2, 3], np.float32), np.ones([5, 3], np.float32), np.zeros([2, 0], np.int32),
            np.zeros(5, np.float32), np.zeros([2, 0], np.float32))
    assert empty_batch.shape == (0, 4)
    np.testing.assert_array_equal(grad_x.numpy(), np.zeros([2, 3]))
    assert grad_w.indices.shape == (0,)


def test_gpu_out_of_range_index_is_treated_like_minus_one():
    indices = tf.constant([[0, 5, -2, 1], [2**31 - 1, -(2**31), -1, 1]], tf.int32)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    weights = np.ones([5, 3], np.float32)
    with tf.device("/GPU:0"):
        out, grad_x, grad_w, grad_b = hashed_matmul_gradients(
            x, weights, indices, np.zeros(5, np.float32), np.ones([2, 4], np.float32))
    np.testing.assert_allclose(out.numpy(), [[3, 0, 0, 3], [0, 0, 0, 12]])
    np.testing.assert_allclose(grad_x.numpy(), np.ones([2, 3]) * [[2], [1]])
    np.testing.assert_array_equal(grad_w.indices.numpy(), [0, 1])
    np.testing.assert_allclose(grad_w.values.numpy(), [x[0], x[0] + x[1]])
    np.testing.assert_allclose(grad_b.values.numpy(), [1, 2])


def index_inputs(num_units, num_tables, num_buckets, batch, seed=0):
    """Unit and query buckets drawn from a few keys, so units collide even
    when num_buckets is large."""
    rng = np.random.default_rng(seed)
    keys = rng.choice(min(num_buckets, 2**31 - 1), min(num_buckets, 40), replace=False)
    keys = np.sort(keys).astype(np.int32)
    return (keys[rng.integers(0, len(keys), (num_units, num_tables))],
            keys[rng.integers(0, len(keys), (batch, num_tables))])


# (N, L, num_buckets, B, C); N=20,000 with B=2,000 needs two query chunks.
INDEX_SIZES = [(30, 4, 3, 20, 40), (20_000, 50, 512, 300, 128), (20_000, 8, 64, 2000, 64),
               (1000, 3, 2**31 - 1, 40, 16), (0, 5, 7, 4, 3), (50, 6, 4, 0, 5), (50, 6, 4, 5, 0),
               (10, 0, 4, 3, 2)]


@pytest.mark.parametrize("max_bucket_size", [None, 2])
@pytest.mark.parametrize("num_units,num_tables,num_buckets,batch,num_candidates", INDEX_SIZES)
def test_gpu_index_matches_cpu(num_units, num_tables, num_buckets, batch, num_candidates,
                               max_bucket_size):
    unit_buckets, query_buckets = index_inputs(num_units, num_tables, num_buckets, batch)
    results = []
    for device in ("/CPU:0", "/GPU:0"):
        with tf.device(device):
            index = tf_wta.build_index(unit_buckets, num_buckets)
            candidates = tf_wta.query_index(query_buckets, index, num_candidates,
                                            max_bucket_size=max_bucket_size)
        results.append([t.numpy() for t in index] + [candidates.numpy()])
    for cpu, gpu in zip(*results):
        np.testing.assert_array_equal(gpu, cpu)
    if batch * num_units <= 100_000:
        np.testing.assert_array_equal(
            results[1][-1], references.query_index(unit_buckets, query_buckets, num_candidates,
                                                   max_bucket_size))


@pytest.mark.parametrize("max_bucket_size", [None, 2])
@pytest.mark.parametrize("num_units,num_tables,num_buckets,batch,num_candidates", INDEX_SIZES)
def test_gpu_pooled_query_matches_cpu(num_units, num_tables, num_buckets, batch, num_candidates,
                                      max_bucket_size):
    unit_buckets, query_buckets = index_inputs(num_units, num_tables, num_buckets, batch)
    index = tf_wta.build_index(unit_buckets, num_buckets)
    results = []
    for device in ("/CPU:0", "/GPU:0"):
        with tf.device(device):
            results.append(tf_wta.query_index_pooled(query_buckets, index, num_candidates,
                                                     max_bucket_size=max_bucket_size).numpy())
    np.testing.assert_array_equal(results[1], results[0])
    if batch * num_units <= 100_000:
        np.testing.assert_array_equal(
            results[1], references.query_index_pooled(unit_buckets, query_buckets,
                                                      num_candidates, max_bucket_size))


def test_gpu_pooled_query_bucket_out_of_range_matches_nothing():
    index = tf_wta.build_index(np.array([[0, 1], [1, 1], [2, 0]], np.int32), 3)
    with tf.device("/GPU:0"):
        candidates = tf_wta.query_index_pooled([[-1, 1], [3, 0], [2**31 - 1, -5]], index, 4)
    # Only table 1 of rows 0 and 1 matches: units 0 and 1, then unit 2, once each.
    np.testing.assert_array_equal(candidates.numpy(), [0, 1, 2, -1])


def test_gpu_query_bucket_out_of_range_matches_nothing():
    unit_buckets = np.array([[0, 1], [1, 1], [2, 0]], np.int32)
    index = tf_wta.build_index(unit_buckets, 3)
    with tf.device("/GPU:0"):
        candidates = tf_wta.query_index([[-1, 1], [3, 0], [2**31 - 1, -5]], index, 3)
    np.testing.assert_array_equal(candidates.numpy(), [[0, 1, -1], [2, -1, -1], [-1, -1, -1]])


def test_gpu_unit_bucket_out_of_range_is_in_no_bucket():
    unit_buckets = np.array([[0, 1], [-1, 1], [2, 7]], np.int32)
    with tf.device("/GPU:0"):
        index = tf_wta.build_index(unit_buckets, 3)
        gpu = tf_wta.query_index([[0, 1], [2, 2]], index, 3)
    np.testing.assert_array_equal(index.sorted_buckets.numpy(), [[0, 2, 2**31 - 1],
                                                                 [1, 1, 2**31 - 1]])
    np.testing.assert_array_equal(index.sorted_units.numpy(), [[0, 2, 1], [0, 1, 2]])
    np.testing.assert_array_equal(gpu.numpy(), [[0, 1, -1], [2, -1, -1]])
    with tf.device("/CPU:0"):  # the CPU accepts the same index and agrees
        cpu = tf_wta.query_index([[0, 1], [2, 2]], index, 3)
    np.testing.assert_array_equal(cpu.numpy(), gpu.numpy())


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_gpu_sparse_apply_matches_cpu(dtype):
    rng = np.random.default_rng(5)
    start = [rng.standard_normal((300, 70)) for _ in range(2)] + [rng.random((300, 70))]
    ids = tf.constant([299, 4, 0, 17, 150], tf.int32)
    gradient = tf.IndexedSlices(tf.constant(rng.standard_normal((5, 70)), dtype), ids)
    results = []
    for device in ("/CPU:0", "/GPU:0"):
        with tf.device(device):
            var, m, v = (tf.Variable(tf.constant(s, dtype)) for s in start)
            sgd = tf.Variable(tf.constant(start[0], dtype))
            tf_wta.sparse_apply_adam(var, m, v, 0.01, 0.9, 0.999, 1e-7, gradient)
            tf_wta.sparse_apply_sgd(sgd, 0.3, gradient)
        results.append([t.numpy() for t in (var, m, v, sgd)])
    for cpu, gpu in zip(*results):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-6, atol=1e-7)


def test_gpu_sparse_apply_skips_out_of_range_ids():
    with tf.device("/GPU:0"):
        variable = tf.Variable(tf.zeros([4, 3]))
        tf_wta.load_ops().wta_sparse_apply_sgd(variable.handle, 1.0, tf.ones([3, 3]),
                                               tf.constant([1, 4, -1], tf.int32))
    np.testing.assert_array_equal(variable.numpy()[:, 0], [0.0, -1.0, 0.0, 0.0])
