"""ShardedWTADense: an output WTADense whose rows are split in blocks, one
per parameter server under tf.distribute's ParameterServerStrategy."""
import contextlib

import keras
import numpy as np
import tensorflow as tf

from tf_wta import ops
from tf_wta.layers import hash_settings
from tf_wta.layers.candidate_sets import EMPTY_SLOT_LOGIT, empty_slot_logit
from tf_wta.layers.hash_index import HashIndex
from tf_wta.layers.row_initializer import row_block
from tf_wta.layers.row_shards import RowShards, shard_sizes
from tf_wta.layers.wta_dense import WTADense


def is_parameter_server_strategy(strategy):
    """Whether `strategy` is a `tf.distribute.experimental.ParameterServerStrategy`."""
    return isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy)


def merge_ranked(candidates, num_candidates):
    """The shards' candidate lists taken in turn, best first: every shard's
    first, then every shard's second, ... (a shard reports its rows in order
    of collisions, not the counts, so ranks are what can be merged).

    Args:
      candidates: list of int32 [B, C] global row ids, -1 padded.
      num_candidates: int, the C' kept.
    Returns:
      int32 [B, C'], -1 padded at the end.
    """
    ranked = tf.stack(candidates, axis=2)  # [B, C, shards]
    flat = tf.reshape(ranked, [tf.shape(ranked)[0], -1])
    order = tf.argsort(tf.cast(flat < 0, tf.int32), axis=1, stable=True)
    return tf.gather(flat, order, batch_dims=1)[:, :num_candidates]


