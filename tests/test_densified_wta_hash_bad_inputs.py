"""densified_wta_hash: bad inputs give errors that name the input; nothing
crashes. On every device (see conftest.py)."""
import numpy as np
import pytest
import tensorflow as tf

import references
import tf_wta

raw_ops = tf_wta.load_ops()

pytestmark = pytest.mark.usefixtures("device")  # see conftest.py


def windows_of(*rows):
    return tf.constant(rows, tf.int32)


# Window indices, ranks, dtypes and empty shapes: test_bad_inputs.py checks
# them for every hash op.


def test_window_index_outside_dim_in_any_position(device):
    x = tf.constant([[1.0, 2.0, 0.0, 3.0]])
    windows = tf.constant([[5, 0, 1], [-1, 2, 0], [99, 2, -7], [3, 1, 2]], tf.int32)
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"windows\[0, 0\] = 5 is outside \[0, D\) for x of shape \[1,4\]"):
            tf_wta.densified_wta_hash(x, windows)
        return
    # The GPU skips a bad index like a zero: window 2 sees only bad indices
    # and a zero, so it borrows like an empty window.
    raw = np.array([[2, 2, -1, 0]])
    expected = raw.copy()
    for t in range(1, 101):
        borrowed = raw[0, references.densified_probe(2, t, 4)]
        if borrowed >= 0:
            expected[0, 2] = borrowed
            break
    np.testing.assert_array_equal(tf_wta.densified_wta_hash(x, windows).numpy(), expected)


def test_raw_op_rejects_float64():
    # Eager: the attr check names the type attr; in a tf.function: the input.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"attr 'T' of double is not in the list of allowed values: "
                             r"float, half, bfloat16"):
        raw_ops.wta_densified_hash(tf.ones([2, 3], tf.float64), windows_of([0, 1]))
    with pytest.raises(TypeError, match=r"parameter 'x' has DataType float64 not in list of "
                                        r"allowed values: float32, float16, bfloat16"):
        tf.function(lambda: raw_ops.wta_densified_hash(tf.ones([2, 3], tf.float64),
                                                       windows_of([0, 1])))()


@pytest.mark.parametrize("max_probes", [0, -3])
def test_max_probes_below_one(max_probes):
    with pytest.raises(ValueError, match=f"max_probes must be >= 1, got {max_probes}"):
        tf_wta.densified_wta_hash(tf.ones([2, 3]), windows_of([0, 1]), max_probes=max_probes)
    # The op's attr constraint rejects it when the wrapper is bypassed.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"attr 'max_probes' of {max_probes} must be at least minimum 1"):
        raw_ops.wta_densified_hash(tf.ones([2, 3]), windows_of([0, 1]), max_probes=max_probes)


@pytest.mark.parametrize("max_probes", [2.0, True, None])
def test_max_probes_not_an_int(max_probes):
    with pytest.raises(ValueError, match="max_probes must be an int"):
        tf_wta.densified_wta_hash(tf.ones([2, 3]), windows_of([0, 1]), max_probes=max_probes)


def test_max_probes_beyond_int32():
    with pytest.raises(ValueError, match="max_probes must fit in int32"):
        tf_wta.densified_wta_hash(tf.ones([2, 3]), windows_of([0, 1]), max_probes=2**31)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"max_probes must be in \[1"):
        raw_ops.wta_densified_hash(tf.ones([2, 3]), windows_of([0, 1]), max_probes=2**31)


def test_shape_function_rejects_bad_static_shapes():
    @tf.function
    def hash_rank3():
        return raw_ops.wta_densified_hash(tf.ones([2, 3, 4]), tf.zeros([2, 2], tf.int32))

    with pytest.raises(ValueError, match="must be rank 2"):
        hash_rank3()


def test_shape_function_infers_codes_shape():
    @tf.function(input_signature=[tf.TensorSpec([None, 12], tf.float32),
                                  tf.TensorSpec([5, None], tf.int32)])
    def hash_batch(x, windows):
        codes = raw_ops.wta_densified_hash(x, windows)
        assert codes.shape.as_list() == [None, 5]
        return codes

    assert hash_batch(np.zeros((3, 12), np.float32), np.zeros((5, 2), np.int32)).shape == (3, 5)
