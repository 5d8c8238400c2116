"""candidates_with_labels: the true label always ends up in the candidate set."""
import numpy as np
import pytest
import tensorflow as tf

from tf_wta.candidates import candidates_with_labels


def test_label_kept_where_present_and_inserted_where_missing():
    candidates = tf.constant([[5, 3, 9], [1, 2, -1], [7, 8, 4], [-1, -1, -1]], tf.int32)
    labels = tf.constant([3, 6, 4, 0], tf.int64)
    result, positions = candidates_with_labels(candidates, labels)
    np.testing.assert_array_equal(result.numpy(),
                                  [[5, 3, 9], [1, 2, 6], [7, 8, 4], [-1, -1, 0]])
    np.testing.assert_array_equal(positions.numpy(), [1, 2, 2, 2])


def test_unknown_batch_and_empty_batch():
    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.int32),
                                  tf.TensorSpec([None], tf.int32)])
    def insert(candidates, labels):
        return candidates_with_labels(candidates, labels)

    result, positions = insert(tf.zeros([0, 4], tf.int32), tf.zeros([0], tf.int32))
    assert result.shape == (0, 4) and positions.shape == (0,)
    rng = np.random.default_rng(0)
    candidates = rng.integers(-1, 20, (50, 4)).astype(np.int32)
    labels = rng.integers(0, 20, 50).astype(np.int32)
    result, positions = insert(candidates, labels)
    np.testing.assert_array_equal(result.numpy()[np.arange(50), positions.numpy()], labels)


def test_needs_a_slot_for_the_label():
    with pytest.raises(ValueError, match="at least one column"):
        candidates_with_labels(tf.zeros([2, 0], tf.int32), tf.zeros([2], tf.int32))
