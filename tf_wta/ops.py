"""The public op API: Winner-Take-All hashing, the bucket index and the hashed matmul.

Data flows x -> wta_hash (or densified_wta_hash) -> wta_buckets -> query_index -> hashed_matmul, and
the units' weights through the same hash into build_index. Every function
checks what it can see before building the op (a ValueError naming the
argument); the kernels check the rest at run time (InvalidArgumentError).
"""
import collections

import numpy as np
import tensorflow as tf

from tf_wta._arguments import positive_int as _positive_int
from tf_wta._ops import load_ops

_HASHABLE_DTYPES = (tf.float32, tf.float16, tf.bfloat16)
_MATMUL_DTYPES = (tf.float32, tf.float64)
_INT32_MAX = 2**31 - 1

Index = collections.namedtuple("Index", ["sorted_buckets", "sorted_units", "num_buckets"])
Index.__doc__ = """A bucket index of N units in L tables (see `build_index`).

Plain int32 tensors, so a layer can keep them in non-trainable variables:
  sorted_buckets: [L, N], row t the bucket keys of table t in ascending order.
  sorted_units: [L, N], the unit ids in the same order (ascending within a
    bucket).
  num_buckets: [], the number of distinct bucket keys.
"""


def _matrix(value, name, dtypes):
    tensor = tf.convert_to_tensor(value)
    if tensor.dtype not in dtypes:
        allowed = ", ".join(d.name for d in dtypes)
        raise ValueError(f"{name} must have dtype {allowed}, got {tensor.dtype.name}")
    if tensor.shape.rank is not None and tensor.shape.rank != 2:
        raise ValueError(f"{name} must be a rank-2 tensor, got shape {tensor.shape}")
    return tensor


def num_buckets(window_size, codes_per_table):
    """Number of distinct bucket keys, `window_size ** codes_per_table`.

    Raises:
      ValueError: an argument is not a positive int, or the count overflows
        int32 bucket keys.
    """
    window_size = _positive_int(window_size, "window_size")
    codes_per_table = _positive_int(codes_per_table, "codes_per_table")
    count = window_size**codes_per_table
    if count > _INT32_MAX:
        raise ValueError(
            f"window_size ** codes_per_table = {window_size} ** {codes_per_table} "
            f"= {count} overflows int32 bucket keys; use fewer codes per table or "
            "a smaller window_size")
    return count


def wta_windows(dim, num_hashes, window_size, seed):
    """Random WTA windows: each row the first `window_size` entries of a
    random permutation of `range(dim)`.

    Deterministic for a seed, on every platform (numpy's PCG64 generator).

    Args:
      dim: int D, the width of the vectors to hash.
      num_hashes: int M, the number of codes per vector.
      window_size: int K in [1, D], the entries compared by one code.
      seed: int, the random seed.
    Returns:
      int32 tf.Tensor [M, K] with distinct entries in [0, D) in each row.
    """
    dim = _positive_int(dim, "dim")
    num_hashes = _positive_int(num_hashes, "num_hashes", minimum=0)
    window_size = _positive_int(window_size, "window_size")
    seed = _positive_int(seed, "seed", minimum=0)
    if window_size > dim:
        raise ValueError(f"window_size must be <= dim, got window_size={window_size} dim={dim}")
    if dim > _INT32_MAX:
        raise ValueError(f"dim must fit in int32, got {dim}")
    rng = np.random.default_rng(seed)
    windows = np.empty((num_hashes, window_size), dtype=np.int32)
    for m in range(num_hashes):
        # An ordered sample without replacement is distributed as the first
        # K entries of a uniform permutation, at O(K) rather than O(D) cost.
        windows[m] = rng.choice(dim, size=window_size, replace=False, shuffle=True)
    return tf.constant(windows)


def wta_hash(x, windows, name=None):
    """Winner-Take-All hash codes.

    `codes[b, m] = argmax_k x[b, windows[m, k]]`; ties go to the smallest k;
    NaN never wins (a window of only NaN gives code 0). Not differentiable:
    the gradient with respect to x is None.

    Args:
      x: [B, D] float32, float16 or bfloat16.
      windows: [M, K] int32 with entries in [0, D) (see `wta_windows`). On the
        CPU an entry outside [0, D) is an InvalidArgumentError; on the GPU,
        where checking costs a host sync, such an entry never wins.
      name: optional op name.
    Returns:
      int32 [B, M] codes in [0, K).
    """
    x = _matrix(x, "x", _HASHABLE_DTYPES)
    windows = _matrix(windows, "windows", (tf.int32,))
    return load_ops().wta_hash(x, windows, name=name)


