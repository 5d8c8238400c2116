"""WTADense: a Dense layer that computes only the units its input hashes to."""
import keras
import numpy as np
import tensorflow as tf

from tf_wta import ops
from tf_wta._arguments import positive_int
from tf_wta.layers import hash_settings
from tf_wta.layers.candidate_sets import (EMPTY_SLOT_LOGIT, append_uniform_draws,
                                          empty_slot_logit, scatter_rows)
from tf_wta.layers.hash_index import HashIndex
from tf_wta.layers.lazy_regularization import LazyRowRegularization
from tf_wta.layers.output_training import OutputTraining
from tf_wta.layers.retrieval import Retrieval
from tf_wta.layers.row_initializer import row_per_unit
from tf_wta.layers.training_step import current_training_step

MODES = ("output", "hidden")
# Float compute dtypes: float32/float64, and the 16-bit ones of the
# "mixed_float16" / "mixed_bfloat16" policies.
COMPUTE_DTYPES = ("float32", "float64", "float16", "bfloat16")


@keras.saving.register_keras_serializable(package="tf_wta")
class WTADense(OutputTraining, Retrieval, LazyRowRegularization, keras.layers.Layer):
    """A Dense layer whose units are selected by Winner-Take-All hashing.

    The kernel has one row per unit, `[units, D]`. Its rows are WTA-hashed
    into `num_tables` tables (the index, rebuilt in the graph on a schedule);
    an input is hashed the same way and only the units that collide with it in
    the most tables (`num_candidates` of them) are computed, forward and
    backward, with sparse gradients for the kernel and bias.

    mode="output" (a huge classifier output layer): train it inside
    `tf_wta.WTAModel`, which passes the labels so the true class is always a
    candidate and the loss is taken over the candidates. With
    candidates="shared" (the default) each training step scores one set of
    classes for the whole batch, with one gather and one GEMM: the batch's
    labels, the union of each example's best `num_candidates` hashed
    classes, and `num_uniform` classes drawn uniformly. With
    candidates="per_example" each example scores its own `num_candidates`
    hashed classes (`hashed_matmul`). Inference (`predict`,
    `model.export`) returns exact `[B, units]` outputs through a plain
    `tf.matmul`, so a served model needs no custom op; `top_k` retrieves the
    best units through the hash without computing all of them.

    mode="hidden" (SLIDE-style sparse hidden layer): in training and in
    inference only the candidates are computed; the output is `[B, units]`
    with zeros elsewhere. Works in any Keras model, no labels needed.

    Args:
      units: int N, the number of units.
      activation: Keras activation, applied to the computed units (over the
        candidate axis for "softmax" in training).
      use_bias: whether to add a bias per unit.
      mode: "output" or "hidden", see above.
      candidates: "shared" (default for mode="output") or "per_example"
        (always for mode="hidden"), see above.
      num_candidates: hashed units C per example: with candidates="shared"
        their union over the batch joins the shared set (default 0: no
        hashed classes in training, measured fastest to accuracy on CPU;
        8 is the measured alternative), otherwise each example scores its
        own (default min(units, 128)).
      num_uniform: units drawn uniformly per training step. mode="hidden":
        computed for every example in training besides its hashed
        candidates (default 0), so that units the hash never selects still
        train; inference computes the hashed candidates only.
        mode="output": classes with candidates="shared" part of the batch's
        set (default min(units, 2048); 128 is faster to accuracy for a
        linear head on wide features with balanced labels,
        docs/benchmarks.md); with "per_example" scored for every
        example besides its own candidates, masked where they repeat one
        (default 0).
      num_tables, codes_per_table, window_size, hash_type, rebuild_every,
        rebuild_growth, max_bucket_size, pool_size: settings of the layer's
        hash index of its kernel rows, `self.index`, see `tf_wta.HashIndex`
        (defaults: windows of 8, about 16 units a bucket, rebuilt every 50
        training steps, buckets uncapped; by mode, `hash_settings.MODE_DEFAULTS`:
        mode="output" 50 WTA tables of the vectors themselves (pool_size 1);
        mode="hidden" 100 SimHash tables of mean-pooled copies of the kernel
        rows and inputs, pool_size 2 where the input has at least
        2 * window_size features, measured on benchmarks/bench_sparse_hidden.py).
      kernel_initializer, bias_initializer: as for `keras.layers.Dense`.
      kernel_regularizer, bias_regularizer: as for `keras.layers.Dense`, but
        lazy: each training step penalises only the rows it computes (a
        penalty on the whole kernel would make its gradient dense and
        defeat the sparse update); `row_penalty`.
      seed: int seed of the hash windows and the uniform draws (None: drawn
        from the generators `keras.utils.set_random_seed` seeds). A step's
        uniform draws depend only on the seed and the step number, so a
        run resumed from a checkpoint draws what the uninterrupted run did.
    Input: float `[B, D]`. Output: `[B, units]` (see the modes above).

    Mixed precision: under a "mixed_float16" or "mixed_bfloat16" policy
    the kernel and bias stay float32 and every path computes in the
    policy's compute dtype (float16/bfloat16 inputs and outputs;
    `hashed_matmul` sums in float32), the sparse gradients reach the
    float32 variables as float32 `IndexedSlices`, and `WTAModel` scales the
    loss through the `LossScaleOptimizer` Keras wraps around the optimizer
    for "mixed_float16". Outputs are in the compute dtype, as for Keras'
    Dense (add a float32 `Activation` for float32 outputs).
    """

    def __init__(self, units, activation=None, use_bias=True, mode="output",
                 num_candidates=None, num_tables=None, codes_per_table=None, window_size=8,
                 rebuild_every=50, rebuild_growth=1.0, max_bucket_size=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, seed=None, hash_type=None,
                 candidates=None, num_uniform=None, pool_size=None, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(units, "units")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.candidates, self.num_candidates, self.num_uniform = (
            hash_settings.candidate_settings(self.units, mode, candidates, num_candidates,
                                             num_uniform))
        defaults = hash_settings.MODE_DEFAULTS[mode]
        num_tables = defaults["num_tables"] if num_tables is None else num_tables
        hash_type = defaults["hash_type"] if hash_type is None else hash_type
        pool_size = defaults["pool_size"] if pool_size is None else pool_size
        self.index = HashIndex(num_tables, codes_per_table, window_size, hash_type,
                               max_bucket_size, rebuild_every, rebuild_growth, seed,
                               pool_size, name="hash_index")
        self.index.resolve_codes_per_table(self.units)
        self.index.num_buckets  # raises now if the bucket keys overflow int32
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.seed = seed
        # The uniform draws are a function of this seed and the training
        # step, not of a random state that checkpoints would not save.
        self.uniform_seed = seed if seed is not None else int(np.random.randint(2**31 - 1))
        # XLA cannot compile custom ops; Keras' jit_compile="auto" honours this.
        self.supports_jit = False

    def build(self, input_shape):
        """Creates the kernel `[units, D]`, the bias `[units]` (float32 under
        mixed precision) and the hash index, for inputs `[B, D]` with D known."""
        input_dim = self._input_dim(input_shape)
        self.index.build((self.units, input_dim))
        self.kernel = self.add_weight(
            name="kernel", shape=(self.units, input_dim),
            initializer=row_per_unit(self.kernel_initializer))
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,),
                                        initializer=self.bias_initializer)

    def _input_dim(self, input_shape):
        """D of inputs `[B, D]`, checked along with the dtype policy."""
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"WTADense expects inputs of shape [batch, features] with known "
                             f"features, got {input_shape}")
        # Mixed precision the Keras way: float32 variables (variable_dtype),
        # read as the compute dtype inside call (Keras autocasts them), so the
        # exact matmul, the shared GEMM and hashed_matmul all compute in it,
        # and the sparse gradients reach the variables as float32.
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"WTADense computes in one of {COMPUTE_DTYPES}, got dtype policy "
                             f"{self.dtype_policy.name}")
        return int(input_shape[-1])

    def query(self, inputs, num_candidates=None, tables=None):
        """Candidate units of each input from the index as it is (or from
        `tables`, see `HashIndex.query`): int32 [B, C], best first, -1
        padded (C defaults to num_candidates per example, to 128 with
        candidates='shared')."""
        if num_candidates is None:
            num_candidates = self._query_size()
        return self.index.query(inputs, num_candidates, tables)

    def _query_size(self):
        """Candidates per example of `query` and `top_k` by default."""
        if self.candidates == "per_example":
            return self.num_candidates
        return hash_settings.default_num_candidates(self.units)

    def _candidate_logits(self, inputs, candidates, empty_slot=EMPTY_SLOT_LOGIT):
        """Logits of the candidate units, `empty_slot` where the id is -1."""
        # In the compute dtype: Keras' autocast already reads the variables so
        # inside call; top_k, called directly, casts them here.
        dtype = self.compute_dtype
        bias = None if self.bias is None else tf.cast(self.bias, dtype)
        logits = ops.hashed_matmul(tf.cast(inputs, dtype), tf.cast(self.kernel, dtype),
                                   candidates, bias)
        return tf.where(candidates >= 0, logits, empty_slot_logit(logits.dtype, empty_slot))

    def call(self, inputs, training=None):
        """float `[B, D]` -> `[B, units]` in the compute dtype, except in
        training with mode="output": `[B, C]` logits of the candidates
        (inside `WTAModel`, which passes the labels; see the class)."""
        if self.mode == "hidden":
            return self._sparse_outputs(inputs, training)
        if training:
            step = current_training_step()
            if step is None:
                raise ValueError(
                    "WTADense(mode='output') computes only the candidate units in training "
                    "and needs the labels for that: build the model with tf_wta.WTAModel "
                    "(or tf_wta.WTASequential) instead of keras.Model, or use mode='hidden'")
            outputs, step.label_positions, ids = self.training_outputs(
                inputs, step.take_labels(self))
            self._add_row_penalty(ids)
            return outputs
        outputs = tf.matmul(inputs, self.kernel, transpose_b=True)
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def _sparse_outputs(self, inputs, training):
        tables = None
        if training:
            self.index.count_training_step(self.kernel)
        else:
            tables = self.index.ensure_current(self.kernel)
        candidates = self.query(inputs, tables=tables)
        logits = self._candidate_logits(inputs, candidates)
        if training and self.num_uniform:
            logits, candidates = append_uniform_draws(inputs, self.kernel, self.bias, candidates,
                                                      logits, self._uniform_draws())
        if training:
            self._add_row_penalty(candidates)
        return scatter_rows(self.activation(logits), candidates, self.units)

    def compute_output_shape(self, input_shape):
        """`[B, D]` -> `[B, units]` (the exact outputs' shape)."""
        return (input_shape[0], self.units)

    @classmethod
    def from_config(cls, config):
        """The layer of a `get_config` dict."""
        # Configs saved before `candidates`, `hash_type` and `pool_size` existed
        # were trained per example with WTA on the vectors themselves.
        return cls(**{"candidates": "per_example", "hash_type": "wta", "pool_size": 1,
                      **config})

    def get_config(self):
        """The constructor's arguments, for Keras saving."""
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "mode": self.mode,
            "num_candidates": self.num_candidates,
            "num_tables": self.index.num_tables,
            "codes_per_table": self.index.codes_per_table,
            "window_size": self.index.window_size,
            "rebuild_every": self.index.rebuild_every,
            "rebuild_growth": self.index.rebuild_growth,
            "max_bucket_size": self.index.max_bucket_size,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "seed": self.seed,
            "hash_type": self.index.hash_type,
            "candidates": self.candidates,
            "num_uniform": self.num_uniform,
            "pool_size": self.index.pool_size,
        })
        return config

