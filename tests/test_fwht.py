"""fwht (fast Walsh-Hadamard transform) against numpy references on every
device (see conftest.py): explicit Hadamard products for small d, an
O(d log d) reference for large d; its gradient, shape function and bad
inputs."""
import numpy as np
import pytest
import tensorflow as tf

import tf_wta

pytestmark = pytest.mark.usefixtures("device")


def hadamard(d):
    """The Sylvester-ordered Hadamard matrix H_d (scipy.linalg.hadamard(d)),
    built by the recursion H_2n = [[H_n, H_n], [H_n, -H_n]], as float64."""
    h = np.ones((1, 1))
    while h.shape[0] < d:
        h = np.block([[h, h], [h, -h]])
    assert h.shape == (d, d)
    return h


def fwht_reference(x):
    """x @ H_d over the last axis in float64, O(d log d): the row reshaped
    to [..., d / 2h, 2, h] pairs entries h apart at every stage."""
    y = np.array(x, np.float64)
    d = y.shape[-1]
    h = 1
    while h < d:
        v = y.reshape(y.shape[:-1] + (d // (2 * h), 2, h))
        y = np.stack([v[..., 0, :] + v[..., 1, :], v[..., 0, :] - v[..., 1, :]],
                     axis=-2).reshape(y.shape)
        h *= 2
    return y


def test_hadamard_reference_is_sylvester():
    np.testing.assert_array_equal(hadamard(2), [[1, 1], [1, -1]])
    h = hadamard(16)
    np.testing.assert_array_equal(h @ h, 16 * np.eye(16))
    np.testing.assert_array_equal(h, h.T)
    x = np.random.default_rng(0).standard_normal((3, 64))
    np.testing.assert_allclose(fwht_reference(x), x @ hadamard(64), atol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024])
@pytest.mark.parametrize("batch", [1, 5, 64])
def test_matches_explicit_hadamard(batch, d):
    x = np.random.default_rng(batch * d).standard_normal((batch, d)).astype(np.float32)
    y = tf_wta.fwht(x)
    assert y.dtype == tf.float32 and y.shape == (batch, d)
    np.testing.assert_allclose(y.numpy(), x.astype(np.float64) @ hadamard(d),
                               rtol=1e-5, atol=1e-5 * np.sqrt(d))


# 2**12..2**16 cross the CPU kernel's 4096-float blocks and the CUDA
# kernel's 8192-float shared-memory rows (its radix-4 and radix-2 passes).
@pytest.mark.parametrize("d", [2**12, 2**13, 2**14, 2**15, 2**16])
def test_matches_fast_reference_for_large_d(d):
    x = np.random.default_rng(d).standard_normal((3, d)).astype(np.float32)
    y = tf_wta.fwht(x).numpy()
    np.testing.assert_allclose(y, fwht_reference(x), rtol=1e-4, atol=1e-5 * d)


@pytest.mark.parametrize("d", [16, 512, 2**14])
@pytest.mark.parametrize("dtype", [np.float16, tf.bfloat16.as_numpy_dtype])
def test_half_precision_accumulates_in_float32(d, dtype):
    x = np.random.default_rng(d).standard_normal((4, d)).astype(dtype)
    y = tf_wta.fwht(x)
    assert y.dtype == tf.as_dtype(dtype)
    expected = fwht_reference(x.astype(np.float64))
    # One rounding of the float32 result: the error of an output is at most
    # a unit in its last place, plus float32 accumulation.
    eps = 2.0**-10 if dtype == np.float16 else 2.0**-7
    got = y.numpy().astype(np.float64)
    assert np.all(np.abs(got - expected) <= eps * np.abs(expected) + 1e-4 * np.sqrt(d))


def test_integer_inputs_are_exact_and_the_transform_is_its_own_inverse_up_to_d():
    x = np.random.default_rng(1).integers(-8, 8, (6, 2048)).astype(np.float32)
    y = tf_wta.fwht(x)
    np.testing.assert_array_equal(y.numpy(), fwht_reference(x))
    np.testing.assert_array_equal(tf_wta.fwht(y).numpy(), 2048 * x)


@pytest.mark.parametrize("d", [1, 8, 256])
def test_gradient_is_the_transform_of_the_upstream_gradient(d):
    rng = np.random.default_rng(d)
    x = tf.constant(rng.standard_normal((3, d)).astype(np.float32))
    upstream = rng.standard_normal((3, d)).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf_wta.fwht(x) * upstream)
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), upstream @ hadamard(d),
                               rtol=1e-5, atol=1e-5 * np.sqrt(d))


def test_gradient_check():
    x = tf.constant(np.random.default_rng(2).standard_normal((2, 16)), tf.float32)
    theoretical, numerical = tf.test.compute_gradient(tf_wta.fwht, [x], delta=1e-2)
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(theoretical[0], np.kron(np.eye(2), hadamard(16)), atol=1e-6)


def test_second_order_gradient():
    x = tf.ones([2, 8])
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_sum(tf_wta.fwht(x) ** 2)
        grad_sum = tf.reduce_sum(inner.gradient(y, x))
    # y = |x H|^2 = 8 |x|^2, so the Hessian-vector product with ones is 16.
    np.testing.assert_allclose(outer.gradient(grad_sum, x).numpy(),
                               np.full((2, 8), 16.0), rtol=1e-6)


def test_graph_mode_shape_inference():
    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
    def transform(x):
        y = tf_wta.fwht(x)
        assert y.shape.as_list() == [None, 64]
        return y

    x = np.random.default_rng(3).standard_normal((5, 64)).astype(np.float32)
    np.testing.assert_allclose(transform(x).numpy(), x @ hadamard(64), rtol=1e-5, atol=1e-4)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def unknown_width(x):
        return tf_wta.fwht(x)

    np.testing.assert_allclose(unknown_width(x).numpy(), x @ hadamard(64), rtol=1e-5,
                               atol=1e-4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="power-of-two number of columns"):
        unknown_width(np.ones((2, 12), np.float32))


def test_empty_batch():
    assert tf_wta.fwht(tf.zeros([0, 16])).shape == (0, 16)


def test_bad_inputs_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"power-of-two number of columns d \(pad it\), "
                                         r"got shape \(2, 12\)"):
        tf_wta.fwht(tf.ones([2, 12]))
    with pytest.raises(ValueError, match="power-of-two number of columns"):
        tf_wta.fwht(tf.ones([2, 0]))
    with pytest.raises(ValueError, match="x must have dtype float32, float16, bfloat16, "
                                         "got float64"):
        tf_wta.fwht(tf.ones([2, 8], tf.float64))
    with pytest.raises(ValueError, match=r"x must be a rank-2 tensor, got shape \(8,\)"):
        tf_wta.fwht(tf.ones([8]))
    raw = tf_wta.load_ops().wta_fwht
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"x must have a power-of-two number of columns d \(pad it\), "
                             r"got shape \[3,6\]"):
        raw(x=tf.ones([3, 6]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="x must be a rank-2 tensor"):
        raw(x=tf.ones([2, 2, 4]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="power-of-two"):
        raw(x=tf.ones([3, 0]))

    @tf.function
    def static_bad():
        return raw(x=tf.ones([3, 6]))

    with pytest.raises(ValueError, match="power-of-two number of columns"):
        static_bad()  # the shape function rejects it when tracing
