"""Candidate sets of an output-mode WTADense beyond its per-example hashed
candidates: the batch-shared set, and uniform negatives added per example."""
import numpy as np
import tensorflow as tf

from tf_wta.layers.row_shards import gather_rows

# Logit of an empty candidate slot: far below any real logit, yet finite so
# that softmax and cross-entropy stay NaN-free.
EMPTY_SLOT_LOGIT = -1e9


def empty_slot_logit(dtype, value=EMPTY_SLOT_LOGIT):
    """value as a dtype scalar; a finite value is kept finite (float16 tops
    out at 65504: -1e9 becomes its lowest, -65504, not -inf)."""
    dtype = tf.as_dtype(dtype)
    if np.isfinite(value):
        value = max(value, float(dtype.min))
    return tf.constant(value, dtype)


def scatter_rows(values, candidates, units):
    """Each row's candidate values placed in a dense row, zeros elsewhere.

    Args:
      values: float [B, C]; candidates: int32 [B, C] unit ids, -1 padded
        (those values are dropped); units: int N.
    Returns:
      float [B, N].
    """
    values = tf.where(candidates >= 0, values, tf.zeros_like(values))
    batch = tf.shape(candidates)[0]
    rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(candidates))
    positions = tf.stack([rows, tf.maximum(candidates, 0)], axis=-1)
    return tf.scatter_nd(positions, values, tf.stack([batch, units]))


def shared_candidate_set(labels, sampled):
    """One set of classes scored for every example of a batch.

    Args:
      labels: int32 [B] (one label per example) or [B, k] (several, -1
        padded), the batch's labels.
      sampled: int32 [n], hashed classes of the batch's examples (-1
        padded) and uniformly drawn classes (`WTADense.shared_candidates`).
    Returns:
      (ids, positions): int32 [S] the distinct classes of both, labels
      first (S <= B * k + n, known at run time), and int32 positions of
      the labels in ids, shaped like labels (-1 where a label is -1). A
      class appears once, so no example sees its own label as a negative
      (no accidental hits to mask); the other examples' labels are
      negatives, as in the full softmax.
    """
    labels = tf.cast(labels, tf.int32)
    flat = tf.reshape(labels, [-1])
    sampled = tf.boolean_mask(sampled, sampled >= 0)
    # -1 padding takes part in tf.unique, then is dropped with a renumbering.
    all_ids, slots = tf.unique(tf.concat([flat, sampled], axis=0))
    kept = all_ids >= 0
    renumbered = tf.cumsum(tf.cast(kept, tf.int32)) - 1
    label_slots = tf.gather(renumbered, slots[:tf.size(flat)])
    positions = tf.where(flat >= 0, label_slots, -1)
    return tf.boolean_mask(all_ids, kept), tf.reshape(positions, tf.shape(labels))


def candidates_with_all_labels(candidates, labels):
    """Each row's labels first, then its candidates that are not labels.

    Args:
      candidates: int32 [B, C] unit ids, -1 padded.
      labels: int32 [B, k] label ids, -1 padded.
    Returns:
      (candidates, positions): int32 [B, k + C] (a candidate that repeats a
      label of its row becomes -1) and int32 [B, k], each label's column
      (-1 for padding).
    """
    repeats = tf.reduce_any(tf.equal(candidates[:, :, None], labels[:, None, :]), axis=-1)
    candidates = tf.concat([labels, tf.where(repeats, -1, candidates)], axis=1)
    columns = tf.broadcast_to(tf.range(tf.shape(labels)[1])[None, :], tf.shape(labels))
    return candidates, tf.where(labels >= 0, columns, -1)


def shared_logits(inputs, kernel, bias, ids):
    """Logits of every example for the classes ids: one gather, one GEMM.

    Args:
      inputs: float [B, D].
      kernel: float [N, D] (a variable: its gradient is `tf.IndexedSlices`
        over the S rows), or the `RowShards` of one (one per block).
      bias: float [N] (or its `RowShards`) or None.
      ids: int32 [S] distinct class ids in [0, N).
    Returns:
      float [B, S].
    """
    logits = tf.matmul(inputs, gather_rows(kernel, ids), transpose_b=True)
    if bias is not None:
        logits += gather_rows(bias, ids)
    return logits


def uniform_logits_per_example(inputs, kernel, bias, candidates, uniform, empty_slot):
    """Logits of uniformly drawn classes shared by the batch, added to each
    example's own candidates (per-example mode with num_uniform > 0).

    Args:
      inputs: float [B, D]; kernel: float [N, D]; bias: float [N] or None.
      candidates: int32 [B, C], each row's candidates (label included).
      uniform: int32 [m] class ids in [0, N), possibly repeated.
      empty_slot: the logit of a masked draw (far below any real logit).
    Returns:
      (logits, ids): float [B, U] and int32 [U], U <= m the distinct draws;
      a draw that is already among a row's candidates gets `empty_slot` in
      that row, so no class (the label included) counts twice.
    """
    ids, _ = tf.unique(tf.cast(uniform, tf.int32))
    logits = shared_logits(inputs, kernel, bias, ids)
    ordered = tf.sort(candidates, axis=1)
    draws = tf.broadcast_to(ids[None, :], [tf.shape(candidates)[0], tf.shape(ids)[0]])
    slot = tf.minimum(tf.searchsorted(ordered, draws), tf.shape(candidates)[1] - 1)
    taken = tf.equal(tf.gather(ordered, slot, batch_dims=1), draws)
    return tf.where(taken, empty_slot_logit(logits.dtype, empty_slot), logits), ids


def append_uniform_draws(inputs, kernel, bias, candidates, logits, uniform):
    """Each row's candidate logits followed by those of uniform draws shared
    by the batch (`uniform_logits_per_example`).

    Args:
      inputs, kernel, bias: as for `uniform_logits_per_example`.
      candidates: int32 [B, C] unit ids (-1 empty); logits: float [B, C]
        their logits.
      uniform: int32 [m] drawn unit ids.
    Returns:
      (logits, candidates): float [B, C + U] and int32 [B, C + U], U <= m the
      distinct draws; a draw that repeats one of its row's candidates has
      id -1 and the empty-slot logit in that row.
    """
    drawn, ids = uniform_logits_per_example(inputs, kernel, bias, candidates, uniform,
                                            EMPTY_SLOT_LOGIT)
    ids = tf.where(drawn > empty_slot_logit(drawn.dtype) / 2, ids[None, :], -1)
    return tf.concat([logits, drawn], axis=1), tf.concat([candidates, ids], axis=1)
