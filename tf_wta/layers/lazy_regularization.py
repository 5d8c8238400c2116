"""Lazy regularization: a layer's regularizers applied to the rows a
training step computes, not to a whole (huge) kernel."""
import tensorflow as tf

from tf_wta.layers.row_shards import gather_rows


class LazyRowRegularization:
    """Mixed into `WTADense`: a penalty on the whole kernel would make its
    gradient dense and defeat the sparse update, so `kernel_regularizer` and
    `bias_regularizer` penalise only the rows a step computes."""

    def row_penalty(self, ids):
        """The regularizers' penalty on the rows `ids` only (lazy
        regularization): float32 [], 0 without regularizers.

        Args:
          ids: int32 tensor of unit ids; -1 entries and repeats are ignored.
        """
        penalty = tf.constant(0.0)
        if self.kernel_regularizer is None and self.bias_regularizer is None:
            return penalty
        ids, _ = tf.unique(tf.boolean_mask(ids, ids >= 0))
        # Inside call, mixed precision reads the variables in the compute
        # dtype: the penalty is taken on float32 rows, like Keras' own.
        kernel, bias = self._row_source()
        if self.kernel_regularizer is not None:
            rows = tf.cast(gather_rows(kernel, ids), tf.float32)
            penalty += tf.cast(self.kernel_regularizer(rows), tf.float32)
        if self.bias_regularizer is not None and bias is not None:
            rows = tf.cast(gather_rows(bias, ids), tf.float32)
            penalty += tf.cast(self.bias_regularizer(rows), tf.float32)
        return penalty

    def _add_row_penalty(self, ids):
        if self.kernel_regularizer is None and self.bias_regularizer is None:
            return
        # Keras sums the replicas' gradients: each adds its share.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.add_loss(self.row_penalty(tf.reshape(ids, [-1])) / replicas)
