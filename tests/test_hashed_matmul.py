"""hashed_matmul and its sparse gradient against numpy and pure-TF
references, on every device (see conftest.py)."""
import numpy as np
import pytest
import tensorflow as tf

import references
import tf_wta

pytestmark = pytest.mark.usefixtures("device")


def tf_reference(x, weights, indices, bias=None):
    """The same op with stock ops: gather the selected rows, then einsum."""
    safe = tf.maximum(indices, 0)
    out = tf.einsum("bd,bcd->bc", x, tf.gather(weights, safe))
    if bias is not None:
        out += tf.gather(bias, safe)
    return tf.where(indices >= 0, out, tf.zeros_like(out))


def random_case(rng, batch, dim, units, candidates, dtype=np.float32, empty=0.2):
    x = rng.standard_normal((batch, dim)).astype(dtype)
    weights = rng.standard_normal((units, dim)).astype(dtype)
    bias = rng.standard_normal(units).astype(dtype)
    indices = rng.integers(0, units, (batch, candidates)).astype(np.int32)
    indices[rng.random(indices.shape) < empty] = -1
    return x, weights, indices, bias


def dense(value):
    return tf.convert_to_tensor(value).numpy()


# (B, D, N, C): D not a multiple of 8 or 16, few units (many duplicates
# within and across rows), many units (the sort-based grouping), one column.
SIZES = [(1, 1, 1, 1), (3, 7, 5, 9), (17, 33, 40, 6), (64, 100, 13, 32), (9, 130, 100_000, 5),
         (33, 1, 7, 3), (128, 257, 1000, 64)]


@pytest.mark.parametrize("batch,dim,units,candidates", SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_references(batch, dim, units, candidates, dtype):
    rng = np.random.default_rng(batch * dim + units)
    x, weights, indices, bias = random_case(rng, batch, dim, units, candidates, dtype)
    out = tf_wta.hashed_matmul(x, weights, indices, bias)
    assert out.dtype == dtype and out.shape == (batch, candidates)
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), references.hashed_matmul(x, weights, indices, bias),
                               **tolerance)
    np.testing.assert_allclose(out.numpy(), tf_reference(x, weights, indices, bias).numpy(),
                               **tolerance)
    no_bias = tf_wta.hashed_matmul(x, weights, indices)
    np.testing.assert_allclose(no_bias.numpy(), references.hashed_matmul(x, weights, indices),
                               **tolerance)


def test_float32_is_exact_on_a_long_dot_product():
    # Reduced-precision accumulation (TF32, bfloat16) would miss by ~1e-3.
    rng = np.random.default_rng(1)
    x, weights, indices, bias = random_case(rng, 8, 4099, 50, 16, empty=0.0)
    out = tf_wta.hashed_matmul(x, weights, indices, bias).numpy()
    expected = references.hashed_matmul(x, weights, indices, bias)
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-6 * np.sqrt(4099) * 4)


def test_empty_slots_and_all_empty_rows_give_zero():
    rng = np.random.default_rng(2)
    x, weights, indices, bias = random_case(rng, 4, 10, 6, 5)
    indices[1] = -1
    indices[3, ::2] = -1
    out = tf_wta.hashed_matmul(x, weights, indices, bias).numpy()
    assert not out[1].any() and not out[3, ::2].any()
    np.testing.assert_allclose(out, references.hashed_matmul(x, weights, indices, bias), rtol=1e-5)
    all_empty = tf_wta.hashed_matmul(x, weights, np.full((4, 5), -1, np.int32), bias)
    assert not all_empty.numpy().any()