@keras.saving.register_keras_serializable(package="tf_wta")
class ShardedWTADense(WTADense):
    """`WTADense(mode="output")` whose kernel and bias are `num_shards`
    blocks of contiguous rows, each with its own hash index.

    Block i holds units `offset_i .. offset_i + n_i - 1` (n_i differ by at
    most one) as its own kernel `[n_i, D]`, bias `[n_i]` and `HashIndex`
    of those rows. Created in a `tf.distribute.experimental.
    ParameterServerStrategy` scope, consecutive blocks go to consecutive
    parameter servers (round-robin, as the strategy places variables),
    each block whole with its index: they are created colocated, which the
    strategy's `variable_partitioner` never splits. Then a training step moves only rows it touches:

    - candidates="shared": the batch's class ids are split by block and each
      block's rows gathered where they live; the logits are those of
      `WTADense` on the same ids, and each block's gradient is a
      `tf.IndexedSlices` of its own rows, which `tf_wta.LazyAdam` /
      `tf_wta.SparseSGD` apply in place on its server.
    - hashed candidates: the inputs are hashed once (every block's index has
      the same windows), each block's index is queried on its server, and
      the blocks' lists are merged rank by rank (`merge_ranked`); their
      rows are gathered as above and scored with `hashed_matmul`.
    - every index is rebuilt on the layer's schedule, on its server.

    Inference returns the exact `[B, units]` outputs, one block at a time.
    Other strategies (or none) keep the blocks on the default device; the
    layer then computes what `WTADense` computes with the same weights.

    Args:
      units: int N.
      num_shards: int in [1, N], the blocks.
      **kwargs: `WTADense`'s arguments (mode must be "output"). With
        codes_per_table None it is chosen for the largest block's rows, and
        an index seed is drawn once, so every block hashes alike.
    Input: float `[B, D]`. Output: as `WTADense(mode="output")`.
    """

    def __init__(self, units, num_shards=2, **kwargs):
        if kwargs.get("mode", "output") != "output":
            raise ValueError(f"ShardedWTADense supports mode='output' only, got "
                             f"mode={kwargs['mode']!r}")
        super().__init__(units, **kwargs)
        self.shard_rows = shard_sizes(self.units, num_shards)
        self.num_shards = len(self.shard_rows)
        if kwargs.get("codes_per_table") is None:
            self.index.codes_per_table = hash_settings.default_codes_per_table(
                max(self.shard_rows), self.index.radix)
        if self.index.seed is None:
            self.index.seed = int(np.random.randint(2**31 - 1))
        config = self.index.get_config()
        self.shard_indexes = [self.index] + [
            HashIndex.from_config({**config, "name": f"hash_index_{shard}"})
            for shard in range(1, self.num_shards)]
        self.shard_devices = [None] * self.num_shards

    def build(self, input_shape):
        """Creates each block's kernel `[n_i, D]`, bias `[n_i]` and hash
        index, together on one parameter server under a
        `ParameterServerStrategy` (see the class)."""
        input_dim = self._input_dim(input_shape)
        strategy = tf.distribute.get_strategy()
        self.kernel_shards, self.bias_shards = [], []
        for shard, (rows, index) in enumerate(zip(self.shard_rows, self.shard_indexes)):
            placement = contextlib.nullcontext()
            if is_parameter_server_strategy(strategy):
                # The strategy places scalars round-robin and never
                # partitions them, nor variables colocated with another:
                # consecutive blocks land on consecutive servers, whole.
                anchor = tf.Variable(0, name=f"{self.name}_placement_{shard}")
                self.shard_devices[shard] = anchor.device
                placement = strategy.extended.colocate_vars_with(anchor)
            with placement:
                index.build((rows, input_dim))
                self.kernel_shards.append(self.add_weight(
                    name=f"kernel_{shard}", shape=(rows, input_dim),
                    initializer=row_block(self.kernel_initializer, self.units, rows,
                                          input_dim, shard)))
                if self.use_bias:
                    self.bias_shards.append(self.add_weight(
                        name=f"bias_{shard}", shape=(rows,),
                        initializer=self.bias_initializer))

    def _on_shard(self, shard):
        device = self.shard_devices[shard]
        return contextlib.nullcontext() if device is None else tf.device(device)

    def _row_source(self):
        bias = RowShards(self.bias_shards) if self.use_bias else None
        return RowShards(self.kernel_shards), bias

    def _kernel_blocks(self):
        return RowShards(self.kernel_shards).row_blocks(self._row_source()[1])

    def _count_training_step(self, rebuild=True):
        for shard, index in enumerate(self.shard_indexes):
            with self._on_shard(shard):
                index.count_training_step(self.kernel_shards[shard], rebuild=rebuild)

    def _current_tables(self, rebuilt_in_training):
        tables = []
        for shard, index in enumerate(self.shard_indexes):
            with self._on_shard(shard):
                tables.append(index.ensure_current(self.kernel_shards[shard],
                                                   rebuilt_in_training=rebuilt_in_training))
        return tables

    def query(self, inputs, num_candidates=None, tables=None):
        """Candidate units of each input: every block's index queried with
        the inputs' buckets, the lists merged by rank (`merge_ranked`).

        Args:
          inputs: float [B, D].
          num_candidates: int C (default as for `WTADense.query`), asked of
            every block and kept after the merge.
          tables: None (the stored tables), or one entry per block, as
            `_current_tables` returns them.
        Returns:
          int32 [B, C] global unit ids, -1 padded.
        """
        if num_candidates is None:
            num_candidates = self._query_size()
        buckets = self.index.hash_buckets(inputs)
        offsets = RowShards(self.kernel_shards).offsets
        candidates = []
        for shard, index in enumerate(self.shard_indexes):
            with self._on_shard(shard):
                local = index.query_buckets(buckets, num_candidates,
                                            None if tables is None else tables[shard])
            candidates.append(tf.where(local >= 0, local + int(offsets[shard]), -1))
        return merge_ranked(candidates, num_candidates)

    def _candidate_logits(self, inputs, candidates, empty_slot=EMPTY_SLOT_LOGIT):
        """`WTADense._candidate_logits` on the candidates' rows only: they
        are gathered from their blocks into a compact kernel, and the
        candidates renumbered into it."""
        dtype = self.compute_dtype
        flat = tf.reshape(candidates, [-1])
        ids, slots = tf.unique(flat)
        kept = ids >= 0
        renumbered = tf.cumsum(tf.cast(kept, tf.int32)) - 1
        compact = tf.reshape(tf.where(flat >= 0, tf.gather(renumbered, slots), -1),
                             tf.shape(candidates))
        ids = tf.boolean_mask(ids, kept)
        kernel, bias = self._row_source()
        bias = None if bias is None else tf.cast(bias.gather(ids), dtype)
        logits = ops.hashed_matmul(tf.cast(inputs, dtype), tf.cast(kernel.gather(ids), dtype),
                                   compact, bias)
        return tf.where(candidates >= 0, logits, empty_slot_logit(logits.dtype, empty_slot))

    def call(self, inputs, training=None):
        """float `[B, D]` -> as `WTADense.call`: in inference the exact
        outputs `[B, units]` in the compute dtype, computed block by block,
        each where its block lives."""
        if training:
            return super().call(inputs, training=training)
        outputs = []
        for shard, (offset, kernel, bias) in enumerate(self._kernel_blocks()):
            with self._on_shard(shard):
                block = tf.matmul(inputs, kernel, transpose_b=True)
                outputs.append(block if bias is None else block + bias)
        return self.activation(tf.concat(outputs, axis=1))

    def get_config(self):
        """`WTADense.get_config` and num_shards."""
        return {**super().get_config(), "num_shards": self.num_shards}