# Integer-valued hashes and index lookups: asking for their gradient gives
# None rather than an error.
for _integer_op in ("WtaHash", "WtaDensifiedHash", "WtaBuckets", "WtaBuildIndex",
                    "WtaQueryIndex", "WtaQueryIndexPooled", "WtaHashedMatmulGrad"):
    tf.no_gradient(_integer_op)


def densified_wta_hash(x, windows, max_probes=100, name=None):
    """Densified Winner-Take-All hash codes (DWTA; Chen & Shrivastava 2018).

    WTA for sparse inputs. Window m of row b is *empty* when every entry it
    sees, `x[b, windows[m, k]]`, is zero (-0.0 too) or NaN.

    - A non-empty window's code is the argmax over its non-zero, non-NaN
      entries; ties go to the smallest k (-inf is a value like any other).
      So for non-negative inputs it equals `wta_hash` wherever that code
      is informative, and for a row with no zero and no NaN it equals
      `wta_hash` exactly.
    - An empty window m borrows the code of window
      `j_t = fmix32(m * 0x9e3779b9 + t) mod M` for the first `t` in
      `1..max_probes` whose window is not empty (uint32 arithmetic, wrapping;
      `fmix32` is murmur3's 32-bit finaliser, see
      `tests/references.py`), and gets 0 when every probe finds an empty
      window (always, for a row with no non-zero entry).

    The probe sequence depends only on (m, t, M), so the codes are
    deterministic and identical on the CPU and the GPU. Not differentiable:
    the gradient with respect to x is None.

    Args:
      x: [B, D] float32, float16 or bfloat16.
      windows: [M, K] int32 with entries in [0, D) (see `wta_windows`). On the
        CPU an entry outside [0, D) is an InvalidArgumentError; on the GPU,
        where checking costs a host sync, such an entry never wins (it is
        skipped like a zero).
      max_probes: int >= 1, probes per empty window (default 100; with a
        fraction p of empty windows a probe fails with probability p, so
        all of them with p ** max_probes).
      name: optional op name.
    Returns:
      int32 [B, M] codes in [0, K).
    Raises:
      ValueError: a wrong rank or dtype, or max_probes < 1.
    """
    max_probes = _positive_int(max_probes, "max_probes")
    if max_probes > _INT32_MAX:
        raise ValueError(f"max_probes must fit in int32, got {max_probes}")
    x = _matrix(x, "x", _HASHABLE_DTYPES)
    windows = _matrix(windows, "windows", (tf.int32,))
    return load_ops().wta_densified_hash(x, windows, max_probes=max_probes, name=name)


def wta_buckets(codes, window_size, codes_per_table, name=None):
    """Packs `codes_per_table` consecutive codes into one bucket key per table.

    `buckets[b, t] = sum_j codes[b, t * codes_per_table + j] * window_size ** j`.

    Args:
      codes: [B, M] int32 in [0, window_size) (see `wta_hash`); M must be a
        multiple of `codes_per_table`. On the CPU a code out of range is an
        InvalidArgumentError; on the GPU its table gets bucket -1.
      window_size: int K, the window size the codes were made with.
      codes_per_table: int m, codes packed into one key.
      name: optional op name.
    Returns:
      int32 [B, M / codes_per_table] keys in [0, window_size ** codes_per_table).
    """
    num_buckets(window_size, codes_per_table)
    codes = _matrix(codes, "codes", (tf.int32,))
    num_hashes = codes.shape[1]
    if num_hashes is not None and num_hashes % codes_per_table:
        raise ValueError(
            f"codes_per_table={codes_per_table} must divide the number of codes "
            f"per row, got codes of shape {codes.shape}")
    return load_ops().wta_buckets(codes, window_size=window_size,
                                  codes_per_table=codes_per_table, name=name)