def test_empty_batch_and_no_candidates():
    weights = tf.ones([5, 3])
    out = tf_wta.hashed_matmul(tf.zeros([0, 3]), weights, tf.zeros([0, 4], tf.int32))
    assert out.shape == (0, 4)
    x = tf.Variable(tf.ones([2, 3]))
    w = tf.Variable(weights)
    b = tf.Variable(tf.zeros([5]))
    with tf.GradientTape() as tape:
        out = tf_wta.hashed_matmul(x, w, tf.zeros([2, 0], tf.int32), b)
        loss = tf.reduce_sum(out)
    assert out.shape == (2, 0)
    grad_x, grad_w, grad_b = tape.gradient(loss, [x, w, b])
    np.testing.assert_array_equal(grad_x.numpy(), np.zeros([2, 3]))
    assert grad_w.values.shape == (0, 3) and grad_w.indices.shape == (0,)
    assert grad_b.values.shape == (0,) and grad_b.indices.shape == (0,)


def test_unknown_batch_inside_tf_function():
    rng = np.random.default_rng(3)
    _, weights, _, bias = random_case(rng, 1, 24, 30, 1)

    @tf.function(input_signature=[tf.TensorSpec([None, 24], tf.float32),
                                  tf.TensorSpec([None, 7], tf.int32)])
    def logits(x, indices):
        out = tf_wta.hashed_matmul(x, weights, indices, bias)
        assert out.shape.as_list() == [None, 7]
        return out

    for batch in (0, 1, 19):
        x, _, indices, _ = random_case(rng, batch, 24, 30, 7)
        np.testing.assert_allclose(logits(x, indices).numpy(),
                                   references.hashed_matmul(x, weights, indices, bias),
                                   rtol=1e-5, atol=1e-5)


def gradients(fn, x, weights, indices, bias, upstream):
    x, weights, bias = tf.Variable(x), tf.Variable(weights), tf.Variable(bias)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fn(x, weights, indices, bias) * upstream)
    return tape.gradient(loss, [x, weights, bias])


@pytest.mark.parametrize("dtype,tolerance", [(np.float32, 1e-4), (np.float64, 1e-10)])
@pytest.mark.parametrize("batch,dim,units,candidates",
                         [(1, 1, 1, 1), (7, 33, 5, 9), (64, 257, 3000, 32),
                          pytest.param(256, 1280, 100_000, 128, marks=pytest.mark.slow)])
