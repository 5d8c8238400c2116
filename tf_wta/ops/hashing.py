"""Winner-Take-All hash codes of vectors and their packing into bucket keys."""
import numpy as np
import tensorflow as tf

from tf_wta._arguments import matrix as _matrix
from tf_wta._arguments import positive_int as _positive_int
from tf_wta._ops import load_ops

_HASHABLE_DTYPES = (tf.float32, tf.float16, tf.bfloat16)
_INT32_MAX = 2**31 - 1


def num_buckets(window_size, codes_per_table):
    """Number of distinct bucket keys, `window_size ** codes_per_table`.

    Raises:
      ValueError: an argument is not a positive int, or the count overflows
        int32 bucket keys.
    """
    window_size = _positive_int(window_size, "window_size")
    codes_per_table = _positive_int(codes_per_table, "codes_per_table")
    # window_size >= 2 overflows int32 by 32 codes: never raise a huge
    # codes_per_table to its power (a Python bigint the size of the exponent).
    count = window_size**min(codes_per_table, 32) if window_size > 1 else 1
    if count > _INT32_MAX:
        raise ValueError(
            f"window_size ** codes_per_table = {window_size} ** {codes_per_table} "
            f"= {count if codes_per_table <= 32 else 'more than 2**31 - 1'} overflows int32 bucket keys; use fewer codes per table or "
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


def simhash_projections(dim, num_hashes, nonzeros, seed):
    """Sparse signed random projections for `simhash` (SLIDE's hash for
    hidden layers): each projection has `nonzeros` distinct input positions,
    weighted +1 or -1 at random.

    Deterministic for a seed, on every platform (numpy's PCG64 generator).

    Args:
      dim: int D, the width of the vectors to hash.
      num_hashes: int M, bits per vector.
      nonzeros: int K in [1, D], positions per projection.
      seed: int.
    Returns:
      (windows, signs): int32 tf.Tensor [M, K] of distinct positions in
      [0, D) per row, float32 tf.Tensor [M, K] of +-1.
    """
    windows = wta_windows(dim, num_hashes, nonzeros, seed)
    signs = np.random.default_rng([seed, 1]).choice(
        np.array([-1.0, 1.0], np.float32), size=(int(num_hashes), int(nonzeros)))
    return windows, tf.constant(signs, tf.float32)


def simhash(x, windows, signs, name=None):
    """Signed random projection (SimHash) bits of sparse projections.

    `codes[b, m] = 1 if sum_k signs[m, k] * x[b, windows[m, k]] > 0 else 0`,
    summed in float32 in k order; NaN and denormal entries of x count as 0. Two vectors
    agree on a bit with probability about 1 - angle / pi (dense Gaussian
    projections exactly; sparse ones approximately). Pack bits into bucket
    keys with `wta_buckets(codes, window_size=2, codes_per_table=bits)`. Not
    differentiable: the gradient with respect to x is None.

    Args:
      x: [B, D] float32, float16 or bfloat16.
      windows: [M, K] int32 in [0, D) (see `simhash_projections`). On the
        CPU an entry outside [0, D) is an InvalidArgumentError; on the GPU it
        contributes 0.
      signs: [M, K] float32, the weights of the entries.
      name: optional op name.
    Returns:
      int32 [B, M] bits in {0, 1}.
    Raises:
      ValueError: a wrong rank or dtype, or signs not shaped like windows.
    """
    x = _matrix(x, "x", _HASHABLE_DTYPES)
    windows = _matrix(windows, "windows", (tf.int32,))
    signs = _matrix(signs, "signs", (tf.float32,))
    if not windows.shape.is_compatible_with(signs.shape):
        raise ValueError(f"signs must have the shape of windows, got signs of shape "
                         f"{signs.shape} and windows of shape {windows.shape}")
    return load_ops().wta_simhash(x, windows, signs, name=name)


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
    Raises:
      ValueError: a wrong rank or dtype, window_size ** codes_per_table
        overflowing int32, codes_per_table not fitting in int32, or a static
        M that codes_per_table does not divide.
    """
    num_buckets(window_size, codes_per_table)
    if codes_per_table > _INT32_MAX:  # only window_size=1 lets it through num_buckets
        raise ValueError(f"codes_per_table must fit in int32, got {codes_per_table}")
    codes = _matrix(codes, "codes", (tf.int32,))
    num_hashes = codes.shape[1]
    if num_hashes is not None and num_hashes % codes_per_table:
        raise ValueError(
            f"codes_per_table={codes_per_table} must divide the number of codes "
            f"per row, got codes of shape {codes.shape}")
    return load_ops().wta_buckets(codes, window_size=window_size,
                                  codes_per_table=codes_per_table, name=name)


# Integer-valued hashes: asking for their gradient gives None rather than
# an error.
for _op_name in ("WtaHash", "WtaDensifiedHash", "WtaSimhash", "WtaBuckets"):
    tf.no_gradient(_op_name)
