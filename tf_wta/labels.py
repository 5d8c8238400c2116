"""Labels of one or several classes per example, as `WTAModel` accepts them."""
import tensorflow as tf


def label_matrix(labels):
    """Labels as a padded id matrix.

    Args:
      labels: int [B] or [B, 1] (one class per example), int [B, k] padded
        with -1 (several), or an int `tf.RaggedTensor` [B, None].
    Returns:
      (matrix, multi_label): int32 [B, k] class ids, -1 padded, and whether
      the labels are multi-label (known from their type and static shape:
      ragged, or rank 2 with k != 1).
    Raises:
      ValueError: labels of rank above 2.
    """
    if isinstance(labels, tf.RaggedTensor):
        return tf.cast(labels.to_tensor(default_value=-1), tf.int32), True
    labels = tf.convert_to_tensor(labels)
    rank = labels.shape.rank
    if rank is not None and rank > 2:
        raise ValueError(f"labels must be [B], [B, k] (-1 padded) or ragged [B, None], got "
                         f"shape {labels.shape}")
    if rank == 2 and labels.shape[1] != 1:
        return tf.cast(labels, tf.int32), True
    return tf.cast(tf.reshape(labels, [-1, 1]), tf.int32), False


def multi_hot(positions, depth, dtype=tf.float32):
    """Multi-hot rows of label positions: [B, k] ids in [-1, depth), -1
    ignored, -> dtype [B, depth] with 1 at every position (repeats count once)."""
    hot = tf.reduce_max(tf.one_hot(positions, depth, dtype=dtype), axis=1)
    return tf.cast(hot, dtype)


def check_label_range(labels, units):
    """Assertions that int32 [B, k] labels are in [-1, units) for multi-label
    padding, or [0, units) for one label per example (k = 1)."""
    single = tf.shape(labels)[1] == 1
    low = tf.where(single, 0, -1)
    return [
        tf.debugging.assert_greater_equal(
            labels, low, message="labels must be >= 0 (-1 pads multi-label rows)"),
        tf.debugging.assert_less(labels, units, message=f"labels must be < units={units}"),
    ]