def test_forward_and_gradients_match_numpy(batch, dim, units, candidates, dtype, tolerance):
    rng = np.random.default_rng(dim)
    x, weights, _, bias = random_case(rng, batch, dim, units, 0, dtype)
    indices = rng.integers(-1, units, (batch, candidates)).astype(np.int32)
    if candidates >= 4:
        indices[0, :3] = indices[0, 3]  # duplicates within a row and across rows
        indices[-1, :2] = indices[0, 3]
    upstream = rng.standard_normal(indices.shape).astype(dtype)
    x_var, weights_var, bias_var = tf.Variable(x), tf.Variable(weights), tf.Variable(bias)
    with tf.GradientTape() as tape:
        out = tf_wta.hashed_matmul(x_var, weights_var, indices, bias_var)
        loss = tf.reduce_sum(out * upstream)
    grad_x, grad_w, grad_b = tape.gradient(loss, [x_var, weights_var, bias_var])
    tolerance = dict(rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(out.numpy(), references.hashed_matmul(x, weights, indices, bias),
                               **tolerance)
    want_x, units_hit, want_w, want_b = references.hashed_matmul_grad(x, weights, indices,
                                                                      upstream)
    np.testing.assert_allclose(grad_x.numpy(), want_x, **tolerance)
    for grad, want in ((grad_w, want_w), (grad_b, want_b)):
        assert isinstance(grad, tf.IndexedSlices)
        np.testing.assert_array_equal(grad.indices.numpy(), units_hit)
        np.testing.assert_allclose(grad.values.numpy(), want, **tolerance)


@pytest.mark.parametrize("batch,dim,units,candidates", [(5, 7, 3, 8), (40, 33, 20, 16),
                                                        (64, 130, 5000, 32)])
def test_gradients_match_tf_reference(batch, dim, units, candidates):
    rng = np.random.default_rng(units)
    x, weights, indices, bias = random_case(rng, batch, dim, units, candidates)
    indices[0, :3] = indices[0, 3]  # duplicates within a row
    indices[-1, :2] = indices[0, 3]  # and across rows
    upstream = rng.standard_normal((batch, candidates)).astype(np.float32)
    ours = gradients(tf_wta.hashed_matmul, x, weights, indices, bias, upstream)
    theirs = gradients(tf_reference, x, weights, indices, bias, upstream)
    for name, a, b in zip(["x", "weights", "bias"], ours, theirs):
        np.testing.assert_allclose(dense(a), dense(b), rtol=1e-4, atol=1e-4, err_msg=name)


def test_weight_and_bias_gradients_are_aggregated_indexed_slices():
    indices = np.array([[2, 2, -1, 0], [0, 2, -1, -1], [-1, -1, -1, -1]], np.int32)
    rng = np.random.default_rng(4)
    x, weights, _, bias = random_case(rng, 3, 5, 4, 4)
    upstream = rng.standard_normal(indices.shape).astype(np.float32)
    grad_x, grad_w, grad_b = gradients(tf_wta.hashed_matmul, x, weights, indices, bias, upstream)
    assert isinstance(grad_w, tf.IndexedSlices) and isinstance(grad_b, tf.IndexedSlices)
    np.testing.assert_array_equal(grad_w.indices.numpy(), [0, 2])
    np.testing.assert_array_equal(grad_b.indices.numpy(), [0, 2])
    assert grad_w.values.shape == (2, 5)
    assert tuple(grad_w.dense_shape.numpy()) == (4, 5)
    expected_row2 = (upstream[0, 0] + upstream[0, 1]) * x[0] + upstream[1, 1] * x[1]
    np.testing.assert_allclose(grad_w.values.numpy()[1], expected_row2, rtol=1e-5)
    np.testing.assert_allclose(grad_b.values.numpy(), [upstream[0, 3] + upstream[1, 0],
                                                       upstream[0, 0] + upstream[0, 1]
                                                       + upstream[1, 1]], rtol=1e-5)
    np.testing.assert_allclose(grad_x.numpy()[2], np.zeros(5))


def test_gradient_indices_unique_without_minus_one_at_scale():
    rng = np.random.default_rng(5)
    x, weights, indices, bias = random_case(rng, 256, 16, 300, 64, empty=0.3)
    _, grad_w, grad_b = gradients(tf_wta.hashed_matmul, x, weights, indices, bias,
                                  np.ones(indices.shape, np.float32))
    units = grad_w.indices.numpy()
    np.testing.assert_array_equal(units, np.unique(indices[indices >= 0]))
    np.testing.assert_array_equal(grad_b.indices.numpy(), units)
    counts = np.bincount(indices[indices >= 0], minlength=300)[units]
    np.testing.assert_allclose(grad_b.values.numpy(), counts)


@pytest.mark.parametrize("dtype,tolerance", [(tf.float64, 1e-9), (tf.float32, 2e-2)])
def test_compute_gradient(dtype, tolerance):
    rng = np.random.default_rng(6)
    x, weights, indices, bias = random_case(rng, 3, 5, 4, 6, dtype.as_numpy_dtype)
    indices[0, :2] = 1
    indices[2, 0] = 1
    for position in range(3):
        def fn(value, position=position):
            args = [x, weights, bias]
            args[position] = value
            return tf_wta.hashed_matmul(args[0], args[1], indices, args[2])

        theoretical, numerical = tf.test.compute_gradient(fn, [[x, weights, bias][position]])
        np.testing.assert_allclose(theoretical[0], numerical[0], rtol=tolerance, atol=tolerance)


def test_gradient_for_indices_is_none():
    indices = tf.Variable([[0, 1]], dtype=tf.int32)
    with tf.GradientTape() as tape:
        tape.watch(indices)
        loss = tf.reduce_sum(tf_wta.hashed_matmul(tf.ones([1, 3]), tf.ones([2, 3]), indices))
    assert tape.gradient(loss, indices) is None


def test_gradient_in_graph_mode():
    rng = np.random.default_rng(7)
    x, weights, indices, bias = random_case(rng, 6, 9, 8, 5)
    w = tf.Variable(weights)

    @tf.function
    def grad():
        return tf.gradients(tf.reduce_sum(tf_wta.hashed_matmul(x, w, indices, bias)), w)[0]

    ours = grad()
    upstream = np.ones(indices.shape, np.float32)
    theirs = gradients(tf_reference, x, weights, indices, bias, upstream)[1]
    np.testing.assert_allclose(dense(ours), dense(theirs), rtol=1e-5, atol=1e-5)


def test_sparse_sgd_updates_touch_only_selected_rows():
    rng = np.random.default_rng(8)
    x, weights, indices, bias = random_case(rng, 8, 6, 50, 4)
    indices[:, 0] = 7  # every row selects unit 7
    upstream = np.ones(indices.shape, np.float32)
    grad_w = gradients(tf_reference, x, weights, indices, bias, upstream)[1]
    expected = weights - 0.1 * dense(grad_w)

    _, ours, _ = gradients(tf_wta.hashed_matmul, x, weights, indices, bias, upstream)
    scattered = tf.Variable(weights)
    scattered.scatter_sub(tf.IndexedSlices(0.1 * ours.values, ours.indices))
    np.testing.assert_allclose(scattered.numpy(), expected, rtol=1e-5, atol=1e-6)

    import keras

    variable = tf.Variable(weights)
    keras.optimizers.SGD(learning_rate=0.1).apply_gradients([(ours, variable)])
    np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-6)
    untouched = np.setdiff1d(np.arange(50), indices)
    np.testing.assert_array_equal(variable.numpy()[untouched], weights[untouched])


