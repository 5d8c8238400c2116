"""Retrieval of an output-mode WTADense's best units: hashed and exact top-k."""
import numpy as np
import tensorflow as tf

from tf_wta._arguments import positive_int


class Retrieval:
    """Mixed into `WTADense`: the k best units of inputs, through the hash
    index (`top_k`, fast, recall below 1) or exactly in chunks of units
    (`exact_top_k`, no [B, units] tensor)."""

    def top_k(self, inputs, k, num_candidates=None):
        """Hashed retrieval: the k best units among the candidates, without
        computing the other units (rebuilds an index older than the weights
        first).

        Args:
          inputs: float32 [B, D].
          k: int, 1 <= k.
          num_candidates: int, units scored per input (default: the layer's
            num_candidates per example, 128 with candidates='shared'); more
            candidates, better recall of the exact top k, linearly more
            work. max(k, num_candidates) are scored.
        Returns:
          (scores, ids): [B, k] logits in the compute dtype (before the
          activation) and int32 [B, k] unit ids, best first; -1 and -inf
          where a row has fewer than k candidates.
        """
        k = positive_int(k, "k")
        if num_candidates is None:
            num_candidates = self._query_size()
        num_candidates = max(k, positive_int(num_candidates, "num_candidates"))
        tables = self._current_tables(rebuilt_in_training=self.num_candidates > 0)
        candidates = self.query(inputs, num_candidates, tables)
        logits = self._candidate_logits(inputs, candidates, empty_slot=-np.inf)
        scores, columns = tf.math.top_k(logits, k)
        ids = tf.gather(candidates, columns, batch_dims=1)
        return scores, tf.where(tf.math.is_finite(scores), ids, -1)

    def _current_tables(self, rebuilt_in_training):
        """The tables `query` should read, built first if need be (see
        `HashIndex.ensure_current`)."""
        return self.index.ensure_current(self.kernel, rebuilt_in_training=rebuilt_in_training)

    def _kernel_blocks(self):
        """(first row, kernel rows, bias rows or None) of each block of rows."""
        return [(0, self.kernel, self.bias)]

    def exact_top_k(self, inputs, k, chunk_units=65_536):
        """The exact k best units (logits before the activation), scoring
        `chunk_units` kernel rows at a time: memory B x chunk_units, not
        B x units.

        Args:
          inputs: float32 [B, D].
          k: int, 1 <= k <= units.
          chunk_units: int >= 1.
        Returns:
          (scores, ids): [B, k] in the compute dtype and int32 [B, k], best
          first (ties: the lower id first).
        """
        k = positive_int(k, "k")
        if k > self.units:
            raise ValueError(f"k={k} must be <= units={self.units}")
        chunk_units = positive_int(chunk_units, "chunk_units")
        inputs = tf.cast(inputs, self.compute_dtype)
        best = None
        for first, logits in logit_chunks(inputs, self._kernel_blocks(), chunk_units):
            best = merge_top_k(best, first, logits, k)
        return best


def logit_chunks(inputs, blocks, chunk_units):
    """The exact logits of inputs against blocks of rows, `chunk_units` rows
    at a time, in the inputs' dtype.

    Args:
      inputs: float [B, D].
      blocks: (first unit id, kernel [n_i, D], bias [n_i] or None) per block
        of rows (`Retrieval._kernel_blocks`).
      chunk_units: int >= 1.
    Yields:
      (first unit id, logits [B, n]) with n <= chunk_units, in unit order.
    """
    for offset, kernel, bias in blocks:
        rows = int(kernel.shape[0])
        for start in range(0, rows, chunk_units):
            stop = min(rows, start + chunk_units)
            logits = tf.matmul(inputs, tf.cast(kernel[start:stop], inputs.dtype),
                               transpose_b=True)
            if bias is not None:
                logits += tf.cast(bias[start:stop], inputs.dtype)
            yield offset + start, logits


def merge_top_k(best, first, logits, k):
    """The k best of `best` and a chunk of logits.

    Args:
      best: (scores [B, k'], int32 ids [B, k']) of the earlier chunks, or None.
      first: int, the unit id of the chunk's first column.
      logits: [B, n] of units first .. first + n - 1.
      k: int >= 1.
    Returns:
      (scores, ids) [B, min(k, k' + n)], best first; ties keep the lower id
      (earlier chunks come first and `tf.math.top_k` is stable).
    """
    ids = tf.broadcast_to(tf.range(first, first + int(logits.shape[1]), dtype=tf.int32),
                          tf.shape(logits))
    if best is not None:
        logits = tf.concat([best[0], logits], axis=1)
        ids = tf.concat([best[1], ids], axis=1)
    scores, columns = tf.math.top_k(logits, min(k, int(logits.shape[1])))
    return scores, tf.gather(ids, columns, batch_dims=1)