def hashed_matmul(x, weights, indices, bias=None, name=None):
    """Dot products of each row of x with the weight rows its indices select.

    `out[b, c] = x[b] . weights[indices[b, c]] + bias[indices[b, c]]`, and 0
    where `indices[b, c] == -1` (an empty candidate slot: no gradient either).
    Exact: accumulates in the input dtype, no reduced precision.

    Gradients: dense for x; `tf.IndexedSlices` for weights and bias holding
    one row per distinct selected unit (duplicates summed, no -1 row), so a
    sparse optimizer such as SGD touches only those rows; None for indices.

    Args:
      x: [B, D] float32 or float64.
      weights: [N, D] of the dtype of x, one row per unit.
      indices: [B, C] int32 in [-1, N), e.g. from the index lookup. On the CPU
        a value outside [-1, N) is an InvalidArgumentError; on the GPU, where
        checking costs a host sync, it is treated like -1 (output 0, no
        gradient) and never read.
      bias: optional [N] of the dtype of x.
      name: optional op name.
    Returns:
      [B, C] of the dtype of x.
    Raises:
      ValueError: a rank, dtype or statically known size does not fit.
      tf.errors.InvalidArgumentError: at run time, for what only the kernel
        sees (sizes of an unknown shape, index values).
    """
    x = _matrix(x, "x", _MATMUL_DTYPES)
    weights = _matrix(weights, "weights", (x.dtype,))
    indices = _matrix(indices, "indices", (tf.int32,))
    if not x.shape[1:].is_compatible_with(weights.shape[1:]):
        raise ValueError(f"x and weights must have the same number of columns D, got x of "
                         f"shape {x.shape} and weights of shape {weights.shape}")
    if not x.shape[:1].is_compatible_with(indices.shape[:1]):
        raise ValueError(f"indices must have one row per row of x, got indices of shape "
                         f"{indices.shape} and x of shape {x.shape}")
    if bias is None:
        bias = tf.zeros(tf.shape(weights)[:1], x.dtype)
    else:
        bias = tf.convert_to_tensor(bias)
        if bias.dtype != x.dtype:
            raise ValueError(f"bias must have dtype {x.dtype.name} (the dtype of x), "
                             f"got {bias.dtype.name}")
        if bias.shape.rank is not None and bias.shape.rank != 1:
            raise ValueError(f"bias must be a rank-1 tensor, got shape {bias.shape}")
        if not bias.shape.is_compatible_with(weights.shape[:1]):
            raise ValueError(f"bias must have one entry per row of weights, got bias of "
                             f"shape {bias.shape} and weights of shape {weights.shape}")
    return load_ops().wta_hashed_matmul(x, weights, indices, bias, name=name)


@tf.RegisterGradient("WtaHashedMatmul")
def _hashed_matmul_grad(op, grad):
    """Dense gradient for x; one IndexedSlices row per distinct unit for the
    weights and the bias (duplicate selections summed in the op, so an
    optimizer updates each touched row once); None for the indices."""
    x, weights, indices, bias = op.inputs
    grad_x, units, weight_rows, bias_rows = load_ops().wta_hashed_matmul_grad(
        x, weights, indices, grad)
    return [grad_x,
            tf.IndexedSlices(weight_rows, units, tf.shape(weights)),
            None,
            tf.IndexedSlices(bias_rows, units, tf.shape(bias))]


def build_index(unit_buckets, num_buckets, name=None):
    """Builds a bucket index of N units (e.g. the rows of a weight matrix).

    Args:
      unit_buckets: [N, L] int32, the bucket key of each unit in each of L
        tables (`wta_buckets` of the hashed weights), in [0, num_buckets). On
        the CPU a key out of range is an InvalidArgumentError; on the GPU,
        where checking costs a host sync, that unit is left out of that table
        (its key is stored as 2**31 - 1, which no query matches).
      num_buckets: int in [1, 2**31 - 1], the number of distinct keys,
        `window_size ** codes_per_table` (see `num_buckets`). Nothing is
        allocated per bucket, so it may be large.
      name: optional op name.
    Returns:
      An `Index` of int32 tensors: sorted_buckets [L, N], sorted_units [L, N]
      and num_buckets []. Their shapes depend only on N and L, so they fit in
      fixed-shape variables; the result is deterministic.
    Raises:
      ValueError: unit_buckets is not an int32 matrix or num_buckets is not
        in [1, 2**31 - 1].
    """
    num_buckets = _positive_int(num_buckets, "num_buckets")
    if num_buckets > _INT32_MAX:
        raise ValueError(f"num_buckets must fit in int32, got {num_buckets}")
    unit_buckets = _matrix(unit_buckets, "unit_buckets", (tf.int32,))
    return Index(*load_ops().wta_build_index(unit_buckets, num_buckets=num_buckets, name=name))


