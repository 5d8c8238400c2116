"""WTADense: a Dense layer that computes only the units its input hashes to."""
import keras
import numpy as np
import tensorflow as tf

from tf_wta import ops
from tf_wta.candidates import candidates_with_labels
from tf_wta.layers import hash_settings
from tf_wta.layers.candidate_sets import (shared_candidate_set, shared_logits,
                                          uniform_logits_per_example)

MODES = ("output", "hidden")
HASH_TYPES = ("wta", "dwta")
CANDIDATE_MODES = ("shared", "per_example")
# Logit of an empty candidate slot: far below any real logit, yet finite so
# that softmax and cross-entropy stay NaN-free.
_EMPTY_SLOT_LOGIT = -1e9


def _positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _row_per_unit(initializer):
    """An initializer for a [units, D] kernel that draws what `initializer`
    draws for Dense's [D, units] kernel. Variance-scaling initializers get
    their fan mode swapped (no transposed copy: a 1,000,000-unit kernel is
    5 GB); the others do not depend on the orientation."""
    if not isinstance(initializer, keras.initializers.VarianceScaling):
        return initializer
    swapped = {"fan_in": "fan_out", "fan_out": "fan_in"}.get(initializer.mode, initializer.mode)
    return keras.initializers.VarianceScaling(scale=initializer.scale, mode=swapped,
                                              distribution=initializer.distribution,
                                              seed=initializer.seed)


