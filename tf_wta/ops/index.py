"""The bucket index of a matrix's rows and its queries."""
import collections

import numpy as np
import tensorflow as tf

from tf_wta._arguments import matrix as _matrix
from tf_wta._arguments import positive_int as _positive_int
from tf_wta._ops import load_ops

_INT32_MAX = 2**31 - 1

Index = collections.namedtuple("Index", ["sorted_buckets", "sorted_units", "num_buckets"])
Index.__doc__ = """A bucket index of N units in L tables (see `build_index`).

Plain int32 tensors, so a layer can keep them in non-trainable variables:
  sorted_buckets: [L, N], row t the bucket keys of table t in ascending order.
  sorted_units: [L, N], the unit ids in the same order (ascending within a
    bucket).
  num_buckets: [], the number of distinct bucket keys.
"""


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


# Integer-valued index lookups: no gradient.
for _op_name in ("WtaBuildIndex", "WtaQueryIndex", "WtaQueryIndexPooled"):
    tf.no_gradient(_op_name)
