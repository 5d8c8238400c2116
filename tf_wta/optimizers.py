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


@keras.saving.register_keras_serializable(package="tf_wta")
class SparseAdagrad(keras.optimizers.Optimizer):
    """Adagrad, with optional momentum, whose sparse updates touch only the
    rows in the gradient: the optimizer of Spring & Shrivastava's sparse
    hidden layers (KDD 2017, whose code uses momentum 0.5).

    For every row r of a `tf.IndexedSlices` gradient (repeated rows summed
    first), with gradient g:

        a[r] += g**2
        s = learning_rate * g / (sqrt(a[r]) + epsilon)
        momentum == 0:  w[r] -= s
        momentum > 0:   v[r] = momentum * v[r] - s;  w[r] += v[r]

    Rows absent from the gradient keep w, a and v: with momentum 0 that is
    exactly Adagrad (a zero gradient would not move them); with momentum the
    velocity is lazy, as in the paper's code, which updates only the active
    units' parameters. Dense gradients update every entry the same way. The
    variable's rows are updated in place by `sparse_apply_sgd`'s op, so
    full reads of it stay free (see `SparseSGD`); the slots are read and
    written at the gradient's rows only.

    Args:
      learning_rate: float or schedule, as for every Keras optimizer.
      momentum: float in [0, 1).
      initial_accumulator_value: float >= 0, the starting a.
      epsilon: float > 0.
      **kwargs: the base `keras.optimizers.Optimizer` arguments (clipnorm,
        weight_decay, ...).
    Sparse gradients as for `LazyAdam`: values `[n, ...]` at int row ids
    `[n]` of a `[N, ...]` float32/float64 variable.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, initial_accumulator_value=0.1,
                 epsilon=1e-7, name="sparse_adagrad", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not _is_number(momentum) or not 0 <= momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
        if not _is_number(epsilon) or not epsilon > 0:
            raise ValueError(f"epsilon must be a number > 0, got {epsilon!r}")
        if not _is_number(initial_accumulator_value) or not initial_accumulator_value >= 0:
            raise ValueError(f"initial_accumulator_value must be a number >= 0, got "
                             f"{initial_accumulator_value!r}")
        self.momentum = float(momentum)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def build(self, variables):
        """Creates the accumulator (and, with momentum, velocity) slots of
        `variables` (a list of Keras variables), each of its variable's
        shape `[N, ...]` and dtype."""
        if self.built:
            return
        super().build(variables)
        start = keras.initializers.Constant(self.initial_accumulator_value)
        self._accumulators = [self.add_variable_from_reference(v, "accumulator", start)
                              for v in variables]
        self._velocities = ([self.add_variable_from_reference(v, "velocity") for v in variables]
                            if self.momentum else [])

    def update_step(self, gradient, variable, learning_rate):
        """Applies `gradient` (a dense tensor or `tf.IndexedSlices` of rows of
        `variable`, float32 or a 16-bit float for a float32 variable) to
        `variable` (`[N, ...]`); `learning_rate` a float scalar."""
        index = self._get_variable_index(variable)
        accumulator = self._accumulators[index]
        velocity = self._velocities[index] if self.momentum else None
        dtype = variable.dtype
        learning_rate = tf.cast(learning_rate, dtype)
        if not isinstance(gradient, tf.IndexedSlices):
            gradient = tf.cast(gradient, dtype)
            self.assign_add(accumulator, tf.square(gradient))
            step = learning_rate * gradient / (tf.sqrt(accumulator) + self.epsilon)
            if velocity is None:
                self.assign_sub(variable, step)
            else:
                self.assign(velocity, self.momentum * velocity - step)
                self.assign_add(variable, velocity)
            return
        rows, ids = sparse_apply.aggregate_rows(gradient, dtype)
        totals = _gather(accumulator, ids) + tf.square(rows)
        _scatter_update(accumulator, ids, totals)
        decrease = learning_rate * rows / (tf.sqrt(totals) + self.epsilon)
        if velocity is not None:
            moving = self.momentum * _gather(velocity, ids) - decrease
            _scatter_update(velocity, ids, moving)
            decrease = -moving
        sparse_apply.subtract_rows(variable, 1.0, decrease, ids)

    def get_config(self):
        """The constructor's arguments, for Keras saving."""
        config = super().get_config()
        config.update({"momentum": self.momentum, "epsilon": self.epsilon,
                       "initial_accumulator_value": self.initial_accumulator_value})
        return config


def _gather(variable, ids):
    """Rows `ids` (int32 [U]) of a Keras or tf variable `[N, ...]`."""
    return tf.raw_ops.ResourceGather(resource=variable.handle, indices=ids, dtype=variable.dtype)


def _scatter_update(variable, ids, rows):
    """Writes rows `[U, ...]` at distinct `ids` (int32 [U]) of `variable`."""
    tf.raw_ops.ResourceScatterUpdate(resource=variable.handle, indices=ids, updates=rows)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)