def test_gradient_is_deterministic():
    # The CPU gradient sums grad_x over per-thread blocks in a fixed order;
    # the GPU one groups pairs by unit with a stable sort, without atomics.
    rng = np.random.default_rng(11)
    x, weights, indices, _ = random_case(rng, 128, 200, 3000, 64, empty=0.1)
    upstream = rng.standard_normal(indices.shape).astype(np.float32)
    runs = [tf_wta.load_ops().wta_hashed_matmul_grad(x, weights, indices, upstream)
            for _ in range(3)]
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


# Mixed precision: float16 and bfloat16 inputs and outputs, float32 sums,
# against the float64 numpy reference of the same (rounded) inputs; the
# tolerance is about one rounding of the output to its dtype.
HALF_TYPES = [pytest.param(tf.float16, 2e-3, id="float16"),
              pytest.param(tf.bfloat16, 1e-2, id="bfloat16")]


def as_half(rng_values, dtype):
    """float32 numpy values rounded to dtype: (the dtype tensor, its values
    as float32 numpy)."""
    tensor = tf.cast(tf.constant(rng_values, tf.float32), dtype)
    return tensor, tf.cast(tensor, tf.float32).numpy()


@pytest.mark.parametrize("dtype,rtol", HALF_TYPES)
@pytest.mark.parametrize("batch,dim,units,candidates",
                         [(1, 1, 1, 1), (7, 33, 5, 9), (64, 257, 3000, 32), (9, 130, 100_000, 5)])