def query_index(query_buckets, index, num_candidates, max_bucket_size=None, check_index=True,
                name=None):
    """Candidate units of each query row, best first.

    The candidates of a query are the units that share its bucket in at
    least one table, ordered by the number of tables where they do
    (descending) then by unit id (ascending), cut to `num_candidates` and
    padded with -1.

    Args:
      query_buckets: [B, L] int32 in [0, num_buckets), the bucket keys of the
        queries (`wta_buckets` of the hashed inputs). On the CPU a key out of
        range is an InvalidArgumentError; on the GPU it matches nothing.
      index: an `Index` from `build_index`, or a sequence of the same three
        tensors (e.g. the variables that hold them).
      num_candidates: int C >= 0, the number of candidates per query.
      max_bucket_size: None (default: exact), or int >= 1: a bucket then
        contributes only its first `max_bucket_size` units in unit-id order.
      check_index: bool. If True (default), the CPU kernel checks that the
        index is sorted and in range, an O(L * N) pass per call (about 25 ms
        for N=1,000,000, L=50 on 2 cores), and raises InvalidArgumentError
        naming the bad entry. Pass False in a hot loop when the index comes
        straight from `build_index`: a corrupted index then gives wrong
        candidates but is never read out of bounds. The GPU kernel never
        checks (a unit id outside [0, N) is skipped there too).
      name: optional op name.
    Returns:
      int32 [B, C] unit ids in [-1, N).
    Raises:
      ValueError: a wrong dtype, rank, table count or argument that is
        visible before the op runs.
      InvalidArgumentError: (at run time, CPU) a query key out of range, a
        table-count or shape mismatch, or an invalid index.
    """
    return load_ops().wta_query_index(*_query_inputs(query_buckets, index),
                                      **_query_attrs(num_candidates, max_bucket_size,
                                                     check_index), name=name)


def query_index_pooled(query_buckets, index, num_candidates, max_bucket_size=None,
                       check_index=True, name=None):
    """One candidate set for a whole batch of queries, best first.

    The candidates are the units that share a bucket with at least one query
    row, ordered by their collision count summed over all rows and tables
    (descending) then by unit id (ascending), cut to `num_candidates` and
    padded with -1: the units the batch as a whole hashes to most often.
    A bucket that several rows share is looked up once. The batch-shared
    candidate mode of `WTADense` scores these units for every example with
    one GEMM.

    Args:
      query_buckets: [B, L] int32 in [0, num_buckets), B * L < 2**31. On
        the CPU a key out of range is an InvalidArgumentError; on the GPU it
        matches nothing.
      index: an `Index` from `build_index`, or the same three tensors.
      num_candidates: int C >= 0.
      max_bucket_size, check_index, name: as for `query_index`.
    Returns:
      int32 [C] unit ids in [-1, N).
    Raises:
      ValueError, InvalidArgumentError: as for `query_index`, and
        InvalidArgumentError when B * L >= 2**31.
    """
    return load_ops().wta_query_index_pooled(*_query_inputs(query_buckets, index),
                                             **_query_attrs(num_candidates, max_bucket_size,
                                                            check_index), name=name)


def _query_attrs(num_candidates, max_bucket_size, check_index):
    """The attributes of the query ops, validated."""
    num_candidates = _positive_int(num_candidates, "num_candidates", minimum=0)
    if max_bucket_size is None:
        max_bucket_size = -1
    else:
        max_bucket_size = _positive_int(max_bucket_size, "max_bucket_size")
    return {"num_candidates": num_candidates, "max_bucket_size": max_bucket_size,
            "check_index": bool(check_index)}


def _query_inputs(query_buckets, index):
    """(query_buckets, sorted_buckets, sorted_units, num_buckets) as tensors,
    with the checks Python can make before the op runs."""
    if isinstance(index, (tf.Tensor, tf.Variable, np.ndarray)) or len(index) != 3:
        raise ValueError("index must be the (sorted_buckets, sorted_units, num_buckets) "
                         f"of build_index, got {index!r}")
    query_buckets = _matrix(query_buckets, "query_buckets", (tf.int32,))
    sorted_buckets = _matrix(index[0], "sorted_buckets", (tf.int32,))
    sorted_units = _matrix(index[1], "sorted_units", (tf.int32,))
    index_buckets = tf.convert_to_tensor(index[2])
    if index_buckets.dtype != tf.int32 or index_buckets.shape.rank not in (None, 0):
        raise ValueError("num_buckets of the index must be an int32 scalar, got "
                         f"{index_buckets.dtype.name} of shape {index_buckets.shape}")
    if not sorted_buckets.shape.is_compatible_with(sorted_units.shape):
        raise ValueError("sorted_buckets and sorted_units must have the same shape [L, N], "
                         f"got {sorted_buckets.shape} and {sorted_units.shape}")
    num_tables = sorted_buckets.shape[0]
    if not tf.TensorShape([num_tables]).is_compatible_with(query_buckets.shape[1:]):
        raise ValueError(f"query_buckets has {query_buckets.shape[1]} tables (columns) but "
                         f"the index has {num_tables}")
    return query_buckets, sorted_buckets, sorted_units, index_buckets
