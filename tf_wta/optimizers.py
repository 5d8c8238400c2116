"""LazyAdam: Adam whose sparse updates touch only the rows in the gradient."""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tf_wta")
class LazyAdam(keras.optimizers.Adam):
    """Adam that updates only the rows present in a `tf.IndexedSlices` gradient.

    Keras 3's Adam turns a sparse gradient into a dense update of the whole
    variable and its two moment slots, which costs as much as a dense layer.
    LazyAdam, like TensorFlow Addons' LazyAdam, updates the moments and the
    variable only at the gradient's rows (duplicate rows are summed first); the
    other rows keep stale moments until they are next selected. Dense
    gradients get plain Adam updates. Same arguments as `keras.optimizers.Adam`
    (amsgrad is not supported for sparse gradients).
    """

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        if self.amsgrad:
            raise ValueError("LazyAdam does not support amsgrad with sparse gradients")
        dtype = variable.dtype
        rows, positions = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(tf.cast(gradient.values, dtype), positions,
                                              tf.shape(rows)[0])
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        alpha = (tf.cast(learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step))
                 / (1 - tf.pow(beta_1, step)))
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        m_rows = beta_1 * tf.gather(m, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, rows) + (1 - beta_2) * tf.square(values)
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        update = alpha * m_rows / (tf.sqrt(v_rows) + tf.cast(self.epsilon, dtype))
        self.assign_sub(variable, tf.IndexedSlices(update, rows))
