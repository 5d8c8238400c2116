"""The batch-shared candidate set an output-mode WTADense trains on."""
import tensorflow as tf


def shared_candidate_set(labels, sampled):
    """One set of classes scored for every example of a batch.

    Args:
      labels: int32 [B], the batch's labels.
      sampled: int32 [H + m], the classes the batch hashes to (-1 padded)
        and classes sampled uniformly (`WTADense.shared_candidates`).
    Returns:
      (ids, positions): int32 [S] the distinct classes of both, labels
      first (S <= B + H + m, known at run time), and int32 [B] the position
      of each example's label in ids. A class appears once, so no example
      sees its own label as a negative (no accidental hits to mask); the
      other examples' labels are negatives, as in the full softmax.
    """
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    sampled = tf.boolean_mask(sampled, sampled >= 0)
    ids, slots = tf.unique(tf.concat([labels, sampled], axis=0))
    return ids, slots[:tf.shape(labels)[0]]


def shared_logits(inputs, kernel, bias, ids):
    """Logits of every example for the classes ids: one gather, one GEMM.

    Args:
      inputs: float [B, D].
      kernel: float [N, D] (a variable: its gradient is `tf.IndexedSlices`
        over the S rows).
      bias: float [N] or None.
      ids: int32 [S] distinct class ids in [0, N).
    Returns:
      float [B, S].
    """
    logits = tf.matmul(inputs, tf.gather(kernel, ids), transpose_b=True)
    if bias is not None:
        logits += tf.gather(bias, ids)
    return logits