def test_half_types_forward_and_gradients_match_numpy(batch, dim, units, candidates, dtype,
                                                      rtol):
    rng = np.random.default_rng(dim + 1)
    x32, weights32, _, bias32 = random_case(rng, batch, dim, units, 0)
    indices = rng.integers(-1, units, (batch, candidates)).astype(np.int32)
    if candidates >= 4:
        indices[0, :3] = indices[0, 3]  # duplicates within a row and across rows
        indices[-1, :2] = indices[0, 3]
    (x, x_ref), (weights, weights_ref), (bias, bias_ref), (upstream, upstream_ref) = (
        as_half(v, dtype) for v in (x32, weights32, bias32,
                                    rng.standard_normal(indices.shape).astype(np.float32)))
    with tf.GradientTape() as tape:
        tape.watch([x, weights, bias])
        out = tf_wta.hashed_matmul(x, weights, indices, bias)
        loss = tf.reduce_sum(out * upstream)
    grad_x, grad_w, grad_b = tape.gradient(loss, [x, weights, bias])
    assert out.dtype == dtype and out.shape == (batch, candidates)
    # Scale-aware tolerance: a dot product of D terms of size ~1.
    tolerance = dict(rtol=rtol, atol=rtol * np.sqrt(dim))
    as_float = lambda t: tf.cast(t, tf.float32).numpy()  # noqa: E731
    np.testing.assert_allclose(as_float(out), references.hashed_matmul(
        x_ref, weights_ref, indices, bias_ref), **tolerance)
    # The gradient of out * upstream is rounded to dtype before the op sees it.
    upstream_seen = as_float(tf.cast(upstream_ref, dtype))
    want_x, units_hit, want_w, want_b = references.hashed_matmul_grad(
        x_ref, weights_ref, indices, upstream_seen)
    assert grad_x.dtype == dtype
    np.testing.assert_allclose(as_float(grad_x), want_x, **tolerance)
    for grad, want in ((grad_w, want_w), (grad_b, want_b)):
        assert isinstance(grad, tf.IndexedSlices) and grad.values.dtype == dtype
        np.testing.assert_array_equal(grad.indices.numpy(), units_hit)
        np.testing.assert_allclose(as_float(grad.values), want, **tolerance)


@pytest.mark.parametrize("dtype,rtol", HALF_TYPES)
def test_half_types_accumulate_in_float32(dtype, rtol):
    # Every term positive, 4099 of them: summing in float16/bfloat16 itself
    # would lose the small terms once the sum is large (errors of several
    # percent); float32 sums round once, to within half an ulp of dtype.
    rng = np.random.default_rng(12)
    dim = 4099
    x, x_ref = as_half(rng.uniform(0.5, 1.0, (4, dim)).astype(np.float32), dtype)
    weights, weights_ref = as_half(rng.uniform(0.5, 1.0, (6, dim)).astype(np.float32) / 64,
                                   dtype)
    indices = np.array([[0, 1, 2], [3, 4, 5], [5, 5, -1], [0, -1, 2]], np.int32)
    out = tf.cast(tf_wta.hashed_matmul(x, weights, indices), tf.float32).numpy()
    expected = references.hashed_matmul(x_ref, weights_ref, indices)
    half_ulp = {tf.float16: 2.0 ** -11, tf.bfloat16: 2.0 ** -8}[dtype] + 1e-5  # relative
    np.testing.assert_allclose(out, expected, rtol=half_ulp, atol=0)
    _, grad_w, grad_b = gradients_of_sum(x, weights, indices)
    np.testing.assert_allclose(as_float32(grad_b.values), [2, 1, 2, 1, 1, 3], rtol=0)
    want_w = references.hashed_matmul_grad(x_ref, weights_ref, indices,
                                           np.ones(indices.shape))[2]
    np.testing.assert_allclose(as_float32(grad_w.values), want_w, rtol=half_ulp, atol=0)


def as_float32(tensor):
    return tf.cast(tensor, tf.float32).numpy()


def gradients_of_sum(x, weights, indices):
    bias = tf.zeros([weights.shape[0]], weights.dtype)
    with tf.GradientTape() as tape:
        tape.watch([x, weights, bias])
        loss = tf.reduce_sum(tf_wta.hashed_matmul(x, weights, indices, bias))
    return tape.gradient(loss, [x, weights, bias])


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16], ids=["float16", "bfloat16"])
def test_half_types_gradient_is_deterministic(dtype):
    rng = np.random.default_rng(13)
    x, weights, indices, _ = random_case(rng, 128, 200, 3000, 64, empty=0.1)
    upstream = rng.standard_normal(indices.shape).astype(np.float32)
    x, weights, upstream = (tf.cast(v, dtype) for v in (x, weights, upstream))
    runs = [tf_wta.load_ops().wta_hashed_matmul_grad(x, weights, indices, upstream)
            for _ in range(3)]
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            np.testing.assert_array_equal(as_float32(a), as_float32(b))