@keras.saving.register_keras_serializable(package="tf_wta")
class WTADense(keras.layers.Layer):
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
      num_uniform: classes drawn uniformly per training step (mode="output"):
        with candidates="shared" part of the batch's set (default
        min(units, 2048)); with "per_example" scored for every example
        besides its own candidates, masked where they repeat one (default 0).
      num_tables: hash tables L (default 50).
      codes_per_table: WTA codes m packed per table key (default: chosen so
        about 16 units share a bucket, see `hash_settings`).
      window_size: WTA window K >= 2 (default 8).
      hash_type: "wta" (default, `wta_hash`) or "dwta" (`densified_wta_hash`:
        windows that see only zeros borrow the code of a non-empty window
        instead of all hashing to code 0). Both the inputs and the kernel rows
        (index rebuild) are hashed with it; on inputs with no zero the two
        give the same codes. A config saved before the argument existed loads
        as "wta", the hash its index was built with. "dwta" is not the default
        for hidden layers because it measured worse there (README, Examples):
        a borrowed code is compared with a dense kernel row's own code of that
        window, which is unrelated to the input.
      rebuild_every: training steps between index rebuilds (the first period).
      rebuild_growth: each period is this factor longer than the one before;
        1.0 (default) keeps a fixed period, > 1 gives SLIDE's thinning schedule.
      max_bucket_size: cap on the units a bucket contributes to a query (None:
        exact, no cap).
      kernel_initializer, bias_initializer: as for `keras.layers.Dense`.
      kernel_regularizer, bias_regularizer: as for `keras.layers.Dense`, but
        lazy: each training step penalises only the rows it computes (a
        penalty on the whole kernel would make its gradient dense and
        defeat the sparse update); `row_penalty`.
      seed: int seed of the hash windows and the uniform draws (None: drawn
        from numpy's global generator, which `keras.utils.set_random_seed`
        seeds).
    Input: float32 `[B, D]`. Output: `[B, units]` (see the modes above).
    """

    def __init__(self, units, activation=None, use_bias=True, mode="output",
                 num_candidates=None, num_tables=50, codes_per_table=None, window_size=8,
                 rebuild_every=50, rebuild_growth=1.0, max_bucket_size=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, seed=None, hash_type="wta",
                 candidates=None, num_uniform=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int(units, "units")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        if hash_type not in HASH_TYPES:
            raise ValueError(f"hash_type must be one of {HASH_TYPES}, got {hash_type!r}")
        self.hash_type = hash_type
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.window_size = _positive_int(window_size, "window_size", minimum=2)
        self.num_tables = _positive_int(num_tables, "num_tables")
        if candidates is None:
            candidates = "shared" if mode == "output" else "per_example"
        if candidates not in CANDIDATE_MODES or (mode == "hidden" and candidates == "shared"):
            raise ValueError(f"candidates must be one of {CANDIDATE_MODES} (only 'per_example' "
                             f"for mode='hidden'), got {candidates!r}")
        self.candidates = candidates
        shared = candidates == "shared"
        if num_candidates is None:
            num_candidates = hash_settings.default_num_candidates(self.units, shared)
        # The shared set works without hashed classes (labels + uniform draws).
        self.num_candidates = _positive_int(num_candidates, "num_candidates",
                                            minimum=0 if shared else 1)
        if self.num_candidates > self.units:
            raise ValueError(f"num_candidates={self.num_candidates} must be <= units="
                             f"{self.units}; lower num_candidates")
        if num_uniform is None:
            num_uniform = hash_settings.default_num_uniform(self.units) if shared else 0
        self.num_uniform = _positive_int(num_uniform, "num_uniform", minimum=0)
        if self.num_uniform and mode == "hidden":
            raise ValueError("num_uniform is a setting of mode='output' (uniform negatives); "
                             f"got num_uniform={self.num_uniform} with mode='hidden'")
        if codes_per_table is None:
            codes_per_table = hash_settings.default_codes_per_table(self.units, self.window_size)
        self.codes_per_table = _positive_int(codes_per_table, "codes_per_table")
        self.num_buckets = ops.num_buckets(self.window_size, self.codes_per_table)
        self.rebuild_every = _positive_int(rebuild_every, "rebuild_every")
        if not isinstance(rebuild_growth, (int, float)) or rebuild_growth < 1.0:
            raise ValueError(f"rebuild_growth must be a number >= 1.0, got {rebuild_growth!r}")
        self.rebuild_growth = float(rebuild_growth)
        if max_bucket_size is not None:
            max_bucket_size = _positive_int(max_bucket_size, "max_bucket_size")
        self.max_bucket_size = max_bucket_size
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # XLA cannot compile custom ops; Keras' jit_compile="auto" honours this.
        self.supports_jit = False

    @property
    def num_hashes(self):
        """WTA codes per vector, num_tables * codes_per_table."""
        return self.num_tables * self.codes_per_table

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"WTADense expects inputs of shape [batch, features] with known "
                             f"features, got {input_shape}")
        if self.compute_dtype not in ("float32", "float64"):
            raise ValueError(f"WTADense computes in float32 or float64, got dtype policy "
                             f"{self.dtype_policy.name}")
        input_dim = int(input_shape[-1])
        if self.window_size > input_dim:
            raise ValueError(f"window_size={self.window_size} must be <= the input features "
                             f"({input_dim})")
        self.kernel = self.add_weight(
            name="kernel", shape=(self.units, input_dim),
            initializer=_row_per_unit(self.kernel_initializer))
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,),
                                        initializer=self.bias_initializer)
        seed = self.seed if self.seed is not None else int(np.random.randint(2**31 - 1))
        windows = ops.wta_windows(input_dim, self.num_hashes, self.window_size, seed).numpy()
        self.windows = self._state("windows", windows.shape, lambda *_, **__: windows)
        index_shape = (self.num_tables, self.units)
        self.sorted_buckets = self._state("sorted_buckets", index_shape, "zeros")
        self.sorted_units = self._state("sorted_units", index_shape, "zeros")
        self.index_step = self._state("index_step", (), keras.initializers.Constant(-1), "int64")
        self.step = self._state("step", (), "zeros", "int64")
        self.next_rebuild = self._state("next_rebuild", (), "zeros", "int64")
        self.rebuild_period = self._state(
            "rebuild_period", (), keras.initializers.Constant(float(self.rebuild_every)),
            "float32")

    def _state(self, name, shape, initializer, dtype="int32"):
        # Hash state is updated inside tf.cond in the training step. Under a
        # tf.distribute strategy each replica keeps its own copy (on-read
        # sync: no cross-replica sync inside control flow); every replica
        # computes the same values from the mirrored weights, and reads from
        # outside the replicas (saving) take the first replica's copy.
        # Assigned to an attribute, the variable is tracked as the layer's.
        return keras.Variable(keras.initializers.get(initializer), shape=shape, dtype=dtype,
                              trainable=False, aggregation="only_first_replica",
                              synchronization="on_read", name=name)

    def hash_buckets(self, vectors):
        """Bucket keys of vectors in every table: float [n, D] -> int32 [n, L]
        (hashed with `hash_type`)."""
        hash_codes = ops.densified_wta_hash if self.hash_type == "dwta" else ops.wta_hash
        codes = hash_codes(tf.convert_to_tensor(vectors), self.windows)
        return ops.wta_buckets(codes, self.window_size, self.codes_per_table)

    def rebuild_index(self):
        """Rehashes every kernel row into the index now (in the graph when traced).

        Returns:
          A scalar bool tensor, True, once the index variables are assigned.
        """
        sorted_buckets, sorted_units, _ = ops.build_index(
            self.hash_buckets(self.kernel), self.num_buckets)
        self.sorted_buckets.assign(sorted_buckets)
        self.sorted_units.assign(sorted_units)
        self.index_step.assign(self.step)
        return tf.constant(True)

    def _rebuild_on_schedule(self):
        self.rebuild_index()
        period = tf.convert_to_tensor(self.rebuild_period)
        self.next_rebuild.assign(self.step + tf.cast(tf.round(period), tf.int64))
        self.rebuild_period.assign(period * self.rebuild_growth)
        return tf.constant(True)

    def _training_step_update(self):
        """Rebuilds the index when due (if training uses it), then counts the step."""
        if self.num_candidates:
            due = tf.logical_or(self.index_step < 0, self.step >= self.next_rebuild)
            tf.cond(due, self._rebuild_on_schedule, lambda: tf.constant(False))
        self.step.assign_add(1)

    def _ensure_index(self):
        # Training that does not hash leaves the index behind the weights:
        # build it afresh when they have been trained since.
        stale = self.index_step < 0
        if not self.num_candidates:
            stale = tf.logical_or(stale, self.index_step < self.step)
        tf.cond(stale, self.rebuild_index, lambda: tf.constant(False))

    def _index(self):
        return (tf.convert_to_tensor(self.sorted_buckets), tf.convert_to_tensor(self.sorted_units),
                tf.constant(self.num_buckets, tf.int32))

    def query(self, inputs, num_candidates=None):
        """Candidate units of each input: int32 [B, C], best first, -1 padded
        (C defaults to num_candidates per example, to 128 with
        candidates='shared')."""
        if num_candidates is None:
            num_candidates = self._query_size()
        return ops.query_index(self.hash_buckets(inputs), self._index(), num_candidates,
                               max_bucket_size=self.max_bucket_size, check_index=False)

    def _query_size(self):
        """Candidates per example of `query` and `top_k` by default."""
        if self.candidates == "per_example":
            return self.num_candidates
        return hash_settings.default_num_candidates(self.units)

    def training_candidates(self, inputs):
        """The classes a training step would score for inputs, without their
        labels (what `CandidateQuality` measures): int32 [H + m] with
        candidates="shared" (see `shared_candidates`), else int32 [B, C + m],
        each row's hashed candidates then the uniform draws."""
        if self.candidates == "shared":
            return self.shared_candidates(inputs)
        candidates = self.query(inputs)
        if not self.num_uniform:
            return candidates
        uniform = tf.broadcast_to(self._uniform_draws()[None, :],
                                  [tf.shape(candidates)[0], self.num_uniform])
        return tf.concat([candidates, uniform], axis=1)

    def shared_candidates(self, inputs):
        """The classes a batch scores with candidates='shared', without its
        labels: int32 [B * num_candidates + num_uniform], each example's
        best num_candidates hashed classes (-1 padded; their union is the
        batch's hashed part) then the uniform draws (may repeat).

        Each example's own top classes, not the classes the batch collides
        with most in total (`query_index_pooled`): pooled counts favour hub
        classes that sit in huge buckets, and measured on a trained layer
        they recalled 3-4x fewer of the examples' exact top classes
        (docs/benchmarks.md, candidate hashing)."""
        if not self.num_candidates:
            return self._uniform_draws()
        hashed = tf.reshape(self.query(inputs, self.num_candidates), [-1])
        return tf.concat([hashed, self._uniform_draws()], axis=0)

    def _uniform_draws(self):
        draws = keras.random.randint((self.num_uniform,), 0, self.units,
                                     seed=self.seed_generator, dtype="int32")
        return tf.cast(draws, tf.int32)

    def _candidate_logits(self, inputs, candidates, empty_slot=_EMPTY_SLOT_LOGIT):
        """Logits of the candidate units, `empty_slot` where the id is -1."""
        bias = None if self.bias is None else tf.convert_to_tensor(self.bias)
        logits = ops.hashed_matmul(inputs, tf.convert_to_tensor(self.kernel), candidates, bias)
        return tf.where(candidates >= 0, logits, tf.cast(empty_slot, logits.dtype))

    def call(self, inputs, training=None):
        if self.mode == "hidden":
            return self._sparse_outputs(inputs, training)
        if training:
            raise ValueError(
                "WTADense(mode='output') computes only the candidate units in training and "
                "needs the labels for that: build the model with tf_wta.WTAModel(inputs, "
                "outputs) instead of keras.Model, or use mode='hidden'")
        outputs = tf.matmul(inputs, self.kernel, transpose_b=True)
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

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
        if self.kernel_regularizer is not None:
            penalty += self.kernel_regularizer(tf.gather(self.kernel, ids))
        if self.bias_regularizer is not None and self.bias is not None:
            penalty += self.bias_regularizer(tf.gather(self.bias, ids))
        return penalty

    def _sparse_outputs(self, inputs, training):
        if training:
            self._training_step_update()
        else:
            self._ensure_index()
        candidates = self.query(inputs)
        if training and (self.kernel_regularizer or self.bias_regularizer):
            self.add_loss(self.row_penalty(tf.reshape(candidates, [-1])))
        values = self.activation(self._candidate_logits(inputs, candidates))
        valid = candidates >= 0
        values = tf.where(valid, values, tf.zeros_like(values))
        batch = tf.shape(candidates)[0]
        rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(candidates))
        positions = tf.stack([rows, tf.maximum(candidates, 0)], axis=-1)
        return tf.scatter_nd(positions, values, tf.stack([batch, self.units]))

    def training_outputs(self, inputs, labels):
        """The training forward pass of an output layer (used by WTAModel).

        Rebuilds the index when due, queries the candidates, forces each true
        label in, and computes the activation over the candidates only.

        Args:
          inputs: float32 [B, D].
          labels: int [B] in [0, units).
        Returns:
          (outputs, positions, candidates). Per example: float32 [B, C + U]
          outputs over each row's candidates then the U distinct uniform
          draws (empty or repeated slots at -1e9 before the activation),
          int32 [B] the column of each label, int32 [B, C + U] the unit
          ids. Shared: float32 [B, S] outputs over the batch's S classes,
          int32 [B] the column of each label, int32 [S] the ids.
        """
        labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
        checks = [
            tf.debugging.assert_non_negative(labels, message="labels must be >= 0"),
            tf.debugging.assert_less(labels, self.units,
                                     message=f"labels must be < units={self.units}"),
        ]
        with tf.control_dependencies(checks):
            self._training_step_update()
            if self.candidates == "shared":
                ids, positions = shared_candidate_set(labels, self.shared_candidates(inputs))
                outputs = shared_logits(inputs, self.kernel, self.bias, ids)
                return self.activation(outputs), positions, ids
            candidates, positions = candidates_with_labels(self.query(inputs), labels)
        outputs = self._candidate_logits(inputs, candidates)
        if self.num_uniform:
            uniform, ids = uniform_logits_per_example(inputs, self.kernel, self.bias, candidates,
                                                      self._uniform_draws(), _EMPTY_SLOT_LOGIT)
            outputs = tf.concat([outputs, uniform], axis=1)
            candidates = tf.concat([candidates, tf.broadcast_to(
                ids[None, :], [tf.shape(candidates)[0], tf.shape(ids)[0]])], axis=1)
        return self.activation(outputs), positions, candidates

    def top_k(self, inputs, k, num_candidates=None):
        """Hashed retrieval: the k best units among the candidates, without
        computing the other units.

        Args:
          inputs: float32 [B, D].
          k: int, 1 <= k.
          num_candidates: int, units scored per input (default: the layer's
            num_candidates per example, 128 with candidates='shared'); more
            candidates, better recall of the exact top k, linearly more
            work. max(k, num_candidates) are scored.
        Returns:
          (scores, ids): float32 [B, k] logits (before the activation) and
          int32 [B, k] unit ids, best first; -1 and -inf where a row has
          fewer than k candidates.
        """
        k = _positive_int(k, "k")
        if num_candidates is None:
            num_candidates = self._query_size()
        num_candidates = max(k, _positive_int(num_candidates, "num_candidates"))
        self._ensure_index()
        candidates = self.query(inputs, num_candidates)
        logits = self._candidate_logits(inputs, candidates, empty_slot=-np.inf)
        scores, columns = tf.math.top_k(logits, k)
        ids = tf.gather(candidates, columns, batch_dims=1)
        return scores, tf.where(tf.math.is_finite(scores), ids, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    @classmethod
    def from_config(cls, config):
        # Configs saved before `candidates` existed were trained per example.
        return cls(**{"candidates": "per_example", **config})

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "mode": self.mode,
            "num_candidates": self.num_candidates,
            "num_tables": self.num_tables,
            "codes_per_table": self.codes_per_table,
            "window_size": self.window_size,
            "rebuild_every": self.rebuild_every,
            "rebuild_growth": self.rebuild_growth,
            "max_bucket_size": self.max_bucket_size,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "seed": self.seed,
            "hash_type": self.hash_type,
            "candidates": self.candidates,
            "num_uniform": self.num_uniform,
        })
        return config

