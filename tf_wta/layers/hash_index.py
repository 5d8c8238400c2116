"""HashIndex: the WTA bucket tables of a matrix's rows and their rebuild schedule."""
import keras
import numpy as np
import tensorflow as tf

from tf_wta import ops
from tf_wta._arguments import positive_int
from tf_wta.layers import hash_settings
from tf_wta.layers.training_step import current_training_step

HASH_TYPES = ("wta", "dwta", "simhash")


def _replica_local(initializer, shape, dtype, name):
    # Index state is assigned inside tf.cond in the training step. Under a
    # tf.distribute strategy each replica keeps its own copy (on-read sync:
    # no cross-replica sync inside control flow); every replica computes the
    # same values from the mirrored weights, and reads from outside the
    # replicas (saving) take the first replica's copy.
    # autocast=False: the float32 rebuild period stays float32 under a
    # mixed-precision policy (float16 would lose it past 2048 steps).
    return keras.Variable(keras.initializers.get(initializer), shape=shape, dtype=dtype,
                          trainable=False, aggregation="only_first_replica",
                          synchronization="on_read", name=name, autocast=False)


def mean_pool(vectors, pool_size):
    """Means of consecutive groups of `pool_size` entries (the last group
    takes what is left): float [n, D] -> [n, ceil(D / pool_size)], same
    dtype; the vectors themselves when pool_size is 1."""
    vectors = tf.convert_to_tensor(vectors)
    if pool_size == 1:
        return vectors
    dim = int(vectors.shape[-1])
    groups = -(-dim // pool_size)
    if groups * pool_size > dim:
        vectors = tf.pad(vectors, [[0, 0], [0, groups * pool_size - dim]])
    sums = tf.reduce_sum(tf.reshape(vectors, [-1, groups, pool_size]), axis=-1)
    sizes = np.full(groups, pool_size, np.float64)
    sizes[-1] = dim - (groups - 1) * pool_size
    return sums / tf.constant(sizes, vectors.dtype)


@keras.saving.register_keras_serializable(package="tf_wta")
class HashIndex(keras.layers.Layer):
    """Bucket tables of the rows of an `[N, D]` matrix (a layer's kernel),
    kept in variables and rebuilt in the graph on a schedule of training steps.

    Each row is hashed (`wta_hash` or `densified_wta_hash`, then
    `wta_buckets`) into `num_tables` tables; `query` returns, per query
    vector, the rows that collide with it in the most tables. The schedule
    counts training steps: the optimizer's iterations inside
    `tf_wta.WTAModel`'s training step (a layer called twice in one step
    counts once), each `count_training_step` call elsewhere.

    Args:
      num_tables: int L >= 1, hash tables.
      codes_per_table: int m >= 1, WTA codes packed per bucket key (None:
        about 16 rows per bucket for the matrix it is built for).
      window_size: int K >= 2, entries compared by one WTA code.
      hash_type: "wta" (`wta_hash`) or "dwta" (`densified_wta_hash`: windows
        that see only zeros borrow the code of a non-empty window instead of
        all hashing to code 0); rows and queries are hashed alike, and on
        inputs with no zero the two agree. "dwta" measured worse for hidden
        layers (examples/README.md): a borrowed code is compared with a dense
        row's own code of that window, which is unrelated to the input.
        Or "simhash" (`simhash`: signed random projections, SLIDE's hash,
        one bit per projection of `window_size` +-1 weighted entries;
        codes_per_table bits per key).
      max_bucket_size: int cap on the rows a bucket contributes to a query,
        or None (exact).
      rebuild_every: int, training steps between rebuilds (the first period).
      rebuild_growth: float >= 1, each period this factor longer than the last.
      seed: int seed of the hash windows (None: drawn from numpy's global
        generator, which `keras.utils.set_random_seed` seeds).
      pool_size: int p >= 1: rows and queries are hashed through their
        mean-pooled copies, `mean_pool(v, p)` of ceil(D / p) entries (SLIDE's
        dimension-reduced query), instead of themselves (p = 1). None: set
        when the index is built, `hash_settings.default_pool_size` (2, or
        less where the pooled vectors would be shorter than window_size).
    """

    def __init__(self, num_tables=50, codes_per_table=None, window_size=8, hash_type="wta",
                 max_bucket_size=None, rebuild_every=50, rebuild_growth=1.0, seed=None,
                 pool_size=1, **kwargs):
        super().__init__(**kwargs)
        self.num_tables = positive_int(num_tables, "num_tables")
        self.window_size = positive_int(window_size, "window_size", minimum=2)
        self.codes_per_table = (None if codes_per_table is None
                                else positive_int(codes_per_table, "codes_per_table"))
        if hash_type not in HASH_TYPES:
            raise ValueError(f"hash_type must be one of {HASH_TYPES}, got {hash_type!r}")
        self.hash_type = hash_type
        self.max_bucket_size = (None if max_bucket_size is None
                                else positive_int(max_bucket_size, "max_bucket_size"))
        self.rebuild_every = positive_int(rebuild_every, "rebuild_every")
        if (isinstance(rebuild_growth, bool) or not isinstance(rebuild_growth, (int, float))
                or rebuild_growth < 1.0):
            raise ValueError(f"rebuild_growth must be a number >= 1.0, got {rebuild_growth!r}")
        self.rebuild_growth = float(rebuild_growth)
        self.seed = seed
        self.pool_size = None if pool_size is None else positive_int(pool_size, "pool_size")

    @property
    def radix(self):
        """Values one code takes: window_size for WTA codes, 2 for SimHash bits."""
        return 2 if self.hash_type == "simhash" else self.window_size

    def resolve_codes_per_table(self, num_rows):
        """Fixes codes_per_table for a matrix of num_rows rows (the default
        aims at about 16 rows per bucket) and returns it."""
        if self.codes_per_table is None:
            self.codes_per_table = hash_settings.default_codes_per_table(num_rows, self.radix)
        return self.codes_per_table

    @property
    def num_buckets(self):
        """Distinct bucket keys, radix ** codes_per_table."""
        return ops.num_buckets(self.radix, self.codes_per_table)

    @property
    def num_hashes(self):
        """WTA codes per vector, num_tables * codes_per_table."""
        return self.num_tables * self.codes_per_table

    def build(self, matrix_shape):
        """Creates the variables for a matrix of shape (N, D)."""
        num_rows, dim = (int(size) for size in matrix_shape)
        self.resolve_codes_per_table(num_rows)
        if self.pool_size is None:
            self.pool_size = hash_settings.default_pool_size(dim, self.window_size)
        if self.pool_size > dim:
            raise ValueError(f"pool_size={self.pool_size} must be <= the input features ({dim})")
        hashed_dim = -(-dim // self.pool_size)
        if self.window_size > hashed_dim:
            pooled = (f": the {dim} input features mean-pooled by pool_size={self.pool_size}"
                      if self.pool_size > 1 else "")
            raise ValueError(f"window_size={self.window_size} must be <= the input features "
                             f"({hashed_dim}{pooled})")
        dim = hashed_dim
        seed = self.seed if self.seed is not None else int(np.random.randint(2**31 - 1))
        windows, signs = ops.simhash_projections(dim, self.num_hashes, self.window_size, seed)
        windows = windows.numpy()
        self.windows = _replica_local(lambda *_, **__: windows, windows.shape, "int32",
                                      "windows")
        if self.hash_type == "simhash":
            signs = signs.numpy()
            self.signs = _replica_local(lambda *_, **__: signs, signs.shape, "float32",
                                        "signs")
        table_shape = (self.num_tables, num_rows)
        self.sorted_buckets = _replica_local("zeros", table_shape, "int32", "sorted_buckets")
        self.sorted_units = _replica_local("zeros", table_shape, "int32", "sorted_units")
        # Training steps counted so far, and the count when the tables were built
        # (-1: never).
        self.steps = _replica_local("zeros", (), "int64", "steps")
        self.built_at = _replica_local(keras.initializers.Constant(-1), (), "int64", "built_at")
        self.next_rebuild = _replica_local("zeros", (), "int64", "next_rebuild")
        self.rebuild_period = _replica_local(
            keras.initializers.Constant(float(self.rebuild_every)), (), "float32",
            "rebuild_period")

    def hash_buckets(self, vectors):
        """Bucket keys of vectors in every table: float [n, D] -> int32 [n, L]
        (their mean-pooled copies are hashed, see pool_size)."""
        vectors = mean_pool(vectors, self.pool_size)
        if self.hash_type == "simhash":
            codes = ops.simhash(vectors, self.windows, self.signs)
        elif self.hash_type == "dwta":
            codes = ops.densified_wta_hash(vectors, self.windows)
        else:
            codes = ops.wta_hash(vectors, self.windows)
        return ops.wta_buckets(codes, self.radix, self.codes_per_table)

    def rebuild(self, rows, step=None):
        """Rehashes every row into the tables now (in the graph when traced).

        Args:
          rows: float [N, D], the matrix the index serves.
          step: int64 scalar, the training step it is built at (default:
            the steps counted so far).
        Returns:
          A scalar bool tensor, True, once the tables are assigned.
        """
        sorted_buckets, sorted_units, _ = ops.build_index(self.hash_buckets(rows),
                                                          self.num_buckets)
        self.sorted_buckets.assign(sorted_buckets)
        self.sorted_units.assign(sorted_units)
        self.built_at.assign(self.steps if step is None else step)
        return tf.constant(True)

    def count_training_step(self, rows, rebuild=True):
        """Counts one training step of rows, first rebuilding the tables when
        the schedule says so (and `rebuild`: training that does not query
        the index lets it go stale instead, see `ensure_current`)."""
        context = current_training_step()
        step = self.steps if context is None else tf.cast(context.step, tf.int64)
        step = tf.convert_to_tensor(step)
        if rebuild:
            due = tf.logical_or(self.built_at < 0, step >= self.next_rebuild)
            tf.cond(due, lambda: self._rebuild_on_schedule(rows, step),
                    lambda: tf.constant(False))
        self.steps.assign(step + 1)

    def _rebuild_on_schedule(self, rows, step):
        self.rebuild(rows, step)
        period = tf.convert_to_tensor(self.rebuild_period)
        self.next_rebuild.assign(step + tf.cast(tf.round(period), tf.int64))
        self.rebuild_period.assign(period * self.rebuild_growth)
        return tf.constant(True)

    def ensure_current(self, rows, rebuilt_in_training=True):
        """Builds the tables if they never were, or (when training does not
        rebuild them) if rows have been trained since they were built.

        Returns:
          The tables to query: None for the stored ones, or, outside the
          replicas of a tf.distribute strategy (Keras' symbolic build of
          the model, a direct call in the strategy's scope), where a
          replica-local variable cannot be assigned inside tf.cond, a
          fresh (sorted_buckets, sorted_units) of rows, leaving the stored
          tables as they are.
        """
        if tf.distribute.has_strategy() and tf.distribute.in_cross_replica_context():
            return ops.build_index(self.hash_buckets(rows), self.num_buckets)[:2]
        stale = self.built_at < 0
        if not rebuilt_in_training:
            stale = tf.logical_or(stale, self.built_at < self.steps)
        tf.cond(stale, lambda: self.rebuild(rows), lambda: tf.constant(False))
        return None

    def query(self, vectors, num_candidates, tables=None):
        """The rows that collide most with each vector.

        Args:
          vectors: float [B, D].
          num_candidates: int C >= 1.
          tables: (sorted_buckets, sorted_units) int32 [L, N] to query
            instead of the stored ones (from `ensure_current`), or None.
        Returns:
          int32 [B, C] row ids, most collisions first, -1 padded.
        """
        return self.query_buckets(self.hash_buckets(vectors), num_candidates, tables)

    def query_buckets(self, buckets, num_candidates, tables=None):
        """`query` of vectors already hashed: int32 [B, L] bucket keys (from
        `hash_buckets`, or from an index with the same seed and settings)
        -> int32 [B, C] row ids, most collisions first, -1 padded."""
        if tables is None:
            tables = (self.sorted_buckets, self.sorted_units)
        index = (tf.convert_to_tensor(tables[0]), tf.convert_to_tensor(tables[1]),
                 tf.constant(self.num_buckets, tf.int32))
        return ops.query_index(buckets, index, num_candidates,
                               max_bucket_size=self.max_bucket_size, check_index=False)

    def get_config(self):
        """The constructor's arguments, for Keras saving."""
        config = super().get_config()
        config.update({
            "num_tables": self.num_tables, "codes_per_table": self.codes_per_table,
            "window_size": self.window_size, "hash_type": self.hash_type,
            "max_bucket_size": self.max_bucket_size, "rebuild_every": self.rebuild_every,
            "rebuild_growth": self.rebuild_growth, "seed": self.seed,
            "pool_size": self.pool_size,
        })
        return config
