"""Candidate-set helpers built from stock TensorFlow ops."""
import tensorflow as tf


def candidates_with_labels(candidates, labels):
    """Makes sure each row's true label is among its candidates.

    A row that already holds its label is unchanged; otherwise its last slot
    (the lowest-ranked candidate, or padding) is replaced by the label. This is
    how training keeps the target unit in the computed set.

    Args:
      candidates: int32 [B, C] unit ids (-1 for padding), C >= 1, e.g. from
        `query_index`.
      labels: int [B] unit ids of the true labels.
    Returns:
      (candidates, positions): int32 [B, C] with the label in every row, and
      int32 [B] the column of each row's label.
    Raises:
      ValueError: C is statically 0, or the ranks are wrong.
    """
    candidates = tf.convert_to_tensor(candidates, tf.int32)
    labels = tf.cast(tf.convert_to_tensor(labels), tf.int32)
    if candidates.shape.rank != 2:
        raise ValueError(f"candidates must be a rank-2 tensor, got shape {candidates.shape}")
    if labels.shape.rank != 1:
        raise ValueError(f"labels must be a rank-1 tensor, got shape {labels.shape}")
    if candidates.shape[1] == 0:
        raise ValueError("candidates must have at least one column to hold the label")
    matches = tf.equal(candidates, labels[:, None])
    present = tf.reduce_any(matches, axis=1)
    num_slots = tf.shape(candidates)[1]
    last_slot = tf.one_hot(num_slots - 1, num_slots, on_value=True, off_value=False)
    replace = tf.logical_and(tf.logical_not(present)[:, None], last_slot[None, :])
    candidates = tf.where(replace, labels[:, None], candidates)
    positions = tf.argmax(tf.cast(tf.equal(candidates, labels[:, None]), tf.int32), axis=1,
                          output_type=tf.int32)
    return candidates, positions
