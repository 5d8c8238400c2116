"""sparse_apply_sgd / sparse_apply_adam and the optimizers that use them:
numpy references, reads that stay consistent, and bad inputs. On every
device: the CPU kernels check row ids, the GPU ones skip an id outside
[0, N) (see conftest.py)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_wta

raw_ops = tf_wta.load_ops()

pytestmark = pytest.mark.usefixtures("device")  # see conftest.py


def sparse_gradient(rng, shape, ids, dtype):
    values = rng.standard_normal((len(ids),) + shape[1:]).astype(dtype)
    return values, tf.IndexedSlices(tf.constant(values), tf.constant(ids, tf.int32),
                                    tf.constant(shape))


def summed(values, ids, shape):
    dense = np.zeros(shape, np.float64)
    np.add.at(dense, np.asarray(ids, np.int64), values.astype(np.float64))
    return dense, sorted(set(ids))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,ids", [((40, 7), [3, 17, 0, 39]),   # unsorted
                                       ((40, 7), [5, 9, 5, 2, 9]),  # repeated ids summed
                                       ((40,), [1, 2, 30]),
                                       ((30, 2, 3), [29, 0]),
                                       ((10, 4), []),
                                       ((300, 70), [299, 4, 0, 17, 150])])
def test_sgd_matches_reference(dtype, shape, ids):
    rng = np.random.default_rng(0)
    start = rng.standard_normal(shape).astype(dtype)
    variable = tf.Variable(start)
    values, gradient = sparse_gradient(rng, shape, ids, dtype)
    tf_wta.sparse_apply_sgd(variable, 0.25, gradient)
    grad, _ = summed(values, ids, shape)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(variable.numpy(), start - 0.25 * grad, rtol=tol, atol=tol)
    assert variable.dtype == dtype


def adam_reference(var, m, v, grad, rows, alpha, beta_1, beta_2, epsilon):
    var, m, v = var.astype(np.float64), m.astype(np.float64), v.astype(np.float64)
    m[rows] = beta_1 * m[rows] + (1 - beta_1) * grad[rows]
    v[rows] = beta_2 * v[rows] + (1 - beta_2) * grad[rows] ** 2
    var[rows] -= alpha * m[rows] / (np.sqrt(v[rows]) + epsilon)
    return var, m, v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,ids", [((50, 33), [7, 2, 49, 7, 0]),
                                       ((300, 70), [299, 4, 0, 17, 150])])
def test_adam_matches_reference(dtype, shape, ids):
    rng = np.random.default_rng(1)
    start = [rng.standard_normal(shape).astype(dtype) for _ in range(2)]
    start.append(rng.random(shape).astype(dtype))
    variable, m, v = (tf.Variable(s) for s in start)
    values, gradient = sparse_gradient(rng, shape, ids, dtype)
    for _ in range(2):  # twice: the second step reads the updated moments
        tf_wta.sparse_apply_adam(variable, m, v, 0.01, 0.9, 0.999, 1e-7, gradient)
    grad, rows = summed(values, ids, shape)
    expected = start
    for _ in range(2):
        expected = adam_reference(*expected, grad, rows, 0.01, 0.9, 0.999, 1e-7)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for got, want in zip((variable, m, v), expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=tol, atol=tol)
    untouched = [r for r in range(shape[0]) if r not in rows]
    np.testing.assert_array_equal(variable.numpy()[untouched], start[0][untouched])


def test_a_value_read_before_the_update_keeps_its_value():
    variable = tf.Variable(tf.ones([6, 4]))
    before = variable.read_value()  # holds the variable's buffer
    tf_wta.sparse_apply_sgd(variable, 1.0, tf.IndexedSlices(tf.ones([1, 4]), [2]))
    np.testing.assert_array_equal(before.numpy(), 1.0)
    assert variable.numpy()[2].tolist() == [0.0] * 4


def test_after_a_scatter_in_a_tf_function():
    # scatter_sub leaves the variable in copy-on-read mode; the fused op must
    # still update it in place and later reads must see the result.
    variable = tf.Variable(tf.zeros([5, 3]))

    @tf.function
    def step():
        variable.scatter_sub(tf.IndexedSlices(tf.ones([1, 3]), [0]))
        tf_wta.sparse_apply_sgd(variable, 2.0, tf.IndexedSlices(tf.ones([2, 3]), [0, 4]))
        return tf.reduce_sum(variable.read_value())

    assert float(step()) == -3.0 * 3 - 2.0 * 3
    np.testing.assert_array_equal(variable.numpy()[[0, 4], 0], [-3.0, -2.0])


def test_sparse_sgd_matches_sgd():
    variable = keras.Variable(np.ones((6, 3), np.float32))
    reference = keras.Variable(np.ones((6, 3), np.float32))
    values = tf.constant([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [1.0, 1.0, 1.0]])
    sparse = tf.IndexedSlices(values, tf.constant([4, 1, 4]), tf.constant([6, 3]))
    tf_wta.SparseSGD(0.1).apply_gradients([(sparse, variable)])
    keras.optimizers.SGD(0.1).apply_gradients([(sparse, reference)])
    np.testing.assert_allclose(variable.numpy(), reference.numpy(), rtol=1e-6)


def test_sparse_sgd_with_momentum_is_sgd():
    variable = keras.Variable(np.ones((4, 2), np.float32))
    reference = keras.Variable(np.ones((4, 2), np.float32))
    sparse = tf.IndexedSlices(tf.ones([2, 2]), tf.constant([3, 0]), tf.constant([4, 2]))
    optimizer, plain = tf_wta.SparseSGD(0.1, momentum=0.5), keras.optimizers.SGD(0.1, momentum=0.5)
    for _ in range(2):
        optimizer.apply_gradients([(sparse, variable)])
        plain.apply_gradients([(sparse, reference)])
    np.testing.assert_allclose(variable.numpy(), reference.numpy(), rtol=1e-6)


def test_sparse_sgd_serializes():
    optimizer = tf_wta.SparseSGD(0.25)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, tf_wta.SparseSGD)
    assert float(restored.learning_rate) == 0.25


# Bad inputs, through the raw ops (no aggregation or casts in front of them).

def sgd_and_adam(ids, num_rows=6):
    """(SGD variable, Adam variable, m, v) after one step of rows of ones at
    `ids`, through the raw ops."""
    sgd, var, m, v = (tf.Variable(tf.zeros([num_rows, 2])) for _ in range(4))
    rows = tf.ones([len(ids), 2])
    raw_ops.wta_sparse_apply_sgd(sgd.handle, 1.0, rows, ids)
    raw_ops.wta_sparse_apply_adam(var.handle, m.handle, v.handle, 0.1, 0.9, 0.999, 1e-7, rows,
                                  ids)
    return [t.numpy() for t in (sgd, var, m, v)]


@pytest.mark.parametrize("bad_id", [6, -1, 2**31 - 1])
def test_id_outside_rows(bad_id, device):
    if device == "gpu":  # the id is skipped
        for ours, theirs in zip(sgd_and_adam([0, bad_id]), sgd_and_adam([0])):
            np.testing.assert_array_equal(ours, theirs)
        return
    variable = tf.Variable(tf.zeros([6, 2]))
    match = rf"row_ids\[1\] = {bad_id} is outside \[0, N\) for var with N=6 rows"
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        raw_ops.wta_sparse_apply_sgd(variable.handle, 1.0, tf.ones([2, 2]), [0, bad_id])
    m, v = tf.Variable(tf.zeros([6, 2])), tf.Variable(tf.zeros([6, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        raw_ops.wta_sparse_apply_adam(variable.handle, m.handle, v.handle, 0.1, 0.9, 0.999,
                                      1e-7, tf.ones([2, 2]), [0, bad_id])
    np.testing.assert_array_equal(variable.numpy(), 0.0)


def test_ids_outside_rows_among_good_ones(device):
    variable = tf.Variable(tf.zeros([4, 3]))
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"row_ids\[1\] = 4 is outside \[0, N\) for var with N=4 rows"):
            raw_ops.wta_sparse_apply_sgd(variable.handle, 1.0, tf.ones([3, 3]),
                                         tf.constant([1, 4, -1], tf.int32))
        np.testing.assert_array_equal(variable.numpy(), 0.0)
        return
    raw_ops.wta_sparse_apply_sgd(variable.handle, 1.0, tf.ones([3, 3]),
                                 tf.constant([1, 4, -1], tf.int32))
    np.testing.assert_array_equal(variable.numpy()[:, 0], [0.0, -1.0, 0.0, 0.0])


def test_repeated_id(device):
    if device == "gpu":
        pytest.skip("the GPU kernels do not check that row ids are distinct (the public "
                    "functions sum repeated ids first); a repeated id races there")
    variable = tf.Variable(tf.zeros([6, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="row_ids must be distinct .*, got 3 more than once"):
        raw_ops.wta_sparse_apply_sgd(variable.handle, 1.0, tf.ones([3, 2]), [3, 1, 3])


def test_rows_shape_mismatch():
    variable = tf.Variable(tf.zeros([6, 2]))
    match = (r"rows must have shape \[U\] \+ var.shape\[1:\] with U = len\(row_ids\), got rows "
             r"of shape \[{}\], row_ids of shape \[2\] and var of shape \[6,2\]")
    with pytest.raises(tf.errors.InvalidArgumentError, match=match.format("2,3")):
        raw_ops.wta_sparse_apply_sgd(variable.handle, 1.0, tf.ones([2, 3]), [0, 1])
    with pytest.raises(tf.errors.InvalidArgumentError, match=match.format("3,2")):
        raw_ops.wta_sparse_apply_sgd(variable.handle, 1.0, tf.ones([3, 2]), [0, 1])


def test_learning_rate_not_scalar():
    variable = tf.Variable(tf.zeros([6, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"learning_rate must be a scalar, got shape \[2\]"):
        raw_ops.wta_sparse_apply_sgd(variable.handle, [1.0, 2.0], tf.ones([1, 2]), [0])


def test_wrong_variable_dtype():
    variable = tf.Variable(tf.zeros([6, 2], tf.float64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="var must be a variable of dtype "
                                                             "float, got double"):
        raw_ops.wta_sparse_apply_sgd(variable.handle, 1.0, tf.ones([1, 2]), [0])
    with pytest.raises(ValueError, match="variable must be float32 or float64"):
        tf_wta.sparse_apply_sgd(tf.Variable([1, 2]), 1.0, tf.IndexedSlices([1], [0]))


def test_moments_of_another_shape():
    variable, m, v = tf.Variable(tf.zeros([6, 2])), tf.Variable(tf.zeros([6, 3])), \
        tf.Variable(tf.zeros([6, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="m and v must have the shape of var"):
        raw_ops.wta_sparse_apply_adam(variable.handle, m.handle, v.handle, 0.1, 0.9, 0.999, 1e-7,
                                      tf.ones([1, 2]), [0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="three distinct variables"):
        raw_ops.wta_sparse_apply_adam(variable.handle, variable.handle, v.handle, 0.1, 0.9,
                                      0.999, 1e-7, tf.ones([1, 2]), [0])


def test_not_a_variable():
    with pytest.raises(ValueError, match="variable must be a resource variable"):
        tf_wta.sparse_apply_sgd(tf.zeros([3, 2]), 1.0, tf.IndexedSlices(tf.ones([1, 2]), [0]))
