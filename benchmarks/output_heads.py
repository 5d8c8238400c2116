"""The output layers the time-to-accuracy benchmark compares.

Each is a compiled Keras model from features `[B, D]` to exact logits
`[B, units]` (what `evaluate`, `predict` and serving see), trained with
`model.fit` on (features, int labels) with the same optimizer,
`tf_wta.SparseSGD` (plain SGD for dense gradients, a fused in-place update for
sparse ones):
  dense:   keras.layers.Dense(units), full softmax cross-entropy.
  sampled: tf.nn.sampled_softmax_loss over the true class and `num_sampled`
           classes shared by the batch, drawn uniformly (the benchmark's
           labels are uniform; a log-uniform sampler suits Zipfian labels).
  wta:     tf_wta.WTADense(units, candidates="per_example") in tf_wta.WTAModel,
           the loss over the `num_candidates` hashed candidates of each example
           (the configuration of the suite's recorded tables; the layer's
           default shared mode is measured by bench_extreme_classification.py).
  wta-shared: tf_wta.WTADense(units) with the layer's defaults (one set of
           classes a step for the whole batch: its labels and 2,048 uniform
           draws, or `num_uniform`), in tf_wta.WTAModel.
"""
import keras
import tensorflow as tf

import tf_wta


class SampledSoftmaxModel(keras.Model):
    """Linear classifier trained with `tf.nn.sampled_softmax_loss`.

    Args:
      units: int N, number of classes.
      dim: int D, number of input features.
      num_sampled: int, negative classes sampled per step (shared by the batch).
    Call: float32 [B, D] -> exact logits float32 [B, N].
    """

    def __init__(self, units, dim, num_sampled, **kwargs):
        super().__init__(**kwargs)
        self.units, self.num_sampled = units, num_sampled
        # One row per class, the layout tf.nn.sampled_softmax_loss gathers from.
        self.kernel = self.add_weight(shape=(units, dim), initializer="glorot_uniform",
                                      name="kernel")
        self.bias = self.add_weight(shape=(units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return tf.matmul(inputs, self.kernel, transpose_b=True) + self.bias

    def train_step(self, data):
        x, labels = data
        labels = tf.reshape(tf.cast(labels, tf.int64), [-1, 1])
        sampled = tf.random.uniform_candidate_sampler(
            labels, num_true=1, num_sampled=self.num_sampled, unique=True, range_max=self.units)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sampled_softmax_loss(
                self.kernel.value, self.bias.value, labels, x, self.num_sampled, self.units,
                sampled_values=sampled))
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return {"loss": loss}


def build(method, units, dim, learning_rate, num_candidates=128, num_sampled=128,
          num_uniform=None, seed=0):
    """A compiled model for `method` ("dense", "sampled", "wta" or "wta-shared");
    `num_uniform` is wta-shared's uniform draws per step (None: the layer's
    default).

    Returns a keras.Model mapping float32 [B, D] to exact logits [B, units].
    """
    keras.utils.set_random_seed(seed)
    optimizer = tf_wta.SparseSGD(learning_rate)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    inputs = keras.Input((dim,))
    if method == "dense":
        model = keras.Model(inputs, keras.layers.Dense(units)(inputs))
    elif method == "wta":
        layer = tf_wta.WTADense(units, candidates="per_example", num_candidates=num_candidates,
                                seed=seed)
        model = tf_wta.WTAModel(inputs, layer(inputs))
    elif method == "wta-shared":
        model = tf_wta.WTAModel(inputs, tf_wta.WTADense(units, num_uniform=num_uniform,
                                                         seed=seed)(inputs))
    elif method == "sampled":
        model = SampledSoftmaxModel(units, dim, num_sampled)
        model.build((None, dim))
        loss = None
    else:
        raise ValueError(f"unknown method {method!r}: dense, sampled, wta or wta-shared")
    model.compile(optimizer, loss, jit_compile=False)
    return model
