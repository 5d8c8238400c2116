"""A matrix kept as contiguous row blocks in several variables (one per
parameter server), read by row ids: only the rows asked for leave a block."""
import numpy as np
import tensorflow as tf

from tf_wta._arguments import positive_int


def shard_sizes(num_rows, num_shards):
    """Rows of each of num_shards contiguous blocks of num_rows rows, the
    first `num_rows % num_shards` blocks one row longer: a list of ints.

    Raises:
      ValueError: num_shards is not an int in [1, num_rows].
    """
    num_shards = positive_int(num_shards, "num_shards")
    if num_shards > num_rows:
        raise ValueError(f"num_shards={num_shards} must be <= units={num_rows}: every shard "
                         f"holds at least one row")
    base, extra = divmod(num_rows, num_shards)
    return [base + (shard < extra) for shard in range(num_shards)]


def gather_rows(matrix, ids):
    """Rows `ids` of matrix: `tf.gather(matrix, ids)`, or `RowShards.gather`."""
    if isinstance(matrix, RowShards):
        return matrix.gather(ids)
    return tf.gather(matrix, ids)


class RowShards:
    """The rows of an `[N, ...]` matrix held as blocks `[n_i, ...]`, block i
    holding global rows `offsets[i] .. offsets[i] + n_i - 1`.

    Reads by row id gather inside each block's variable (`tf.gather` of a
    resource variable runs where the variable lives), so only the rows asked
    for travel, and the gradient of each block is a `tf.IndexedSlices` of
    its own rows, which `tf_wta.LazyAdam`/`tf_wta.SparseSGD` apply in place.

    Args:
      blocks: list of variables (or tensors) `[n_i, ...]`, same trailing shape.
    """

    def __init__(self, blocks):
        self.blocks = list(blocks)
        self.sizes = [int(block.shape[0]) for block in self.blocks]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int32)

    @property
    def num_rows(self):
        """N, the rows of all blocks together."""
        return int(self.offsets[-1])

    def row_blocks(self, bias=None):
        """(first row, block, bias block or None) of each block, the form
        `logit_chunks` reads; `bias`: a `RowShards` of the same sizes, or None."""
        biases = [None] * len(self.blocks) if bias is None else bias.blocks
        return list(zip(self.offsets[:-1].tolist(), self.blocks, biases))

    def shard_of(self, ids):
        """Block of each global row id: int32, the shape of ids."""
        ids = tf.convert_to_tensor(ids, tf.int32)
        return tf.searchsorted(tf.constant(self.offsets[1:-1]), ids, side="right")

    def gather(self, ids):
        """Rows of global ids: int32 [S] ids in [0, N) -> [S, ...], in the
        blocks' dtype (a Keras variable read inside a layer's call is in the
        compute dtype)."""
        ids = tf.reshape(tf.convert_to_tensor(ids, tf.int32), [-1])
        if len(self.blocks) == 1:
            return tf.gather(self.blocks[0], ids)
        shard = self.shard_of(ids)
        local = ids - tf.gather(tf.constant(self.offsets[:-1]), shard)
        count = len(self.blocks)
        local_ids = tf.dynamic_partition(local, shard, count)
        positions = tf.dynamic_partition(tf.range(tf.size(ids)), shard, count)
        rows = [tf.gather(block, block_ids) for block, block_ids in zip(self.blocks, local_ids)]
        return tf.dynamic_stitch(positions, rows)
