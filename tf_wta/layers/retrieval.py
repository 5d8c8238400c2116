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
        dtype = self.compute_dtype
        inputs = tf.cast(inputs, dtype)
        best_scores = best_ids = None
        chunks = [(offset, kernel, bias, start, min(start + chunk_units, int(kernel.shape[0])))
                  for offset, kernel, bias in self._kernel_blocks()
                  for start in range(0, int(kernel.shape[0]), chunk_units)]
        for offset, kernel, bias, start, stop in chunks:
            logits = tf.matmul(inputs, tf.cast(kernel[start:stop], dtype), transpose_b=True)
            if bias is not None:
                logits += tf.cast(bias[start:stop], dtype)
            scores, ids = tf.math.top_k(logits, min(k, stop - start))
            ids += offset + start
            if best_scores is not None:
                # Earlier chunks first, so that top_k's stable order keeps ties by id.
                scores = tf.concat([best_scores, scores], axis=1)
                ids = tf.concat([best_ids, ids], axis=1)
                scores, columns = tf.math.top_k(scores, min(k, scores.shape[1]))
                ids = tf.gather(ids, columns, batch_dims=1)
            best_scores, best_ids = scores, ids
        return best_scores, best_ids
