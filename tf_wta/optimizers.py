"""Keras optimizers whose sparse updates touch only the rows in the gradient."""
import keras
import tensorflow as tf

from tf_wta import sparse_apply


def _in_variable_dtype(gradient, variable):
    """A sparse gradient with values in the variable's dtype: under mixed
    precision the layers compute in float16/bfloat16 while the variables
    (and the sparse-apply ops) are float32."""
    if gradient.values.dtype == variable.dtype:
        return gradient
    return tf.IndexedSlices(tf.cast(gradient.values, variable.dtype), gradient.indices,
                            gradient.dense_shape)


@keras.saving.register_keras_serializable(package="tf_wta")
class LazyAdam(keras.optimizers.Adam):
    """Adam that updates only the rows present in a `tf.IndexedSlices` gradient.

    Keras 3's Adam turns a sparse gradient into a dense update of the whole
    variable and its two moment slots, which costs as much as a dense layer.
    LazyAdam, like TensorFlow Addons' LazyAdam, updates the moments and the
    variable only at the gradient's rows (duplicate rows are summed first); the
    other rows keep stale moments until they are next selected. The update is
    one fused in-place op (`tf_wta.sparse_apply_adam`). Dense gradients get
    plain Adam updates. Same arguments as `keras.optimizers.Adam` (amsgrad is
    not supported for sparse gradients).

    A sparse gradient of a `[N, ...]` variable has values `[n, ...]` at int
    row ids `[n]`; under mixed precision float16/bfloat16 values update a
    float32 variable.
    """

    def update_step(self, gradient, variable, learning_rate):
        """Applies `gradient` (a dense tensor or `tf.IndexedSlices` of rows of
        `variable`, float32 or a 16-bit float for a float32 variable) to
        `variable` (`[N, ...]`); `learning_rate` a float scalar."""
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        if self.amsgrad:
            raise ValueError("LazyAdam does not support amsgrad with sparse gradients")
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        alpha = (tf.cast(learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step))
                 / (1 - tf.pow(beta_1, step)))
        m, v = self._slots(variable)
        sparse_apply.sparse_apply_adam(variable, m, v, alpha, beta_1, beta_2,
                                       tf.cast(self.epsilon, dtype),
                                       _in_variable_dtype(gradient, variable))

    def _slots(self, variable):
        # Keras has no public accessor for a variable's Adam moments: this is
        # the one place that reads Adam's internals, which is why
        # pyproject.toml bounds keras to the minor versions tested.
        index = self._get_variable_index(variable)
        return self._momentums[index], self._velocities[index]


@keras.saving.register_keras_serializable(package="tf_wta")
class SparseSGD(keras.optimizers.SGD):
    """SGD whose sparse (`tf.IndexedSlices`) updates are one fused in-place op.

    Keras' SGD applies a sparse gradient with a scatter, which switches the
    variable to copy-on-read mode: every later full read of the variable (a
    hashed layer reads its whole kernel each step) then copies all of it.
    SparseSGD applies sparse gradients with `tf_wta.sparse_apply_sgd`, which
    updates the touched rows in place and keeps reads free. With momentum,
    and for dense gradients, it is plain `keras.optimizers.SGD`. Same
    arguments. Sparse gradients as for `LazyAdam`: values `[n, ...]` at int
    row ids `[n]` of a `[N, ...]` variable.
    """

    def update_step(self, gradient, variable, learning_rate):
        """Applies `gradient` (a dense tensor or `tf.IndexedSlices` of rows of
        `variable`, float32 or a 16-bit float for a float32 variable) to
        `variable` (`[N, ...]`); `learning_rate` a float scalar."""
        if not isinstance(gradient, tf.IndexedSlices) or self.momentum != 0:
            return super().update_step(gradient, variable, learning_rate)
        sparse_apply.sparse_apply_sgd(variable, learning_rate,
                                      _in_variable_dtype(gradient, variable))
