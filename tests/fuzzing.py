"""Fuzzer for every tf_wta op: case generators per op and a crash-safe runner.

A case is regenerated from (op, seed, case_id) alone, so a failure is
reproduced with

    python scripts/fuzz_ops.py --op OP --seed SEED --case CASE_ID

Each case draws random ranks, shapes (0-sized, large, mismatched), dtypes,
attributes (negative, zero, huge) and values (NaN, +-Inf, -0.0, denormals,
out-of-range indices and codes, corrupted indexes) and calls the op through
its Python wrapper, the raw generated op (eager), or the raw op inside a
`tf.function` (shape functions). The contract per case:

  * inputs valid by the op's documented contract: the result equals the
    numpy reference in tests/references.py;
  * inputs invalid: ValueError, TypeError or tf.errors.InvalidArgumentError
    whose message names an input or attribute of the op (and a failed
    sparse update leaves the variables untouched);
  * `query_index*` with check_index=False and a corrupted index: no crash and
    ids in [-1, N) (wrong candidates are allowed by design);
  * never a crash, a hang or a wrong result.

Cases run in a child process (`Runner`): a crash (signal, abort) or a hang
(a CPU-time or wall-time limit) kills only the child, is reported with the
case's reproducer, and a fresh child takes over.
"""
import dataclasses
import multiprocessing
import os
import re
import time
import traceback

import numpy as np

# Imported as `fuzzing`, with tests/ on sys.path (pytest puts it there;
# scripts/fuzz_ops.py does), so that `import tf_wta` finds the package under
# test (installed or on PYTHONPATH), never a source tree without its library.
# Spawned workers inherit the parent's sys.path.

OPS = ("wta_hash", "densified_wta_hash", "simhash", "fwht", "wta_buckets", "build_index",
       "query_index", "query_index_pooled", "hashed_matmul", "hashed_matmul_grad",
       "sparse_apply_sgd", "sparse_apply_adam")

INT32_MAX = 2**31 - 1
INT32_MIN = -2**31
HUGE_ATTRS = (2**31 - 1, 2**31, 2**40, 2**62)
PASS, CLEAN_ERROR, FAILURE = "passed", "clean error", "failure"
# Case ids that abort their worker, or spin forever, on purpose: test the
# runner's crash and hang paths.
CRASH_CASE_ID = -1
HANG_CASE_ID = -2


class Mismatch(AssertionError):
    """The op's result differs from the reference, or it accepted bad input."""


@dataclasses.dataclass
class Outcome:
    op: str
    seed: int
    case_id: int
    status: str
    description: str = ""
    detail: str = ""

    def reproducer(self):
        return f"--op {self.op} --seed {self.seed} --case {self.case_id}"


# ---------------------------------------------------------------- random inputs


def _rng(op, seed, case_id):
    return np.random.default_rng([seed, OPS.index(op), case_id])


def _dim(rng, large=4096):
    """A random dimension: mostly small, sometimes 0, sometimes large."""
    r = rng.random()
    if r < 0.1:
        return 0
    if r < 0.25:
        return 1
    if r < 0.85:
        return int(rng.integers(2, 9))
    if r < 0.97:
        return int(rng.integers(9, min(65, large + 1)))
    return int(rng.integers(min(65, large), large + 1))


def _specials(dtype):
    finfo = np.finfo(np.float32 if dtype in ("bfloat16",) else dtype)
    return np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, finfo.smallest_subnormal,
                     -finfo.smallest_subnormal, finfo.tiny, finfo.max, -finfo.max, 1.0, -1.0],
                    dtype=np.float64)


def _floats(rng, shape, dtype="float32", special_rate=None, moderate=False):
    """Random floats with NaN, +-Inf, -0.0, denormals and huge values sprinkled in;
    `moderate` keeps the specials to those whose sums do not depend on order."""
    np_dtype = np.float32 if dtype == "bfloat16" else np.dtype(dtype)
    size = int(np.prod(shape))
    style = rng.integers(0, 4)
    if style == 0:  # few distinct values: ties
        values = rng.integers(-2, 3, size).astype(np.float64)
    else:
        values = rng.standard_normal(size)
    rate = special_rate if special_rate is not None else rng.choice([0.0, 0.0, 0.05, 0.3])
    if size and rate:
        mask = rng.random(size) < rate
        specials = _specials(np_dtype)
        if moderate:
            specials = specials[[0, 1, 2, 3, 4, 5, 6, 7, 10, 11]]
        values[mask] = rng.choice(specials, int(mask.sum()))
    with np.errstate(over="ignore"):
        return values.astype(np_dtype).reshape(shape)


def _ints(rng, shape, lo, hi, bad_rate=None):
    """int32 in [lo, hi) with some out-of-range values sprinkled in."""
    size = int(np.prod(shape))
    hi = max(hi, lo + 1)
    values = rng.integers(lo, hi, size, dtype=np.int64)
    rate = bad_rate if bad_rate is not None else rng.choice([0.0, 0.0, 0.0, 0.02, 0.3])
    if size and rate:
        mask = rng.random(size) < rate
        bad = np.array([lo - 1, hi, hi + 1, INT32_MAX, INT32_MIN, -1], dtype=np.int64)
        values[mask] = rng.choice(bad, int(mask.sum()))
    return np.clip(values, INT32_MIN, INT32_MAX).astype(np.int32).reshape(shape)


def _maybe_bad_rank(rng, array, rate=0.05):
    """The array, or (rarely) a reshaped copy of rank 0, 1 or 3."""
    if rng.random() >= rate:
        return array
    kind = rng.integers(0, 3)
    if kind == 0:
        return array.reshape(-1)
    if kind == 1:
        return array.reshape(array.shape + (1,))
    return np.asarray(array.reshape(-1)[:1].reshape(()) if array.size else
                      np.zeros((), array.dtype))


def _attr(rng, typical, bad=(0, -1)):
    """An int attribute: mostly typical, sometimes zero/negative/huge."""
    r = rng.random()
    if r < 0.85:
        return int(typical)
    if r < 0.93:
        return int(rng.choice(bad))
    return int(rng.choice(HUGE_ATTRS))


def _mode(rng):
    return str(rng.choice(["wrapper", "wrapper", "raw", "graph"]))


def _is_matrix(a):
    return np.ndim(a) == 2


# ----------------------------------------------------------------- the checks


def _names_input(message, names):
    """Whether an error message names one of the op's inputs or attributes
    (TensorFlow's own dtype check names an input by position)."""
    if re.search(r"input #\d+|attr '\w+'", message):
        return True
    return any(re.search(r"(?<![A-Za-z_])" + re.escape(n) + r"(?![A-Za-z_])", message)
               for n in names)


def _equal_ints(out, ref, what="result"):
    out, ref = np.asarray(out), np.asarray(ref)
    if out.shape != ref.shape or not np.array_equal(out, ref):
        raise Mismatch(f"{what} differs from the reference:\n got {_short(out)}\n want "
                       f"{_short(ref)}")


def _short(a):
    return np.array2string(np.asarray(a), threshold=40, edgeitems=5)


def _close(out, ref, dtype, scale=None, what="result"):
    """float results: NaN where the reference is NaN, equal infinities, and
    finite values within rounding error (scaled by `scale`, the sum of the
    absolute terms)."""
    out = np.asarray(out, np.float64)
    ref = np.asarray(ref, np.float64)
    if out.shape != ref.shape:
        raise Mismatch(f"{what} has shape {out.shape}, the reference {ref.shape}")
    eps = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    scale = np.abs(ref) if scale is None else np.asarray(scale, np.float64)
    big = np.finfo(dtype).max / 4
    finite = np.isfinite(ref) & np.isfinite(scale) & (scale < big)
    with np.errstate(invalid="ignore", over="ignore"):
        bad = finite & ~(np.abs(out - ref) <= eps * scale + 1e-30)
    bad |= np.isnan(ref) & ~np.isnan(out) & np.isfinite(scale)
    bad |= np.isinf(ref) & (out != ref) & np.isfinite(scale) & (scale < big)
    if bad.any():
        where = tuple(np.argwhere(bad)[0])
        raise Mismatch(f"{what} differs from the reference at {where}: got {out[where]!r}, "
                       f"want {ref[where]!r} (and {int(bad.sum()) - 1} more)")


# ------------------------------------------------------------------- the cases
#
# A generator draws a case and returns (description, run): run() calls the op
# and checks it against the reference, raising Mismatch on a wrong result; an
# error it lets through is judged by the runner (clean when the case was
# invalid and the message names an input). `invalid` is the reason the inputs
# break the contract, or None.


@dataclasses.dataclass
class Case:
    description: str
    run: object  # callable() -> None
    invalid: str = None
    names: tuple = ()


def _tf():
    import tensorflow as tf  # noqa: imported late: workers import it once
    return tf


def _to_tensor(tf, array, dtype_name):
    if dtype_name == "bfloat16":
        return tf.cast(tf.constant(array, tf.float32), tf.bfloat16)
    return tf.constant(array)


def _call(tf, mode, wrapper, raw, tensors, **attrs):
    """Calls the op through its wrapper, the raw op, or the raw op in a graph."""
    if mode == "wrapper":
        return wrapper(*tensors, **attrs)
    if mode == "raw":
        return raw(*tensors, **attrs)
    specs = [tf.TensorSpec(t.shape, t.dtype) for t in tensors]
    return tf.function(lambda *args: raw(*args, **attrs), input_signature=specs,
                       autograph=False)(*tensors)


def _hash_case(rng, densified):
    import references
    tf = _tf()
    import tf_wta
    ops = tf_wta.load_ops()
    batch, dim, num_hashes, window = _dim(rng), _dim(rng), _dim(rng, 64), _dim(rng, 64)
    if rng.random() < 0.05:
        dim = int(rng.integers(50_000, 200_000))
        batch = min(batch, 2)
    if window and dim and rng.random() < 0.8:
        window = min(window, dim)
    dtype = str(rng.choice(["float32", "float32", "float16", "bfloat16", "float64", "int32"]))
    x = _floats(rng, (batch, dim), "float32" if dtype in ("int32", "float64") else dtype)
    if dtype == "int32":
        x = np.nan_to_num(x).clip(-100, 100).astype(np.int32)
    elif dtype == "float64":
        x = x.astype(np.float64)
    windows = _ints(rng, (num_hashes, window), 0, dim)
    x, windows = _maybe_bad_rank(rng, x), _maybe_bad_rank(rng, windows)
    windows_dtype = "int32" if rng.random() > 0.03 else "int64"
    max_probes = _attr(rng, rng.choice([1, 2, 100, int(rng.integers(1, 1000))])) \
        if densified else None
    mode = _mode(rng)
    invalid = None
    if dtype not in ("float32", "float16", "bfloat16"):
        invalid = f"x dtype {dtype}"
    elif windows_dtype != "int32":
        invalid = "windows dtype int64"
    elif not (_is_matrix(x) and _is_matrix(windows)):
        invalid = "a rank other than 2"
    elif densified and not 1 <= max_probes <= INT32_MAX:
        invalid = f"max_probes={max_probes}"
    elif windows.shape[1] < 1 or x.shape[1] < 1:
        invalid = "an empty window or x without columns"
    elif windows.size and (windows.min() < 0 or windows.max() >= x.shape[1]):
        invalid = "a window entry outside [0, D)"
    description = (f"{'densified_' if densified else ''}wta_hash via {mode}: x {dtype}"
                   f"{list(np.shape(x))}, windows {windows_dtype}{list(np.shape(windows))}"
                   + (f", max_probes={max_probes}" if densified else "")
                   + (f"; invalid: {invalid}" if invalid else ""))

    def run():
        x_t = _to_tensor(tf, x, dtype)
        w_t = tf.constant(windows.astype(windows_dtype))
        if densified:
            codes = _call(tf, mode, tf_wta.ops.densified_wta_hash, ops.wta_densified_hash,
                          [x_t, w_t], max_probes=max_probes)
        else:
            codes = _call(tf, mode, tf_wta.ops.wta_hash, ops.wta_hash, [x_t, w_t])
        if invalid:
            raise Mismatch(f"accepted invalid inputs ({invalid}), returned {_short(codes)}")
        values = tf.cast(x_t, tf.float32).numpy()
        ref = (references.densified_wta_hash(values, windows, max_probes) if densified
               else references.wta_hash(values, windows))
        try:
            _equal_ints(codes, ref, "codes")
        except Mismatch as error:
            b, m = np.argwhere(np.asarray(codes) != ref)[0]
            raise Mismatch(f"{error}\n first at [{b}, {m}]: x[{b}, windows[{m}]] = "
                           f"{values[b, windows[m]].tolist()}, got {int(np.asarray(codes)[b, m])}"
                           f", want {int(ref[b, m])}") from None

    return Case(description, run, invalid, ("x", "windows", "max_probes", "T"))


def gen_wta_hash(rng):
    return _hash_case(rng, densified=False)


def gen_densified_wta_hash(rng):
    return _hash_case(rng, densified=True)


def gen_simhash(rng):
    """simhash: the hash cases' shapes, dtypes and windows, plus signs (float32
    +-1, rarely another shape or dtype). A bit may differ from the reference
    only where its projection is within float32 rounding of 0."""
    import references
    tf = _tf()
    import tf_wta
    ops = tf_wta.load_ops()
    batch, dim, num_hashes, window = _dim(rng), _dim(rng), _dim(rng, 64), _dim(rng, 64)
    if window and dim and rng.random() < 0.8:
        window = min(window, dim)
    dtype = str(rng.choice(["float32", "float32", "float16", "bfloat16", "float64"]))
    x = _floats(rng, (batch, dim), "float32" if dtype == "float64" else dtype)
    if dtype == "float64":
        x = x.astype(np.float64)
    windows = _maybe_bad_rank(rng, _ints(rng, (num_hashes, window), 0, dim))
    x = _maybe_bad_rank(rng, x)
    signs_shape = np.shape(windows) if rng.random() > 0.05 else (num_hashes, window + 1)
    signs = rng.choice(np.array([-1.0, 1.0, 0.5], np.float32), size=signs_shape)
    signs_dtype = "float32" if rng.random() > 0.03 else "float64"
    mode = _mode(rng)
    invalid = None
    if dtype == "float64":
        invalid = "x dtype float64"
    elif signs_dtype != "float32":
        invalid = "signs dtype float64"
    elif not (_is_matrix(x) and _is_matrix(windows)):
        invalid = "a rank other than 2"
    elif np.shape(signs) != np.shape(windows):
        invalid = "signs not shaped like windows"
    elif windows.shape[1] < 1 or x.shape[1] < 1:
        invalid = "an empty window or x without columns"
    elif windows.size and (windows.min() < 0 or windows.max() >= x.shape[1]):
        invalid = "a window entry outside [0, D)"
    description = (f"simhash via {mode}: x {dtype}{list(np.shape(x))}, windows "
                   f"{list(np.shape(windows))}, signs {signs_dtype}{list(np.shape(signs))}"
                   + (f"; invalid: {invalid}" if invalid else ""))

    def run():
        x_t = _to_tensor(tf, x, dtype)
        tensors = [x_t, tf.constant(windows), tf.constant(signs.astype(signs_dtype))]
        codes = _call(tf, mode, tf_wta.ops.simhash, ops.wta_simhash, tensors)
        if invalid:
            raise Mismatch(f"accepted invalid inputs ({invalid}), returned {_short(codes)}")
        values = np.nan_to_num(tf.cast(x_t, tf.float32).numpy(), nan=0.0, posinf=np.inf,
                               neginf=-np.inf)
        values[np.abs(values) < np.finfo(np.float32).tiny] = 0.0
        ref = references.simhash(values, windows, signs)
        terms = np.abs(values[:, windows] * signs[None]) if windows.size else np.zeros(ref.shape)
        with np.errstate(invalid="ignore", over="ignore"):
            # Rounding, and products the CPU flushes to 0 below float32's
            # smallest normal, may flip a bit whose projection is about 0.
            margin = (1e-5 * terms.sum(axis=-1) + 2 * np.finfo(np.float32).tiny * window
                      if terms.size else np.zeros(ref.shape))
            total = (values[:, windows] * signs[None]).sum(axis=-1) if terms.size else margin
        close_to_zero = ~(np.abs(total) > margin)
        out = np.asarray(codes)
        if out.shape != ref.shape or np.any((out != ref) & ~close_to_zero):
            _equal_ints(codes, ref, "bits")

    return Case(description, run, invalid, ("x", "windows", "signs", "T"))


def gen_fwht(rng):
    """fwht: rows of a power of two (or not) columns, every float dtype the
    op takes and some it does not, special values; against an O(d log d)
    numpy transform in float64."""
    tf = _tf()
    import tf_wta
    ops = tf_wta.load_ops()
    batch = _dim(rng, 64)
    dim = int(2 ** rng.integers(0, 15)) if rng.random() > 0.1 else _dim(rng, 300)
    dtype = str(rng.choice(["float32", "float32", "float16", "bfloat16", "float64"]))
    x = _maybe_bad_rank(rng, _floats(rng, (batch, dim), "float32", moderate=True))
    mode = _mode(rng)
    invalid = None
    if dtype == "float64":
        invalid = "x dtype float64"
    elif not _is_matrix(x):
        invalid = "a rank other than 2"
    elif dim & (dim - 1) or dim == 0:
        invalid = f"d={dim} not a power of two"
    description = (f"fwht via {mode}: x {dtype}{list(np.shape(x))}"
                   + (f"; invalid: {invalid}" if invalid else ""))

    def run():
        x_t = _to_tensor(tf, x.astype(np.float64) if dtype == "float64" else x, dtype)
        out = _call(tf, mode, tf_wta.ops.fwht, ops.wta_fwht, [x_t])
        if invalid:
            raise Mismatch(f"accepted invalid inputs ({invalid}), returned {_short(out)}")
        ref = tf.cast(x_t, tf.float32).numpy().astype(np.float64)
        step = 1
        while step < dim:
            ref = ref.reshape(batch, dim // (2 * step), 2, step)
            ref = np.stack([ref[:, :, 0] + ref[:, :, 1], ref[:, :, 0] - ref[:, :, 1]], axis=2)
            step *= 2
        ref = ref.reshape(batch, dim)
        got = tf.cast(out, tf.float32).numpy().astype(np.float64)
        # Each output is a float32 sum of d terms, rounded once to the dtype.
        rtol = {"float32": 0.0, "float16": 1e-3, "bfloat16": 8e-3}[dtype]
        terms = np.abs(np.where(np.isfinite(x), x, 0)).astype(np.float64).sum(axis=1,
                                                                              keepdims=True)
        representable = np.abs(ref) < float(tf.as_dtype(dtype).max) / 2
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(ref) & representable & ~(
                np.abs(got - ref) <= rtol * np.abs(ref) + 1e-6 * terms + 1e-30)
        bad |= np.isnan(ref) & ~np.isnan(got)
        bad |= np.isinf(ref) & (got != ref)
        if bad.any():
            where = tuple(np.argwhere(bad)[0])
            raise Mismatch(f"fwht differs from the reference at {where}: got {got[where]!r}, "
                           f"want {ref[where]!r} (and {int(bad.sum()) - 1} more)")

    return Case(description, run, invalid, ("x", "T", "d"))


def gen_wta_buckets(rng):
    import references
    tf = _tf()
    import tf_wta
    ops = tf_wta.load_ops()
    window_size = _attr(rng, rng.choice([1, 2, 4, 8, 16, int(rng.integers(1, 300))]))
    per_table = _attr(rng, rng.choice([1, 2, 3, 4, int(rng.integers(1, 9))]))
    batch = _dim(rng)
    tables = _dim(rng, 64)
    num_hashes = tables * per_table if 0 < per_table < 100 else _dim(rng)
    if rng.random() < 0.1:
        num_hashes += 1
    codes = _ints(rng, (batch, num_hashes), 0, min(window_size, INT32_MAX) if window_size > 0
                  else 1)
    codes = _maybe_bad_rank(rng, codes)
    mode = _mode(rng)
    invalid = None
    count = window_size**per_table if window_size >= 1 and 1 <= per_table < 64 else None
    if window_size == 1 and per_table >= 1:
        count = 1
    if not _is_matrix(codes):
        invalid = "codes of rank other than 2"
    elif window_size < 1 or per_table < 1:
        invalid = "window_size or codes_per_table < 1"
    elif count is None or count > INT32_MAX:
        invalid = "window_size ** codes_per_table overflows int32"
    elif per_table > INT32_MAX:
        invalid = "codes_per_table does not fit in int32"
    elif codes.shape[1] % per_table:
        invalid = "codes_per_table does not divide M"
    elif codes.size and (codes.min() < 0 or codes.max() >= window_size):
        invalid = "a code outside [0, window_size)"
    description = (f"wta_buckets via {mode}: codes{list(codes.shape)}, window_size="
                   f"{window_size}, codes_per_table={per_table}"
                   + (f"; invalid: {invalid}" if invalid else ""))

    def run():
        out = _call(tf, mode, tf_wta.ops.wta_buckets, ops.wta_buckets, [tf.constant(codes)],
                    window_size=window_size, codes_per_table=per_table)
        if invalid:
            raise Mismatch(f"accepted invalid inputs ({invalid}), returned {_short(out)}")
        _equal_ints(out, references.wta_buckets(codes, window_size, per_table), "buckets")

    return Case(description, run, invalid, ("codes", "window_size", "codes_per_table"))


def gen_build_index(rng):
    import references
    tf = _tf()
    import tf_wta
    ops = tf_wta.load_ops()
    num_buckets = _attr(rng, rng.choice([1, 2, 7, 64, 4096, INT32_MAX, int(rng.integers(1, 50))]))
    units, tables = _dim(rng, 20000), _dim(rng, 64)
    hi = min(num_buckets, INT32_MAX) if num_buckets >= 1 else 1
    unit_buckets = _ints(rng, (units, tables), 0, min(hi, int(rng.choice([hi, 3, 50]))))
    unit_buckets = _maybe_bad_rank(rng, unit_buckets)
    mode = _mode(rng)
    invalid = None
    if not _is_matrix(unit_buckets):
        invalid = "unit_buckets of rank other than 2"
    elif not 1 <= num_buckets <= INT32_MAX:
        invalid = f"num_buckets={num_buckets}"
    elif unit_buckets.size and (unit_buckets.min() < 0 or unit_buckets.max() >= num_buckets):
        invalid = "a key outside [0, num_buckets)"
    description = (f"build_index via {mode}: unit_buckets{list(unit_buckets.shape)}, "
                   f"num_buckets={num_buckets}" + (f"; invalid: {invalid}" if invalid else ""))

    def run():
        out = _call(tf, mode, tf_wta.ops.build_index, ops.wta_build_index,
                    [tf.constant(unit_buckets)], num_buckets=num_buckets)
        if invalid:
            raise Mismatch(f"accepted invalid inputs ({invalid})")
        sorted_buckets, sorted_units = references.build_index(unit_buckets)
        _equal_ints(out[0], sorted_buckets, "sorted_buckets")
        _equal_ints(out[1], sorted_units, "sorted_units")
        _equal_ints(out[2], np.int32(num_buckets), "num_buckets")

    return Case(description, run, invalid, ("unit_buckets", "num_buckets"))


def _index_is_valid(sorted_buckets, sorted_units, num_buckets):
    """What the CPU kernel's CheckIndex accepts: units in [0, N), keys in
    [0, num_buckets) or 2**31 - 1, each table sorted by (key, unit) strictly."""
    keys = sorted_buckets.astype(np.int64)
    units = sorted_units.astype(np.int64)
    n = units.shape[1]
    if units.size and (units.min() < 0 or units.max() >= n):
        return False
    if ((keys < 0) | ((keys >= num_buckets) & (keys != INT32_MAX))).any():
        return False
    if n > 1:
        prev_k, next_k = keys[:, :-1], keys[:, 1:]
        if ((prev_k > next_k) | ((prev_k == next_k) & (units[:, :-1] >= units[:, 1:]))).any():
            return False
    return True


def _query_case(rng, pooled):
    import references
    tf = _tf()
    import tf_wta
    ops = tf_wta.load_ops()
    num_buckets = int(rng.choice([1, 2, 5, 64, 1000, INT32_MAX]))
    units, tables, batch = _dim(rng, 5000), _dim(rng, 32), _dim(rng, 256)
    spread = int(min(num_buckets, rng.choice([2, 4, 16, num_buckets])))
    unit_buckets = _ints(rng, (units, tables), 0, spread, bad_rate=0)
    query = _ints(rng, (batch, tables), 0, spread)
    sorted_buckets, sorted_units = references.build_index(unit_buckets)
    sorted_buckets, sorted_units = sorted_buckets.copy(), sorted_units.copy()
    corruption = "none"
    if sorted_units.size and rng.random() < 0.3:
        corruption = str(rng.choice(["swap", "unit", "key", "shuffle", "nobucket"]))
        t, i = rng.integers(0, tables), rng.integers(0, units)
        if corruption == "swap":
            j = rng.integers(0, units)
            sorted_units[t, [i, j]] = sorted_units[t, [j, i]]
        elif corruption == "unit":
            sorted_units[t, i] = rng.choice([-1, units, INT32_MAX, INT32_MIN, units + 5])
        elif corruption == "key":
            sorted_buckets[t, i] = rng.choice([-1, num_buckets, INT32_MIN, INT32_MAX - 1])
        elif corruption == "shuffle":
            rng.shuffle(sorted_buckets[t])
        else:  # a unit left out by the GPU build (valid)
            sorted_buckets[t, i:] = INT32_MAX
    num_buckets_value = num_buckets
    nb_kind = "ok"
    if rng.random() < 0.05:
        nb_kind = str(rng.choice(["zero", "negative", "vector", "int64"]))
        num_buckets_value = {"zero": 0, "negative": -3}.get(nb_kind, num_buckets)
    shape_kind = "ok"
    if rng.random() < 0.05:
        shape_kind = str(rng.choice(["tables", "units", "rank"]))
        if shape_kind == "tables":
            query = _ints(rng, (batch, tables + 1), 0, spread)
        elif shape_kind == "units":
            sorted_units = np.concatenate([sorted_units, sorted_units[:, :1]], 1) \
                if units else np.zeros((tables, 1), np.int32)
        else:
            query = query.reshape(-1)
    num_candidates = _attr(rng, rng.choice([0, 1, 3, 10, units, units + 7]), bad=(-1, -5))
    num_candidates = min(num_candidates, 2**40)  # numpy cannot hold shape [0, 2**62]
    if num_candidates > 100_000 and (pooled or batch):
        num_candidates = int(rng.choice([-1, 100_000]))
    cap = rng.choice([None, None, 1, 2, 3, int(rng.integers(1, 50))])
    if rng.random() < 0.05:
        cap = int(rng.choice([0, -1, -7, 2**40]))
    check_index = bool(rng.random() < 0.7)
    mode = _mode(rng)
    if cap == -1 and mode != "wrapper":
        cap = None  # the raw ops' "no cap"
    invalid = None
    lenient = False  # the check_index=False contract
    if shape_kind != "ok":
        invalid = f"shape mismatch ({shape_kind})"
    elif nb_kind in ("vector", "int64"):
        invalid = f"num_buckets {nb_kind}"
    elif num_candidates < 0:
        invalid = f"num_candidates={num_candidates}"
    elif cap is not None and cap < 1:
        invalid = f"max_bucket_size={cap}"
    elif num_buckets_value < 1:
        invalid = f"num_buckets={num_buckets_value}"
    elif query.size and (query.min() < 0 or query.max() >= num_buckets_value):
        invalid = "a query key outside [0, num_buckets)"
    elif not _index_is_valid(sorted_buckets, sorted_units, num_buckets_value):
        if check_index:
            invalid = f"corrupted index ({corruption})"
        else:
            lenient = True
    description = (f"{'query_index_pooled' if pooled else 'query_index'} via {mode}: "
                   f"query{list(query.shape)}, index [L={tables}, N={units}] "
                   f"corruption={corruption}, num_buckets={num_buckets_value} ({nb_kind}), "
                   f"num_candidates={num_candidates}, max_bucket_size={cap}, "
                   f"check_index={check_index}" + (f"; invalid: {invalid}" if invalid else ""))

    def run():
        if nb_kind == "vector":
            nb = tf.constant([num_buckets], tf.int32)
        else:
            nb = tf.constant(num_buckets_value, tf.int64 if nb_kind == "int64" else tf.int32)
        tensors = [tf.constant(query), tf.constant(sorted_buckets), tf.constant(sorted_units), nb]
        raw = ops.wta_query_index_pooled if pooled else ops.wta_query_index
        if mode == "wrapper":
            fn = tf_wta.ops.query_index_pooled if pooled else tf_wta.ops.query_index
            out = fn(tensors[0], tensors[1:], num_candidates, max_bucket_size=cap,
                     check_index=check_index)
        else:
            out = _call(tf, mode, None, raw, tensors, num_candidates=num_candidates,
                        max_bucket_size=-1 if cap is None else cap, check_index=check_index)
        if invalid:
            raise Mismatch(f"accepted invalid inputs ({invalid}), returned {_short(out)}")
        out = np.asarray(out)
        want_shape = (num_candidates,) if pooled else (query.shape[0], num_candidates)
        if out.shape != want_shape:
            raise Mismatch(f"candidates of shape {out.shape}, want {want_shape}")
        if lenient:
            n = sorted_units.shape[1]
            if out.size and (out.min() < -1 or out.max() >= n):
                raise Mismatch(f"check_index=False gave ids outside [-1, {n}): {_short(out)}")
            return
        fn = references.query_index_pooled_from_index if pooled \
            else references.query_index_from_index
        _equal_ints(out, fn(sorted_buckets, sorted_units, query, num_candidates, cap),
                    "candidates")

    return Case(description, run, invalid,
                ("query_buckets", "sorted_buckets", "sorted_units", "num_buckets", "index",
                 "num_candidates", "max_bucket_size", "tables"))


def gen_query_index(rng):
    return _query_case(rng, pooled=False)


def gen_query_index_pooled(rng):
    return _query_case(rng, pooled=True)


def _matmul_inputs(rng):
    batch, dim, units, cands = _dim(rng), _dim(rng, 512), _dim(rng, 2000), _dim(rng, 64)
    dtype = str(rng.choice(["float32", "float32", "float64", "float16", "int32"]))
    fdtype = "float32" if dtype in ("float16", "int32") else dtype
    x = _floats(rng, (batch, dim), fdtype, moderate=True)
    weights = _floats(rng, (units, dim), fdtype, moderate=True)
    bias = _floats(rng, (units,), fdtype, moderate=True)
    indices = _ints(rng, (batch, cands), -1, units)
    mismatch = "none"
    if rng.random() < 0.12:
        mismatch = str(rng.choice(["batch", "dim", "bias_len", "bias_rank", "weights_dtype",
                                   "rank"]))
        if mismatch == "batch":
            indices = _ints(rng, (batch + int(rng.integers(1, 3)), cands), -1, units)
        elif mismatch == "dim":
            weights = _floats(rng, (units, dim + 1), fdtype)
        elif mismatch == "bias_len":
            bias = _floats(rng, (units + 1,), fdtype)
        elif mismatch == "bias_rank":
            bias = bias.reshape(-1, 1)
        elif mismatch == "rank":
            x = _maybe_bad_rank(rng, x, rate=1.0)
    if dtype in ("float16", "int32"):
        x = np.nan_to_num(x).clip(-100, 100).astype(dtype)
    w_dtype = fdtype
    if mismatch == "weights_dtype":
        w_dtype = "float64" if fdtype == "float32" else "float32"
    weights = weights.astype(w_dtype)
    invalid = None
    if dtype not in ("float32", "float64"):
        invalid = f"x dtype {dtype}"
    elif w_dtype != dtype:
        invalid = "weights dtype differs from x"
    elif mismatch != "none":
        invalid = f"mismatched {mismatch}"
        if mismatch == "rank" and _is_matrix(x):
            invalid = None
    elif indices.size and (indices.min() < -1 or indices.max() >= units):
        invalid = "an index outside [-1, N)"
    return x, weights, bias, indices, dtype, mismatch, invalid


def gen_hashed_matmul(rng):
    import references
    tf = _tf()
    import tf_wta
    ops = tf_wta.load_ops()
    x, weights, bias, indices, dtype, mismatch, invalid = _matmul_inputs(rng)
    with_bias = mismatch.startswith("bias") or rng.random() < 0.7
    mode = _mode(rng)
    description = (f"hashed_matmul via {mode}: x {dtype}{list(np.shape(x))}, weights "
                   f"{weights.dtype}{list(weights.shape)}, indices{list(indices.shape)}, bias "
                   f"{list(bias.shape) if with_bias else None}"
                   + (f"; invalid: {invalid}" if invalid else ""))

    def run():
        tensors = [tf.constant(x), tf.constant(weights), tf.constant(indices)]
        if mode == "wrapper":
            out = tf_wta.ops.hashed_matmul(*tensors, bias=tf.constant(bias) if with_bias else None)
        else:
            b = bias if with_bias else np.zeros(weights.shape[:1], weights.dtype)
            out = _call(tf, mode, None, ops.wta_hashed_matmul, tensors + [tf.constant(b)])
        if invalid:
            raise Mismatch(f"accepted invalid inputs ({invalid}), returned {_short(out)}")
        b = bias if with_bias else None
        ref = references.hashed_matmul(x, weights, indices, b)
        safe = np.maximum(indices, 0)
        with np.errstate(invalid="ignore", over="ignore"):
            scale = np.einsum("bd,bcd->bc", np.abs(x.astype(np.float64)),
                              references._padded(np.abs(weights.astype(np.float64)))[safe])
            if b is not None:
                scale = scale + references._padded(np.abs(b.astype(np.float64)))[safe]
        _close(out, ref, dtype, np.where(indices >= 0, scale, 0.0), "out")

    return Case(description, run, invalid, ("x", "weights", "indices", "bias", "T"))


def gen_hashed_matmul_grad(rng):
    import references
    tf = _tf()
    import tf_wta
    ops = tf_wta.load_ops()
    x, weights, bias, indices, dtype, mismatch, invalid = _matmul_inputs(rng)
    if invalid and invalid.startswith("mismatched bias"):  # the gradient op has no bias
        invalid = None
        if indices.size and (indices.min() < -1 or indices.max() >= weights.shape[0]):
            invalid = "an index outside [-1, N)"
    fdtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float32
    grad_out = _floats(rng, indices.shape, fdtype, moderate=True)
    if rng.random() < 0.05 and invalid is None:
        grad_out = _floats(rng, (indices.shape[0], indices.shape[1] + 1), fdtype)
        invalid = "grad_out shape differs from indices"
    mode = str(rng.choice(["raw", "graph", "tape"]))
    description = (f"hashed_matmul_grad via {mode}: x {dtype}{list(np.shape(x))}, weights "
                   f"{weights.dtype}{list(weights.shape)}, indices{list(indices.shape)}, "
                   f"grad_out{list(grad_out.shape)}" + (f"; invalid: {invalid}" if invalid else ""))

    def run():
        tensors = [tf.constant(x), tf.constant(weights), tf.constant(indices),
                   tf.constant(grad_out)]
        if mode == "tape":
            xv, wv = tf.Variable(tensors[0]), tf.Variable(tensors[1])
            with tf.GradientTape() as tape:
                out = tf_wta.ops.hashed_matmul(xv, wv, tensors[2])
            grads = tape.gradient(out, [xv, wv], output_gradients=tensors[3])
            if invalid:
                raise Mismatch(f"accepted invalid inputs ({invalid})")
            g_x = grads[0]
            dense_w = tf.convert_to_tensor(grads[1]).numpy()
        else:
            g_x, units, rows, bias_rows = _call(tf, mode, None, ops.wta_hashed_matmul_grad,
                                                tensors)
            if invalid:
                raise Mismatch(f"accepted invalid inputs ({invalid})")
        ref_x, ref_units, ref_rows, ref_bias = references.hashed_matmul_grad(
            x, weights, indices, grad_out)
        valid = indices >= 0
        g = np.where(valid, np.abs(grad_out.astype(np.float64)), 0.0)
        with np.errstate(invalid="ignore", over="ignore"):
            scale_x = np.einsum("bc,bcd->bd", g,
                                references._padded(np.abs(weights.astype(np.float64)))[np.maximum(indices, 0)])
        _close(g_x, ref_x, dtype, scale_x, "grad_x")
        # Row scales: sum over the pairs of |grad_out| * |x|.
        rows_of = np.searchsorted(ref_units, indices[valid])
        scale_rows = np.zeros(ref_rows.shape)
        scale_bias = np.zeros(ref_bias.shape)
        with np.errstate(invalid="ignore", over="ignore"):
            np.add.at(scale_rows, rows_of,
                      g[valid][:, None] * np.abs(x.astype(np.float64))[np.nonzero(valid)[0]])
            np.add.at(scale_bias, rows_of, g[valid])
        if mode == "tape":
            dense_ref = np.zeros(weights.shape)
            dense_scale = np.zeros(weights.shape)
            dense_ref[ref_units] = ref_rows
            dense_scale[ref_units] = scale_rows
            _close(dense_w, dense_ref, dtype, dense_scale, "weights gradient")
            return
        _equal_ints(units, ref_units, "units")
        _close(rows, ref_rows, dtype, scale_rows, "grad_weight_rows")
        _close(bias_rows, ref_bias, dtype, scale_bias, "grad_bias_rows")

    return Case(description, run, invalid, ("x", "weights", "indices", "grad_out", "T"))


def _sparse_case(rng, adam):
    tf = _tf()
    import tf_wta
    from tf_wta import sparse_apply
    ops = tf_wta.load_ops()
    dtype = str(rng.choice(["float32", "float32", "float64", "float16"]))
    fdtype = "float32" if dtype == "float16" else dtype
    num_rows = _dim(rng, 5000)
    rest = tuple(_dim(rng, 16) for _ in range(int(rng.choice([0, 1, 1, 2]))))
    shape = (num_rows,) + rest
    if rng.random() < 0.03:
        shape = ()
    var0 = _floats(rng, shape, fdtype, moderate=True)
    m0 = _floats(rng, shape, fdtype, special_rate=0.0)
    v0 = np.abs(_floats(rng, shape, fdtype, special_rate=0.0))
    count = _dim(rng, 64)
    ids = _ints(rng, (count,), 0, max(num_rows, 1))
    duplicates = bool(rng.random() < 0.3)
    if not duplicates and count:
        ids = rng.permutation(max(num_rows, count))[:count].astype(np.int32)
        if rng.random() < 0.7:
            ids = np.sort(ids)
    rows = _floats(rng, (count,) + rest, fdtype, moderate=True)
    rows_kind = "ok"
    if rng.random() < 0.05:
        rows_kind = str(rng.choice(["count", "rest", "rank", "ids_rank"]))
        if rows_kind == "count":
            rows = _floats(rng, (count + 1,) + rest, fdtype)
        elif rows_kind == "rest":
            rows = _floats(rng, (count,) + rest + (2,), fdtype)
        elif rows_kind == "rank":
            rows = rows.reshape(-1)
            rows_kind = "ok" if not rest else "rank"
        else:
            ids = ids.reshape(-1, 1)
    scalars = [_floats(rng, (), fdtype, special_rate=0.1) for _ in range(4 if adam else 1)]
    scalar_rank = bool(rng.random() < 0.03)
    alias = adam and rng.random() < 0.05
    mode = str(rng.choice(["wrapper", "raw"]))
    if shape == () and mode == "wrapper":
        mode = "raw"
    invalid = None
    if dtype not in ("float32", "float64"):
        invalid = f"variable dtype {dtype}"
    elif len(shape) < 1:
        invalid = "a variable of rank 0"
    elif rows_kind != "ok":
        invalid = f"mismatched {rows_kind}"
    elif scalar_rank and mode == "raw":
        invalid = "a scalar input of rank 1"
    elif alias:
        invalid = "m and v the same variable"
    elif ids.size and (ids.min() < 0 or ids.max() >= num_rows):
        invalid = "a row id outside [0, N)"
    elif duplicates and mode == "raw" and len(np.unique(ids)) < len(ids):
        invalid = "a repeated row id"
    description = (f"{'sparse_apply_adam' if adam else 'sparse_apply_sgd'} via {mode}: var "
                   f"{dtype}{list(shape)}, rows{list(rows.shape)}, row_ids{list(ids.shape)} "
                   f"(duplicates={duplicates}), scalars={[float(s) for s in scalars]}"
                   + (f"; invalid: {invalid}" if invalid else ""))

    def run():
        var = tf.Variable(var0.astype(dtype))
        m = tf.Variable(m0.astype(dtype))
        v = m if alias else tf.Variable(v0.astype(dtype))
        rows_t, ids_t = tf.constant(rows.astype(dtype)), tf.constant(ids)
        scalar_ts = [tf.constant(np.reshape(s, (1,)) if scalar_rank else s) for s in scalars]
        scalar_ts = [tf.cast(s, dtype) for s in scalar_ts]
        before = [var.numpy().copy(), m.numpy().copy(), v.numpy().copy()]
        try:
            if mode == "wrapper":
                grad = tf.IndexedSlices(rows_t, ids_t, tf.constant(shape, tf.int64))
                if adam:
                    sparse_apply.sparse_apply_adam(var, m, v, *[s if not scalar_rank else
                                                                tf.reshape(s, []) for s in
                                                                scalar_ts], grad)
                else:
                    sparse_apply.sparse_apply_sgd(var, tf.reshape(scalar_ts[0], []), grad)
            elif adam:
                ops.wta_sparse_apply_adam(var.handle, m.handle, v.handle, *scalar_ts, rows_t,
                                          ids_t)
            else:
                ops.wta_sparse_apply_sgd(var.handle, scalar_ts[0], rows_t, ids_t)
        except Exception:
            after = [var.numpy(), m.numpy(), v.numpy()]
            for name, a, b in zip(("var", "m", "v"), before, after):
                if not np.array_equal(a, b, equal_nan=True):
                    raise Mismatch(f"a failed update changed {name}")
            raise
        if invalid:
            raise Mismatch(f"accepted invalid inputs ({invalid})")
        np_dtype = np.dtype(dtype)
        ref_var, ref_m, ref_v = (a.astype(np_dtype) for a in before)
        # Repeated ids are summed first (the wrapper's aggregate_rows).
        uniq, inverse = np.unique(ids, return_inverse=True)
        summed = np.zeros((len(uniq),) + rest, np_dtype)
        np.add.at(summed, inverse.reshape(-1), rows.astype(np_dtype))
        s = [np_dtype.type(x) for x in scalars]
        # Adam with extreme or ill-conditioned scalars (overflowing products,
        # sqrt(v) + epsilon near 0) depends on the order of evaluation: check
        # only that the rows outside row_ids are untouched.
        untouched = np.setdiff1d(np.arange(num_rows), uniq)
        if adam and not (all(np.isfinite(x) and abs(x) < 1e3 for x in s)
                         and 0 <= s[1] <= 1 and 0 <= s[2] <= 1 and s[3] > 1e-3):
            for name, got, want in (("var", var, ref_var), ("m", m, ref_m), ("v", v, ref_v)):
                if not np.array_equal(got.numpy()[untouched], want[untouched], equal_nan=True):
                    raise Mismatch(f"{name} changed outside row_ids")
            return
        with np.errstate(all="ignore"):
            if adam:
                alpha, b1, b2, eps = s
                for r, g in zip(uniq, summed):
                    ref_m[r] = b1 * ref_m[r] + (1 - b1) * g
                    ref_v[r] = b2 * ref_v[r] + (1 - b2) * g * g
                    ref_var[r] = ref_var[r] - alpha * ref_m[r] / (np.sqrt(ref_v[r]) + eps)
            else:
                for r, g in zip(uniq, summed):
                    ref_var[r] = ref_var[r] - s[0] * g
        for name, got, want in (("var", var, ref_var), ("m", m, ref_m), ("v", v, ref_v)):
            _close_loose(got.numpy(), want, name)

    return Case(description, run, invalid,
                ("var", "variable", "m", "v", "rows", "row_ids", "learning_rate", "alpha",
                 "beta_1", "beta_2", "epsilon", "gradient", "T"))


def _close_loose(got, want, what):
    """Elementwise updates: relative 1e-4 (fused multiply-adds, summation order
    of repeated rows), NaN where NaN, equal infinities."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.isclose(got, want, rtol=1e-4, atol=1e-6, equal_nan=True)
    # Overflow or cancellation next to the dtype's limits may round to +-inf
    # or NaN either way.
    ok |= ~np.isfinite(got) & (np.abs(np.nan_to_num(want)) > 1e30)
    ok |= ~np.isfinite(want) & (np.abs(np.nan_to_num(got)) > 1e30)
    if not ok.all():
        where = tuple(np.argwhere(~ok)[0])
        raise Mismatch(f"{what} differs from the reference at {where}: got {got[where]!r}, "
                       f"want {want[where]!r}")


def gen_sparse_apply_sgd(rng):
    return _sparse_case(rng, adam=False)


def gen_sparse_apply_adam(rng):
    return _sparse_case(rng, adam=True)


GENERATORS = {op: globals()[f"gen_{op}"] for op in OPS}


# --------------------------------------------------------------- running cases


def run_case(op, seed, case_id):
    """Regenerates and runs one case in this process: an Outcome."""
    tf = _tf()
    if case_id == CRASH_CASE_ID:
        os.abort()
    while case_id == HANG_CASE_ID:
        pass
    rng = _rng(op, seed, case_id)
    try:
        case = GENERATORS[op](rng)
    except Exception:
        return Outcome(op, seed, case_id, FAILURE, "(generator)", traceback.format_exc())
    try:
        case.run()
    except Mismatch as error:
        return Outcome(op, seed, case_id, FAILURE, case.description, f"wrong result: {error}")
    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
        message = getattr(error, "message", None) or str(error)
        if case.invalid is None:
            return Outcome(op, seed, case_id, FAILURE, case.description,
                           f"valid inputs raised {type(error).__name__}: {message[:2000]}")
        if not _names_input(message, case.names):
            return Outcome(op, seed, case_id, FAILURE, case.description,
                           f"{type(error).__name__} names no input: {message[:2000]}")
        return Outcome(op, seed, case_id, CLEAN_ERROR, case.description,
                       f"{type(error).__name__}: {message.splitlines()[0][:300]}")
    except Exception as error:  # noqa: any other error type breaks the contract
        return Outcome(op, seed, case_id, FAILURE, case.description,
                       f"unexpected {type(error).__name__}: {str(error)[:2000]}")
    return Outcome(op, seed, case_id, PASS, case.description)


READY = "ready"  # a worker's first message, once TensorFlow and the ops are loaded


def _worker_main(connection):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    import tf_wta
    tf_wta.load_ops()
    _tf().get_logger().setLevel("ERROR")  # retracing warnings: every graph case traces
    connection.send(READY)
    while True:
        job = connection.recv()
        if job is None:
            return
        connection.send(dataclasses.asdict(run_case(*job)))


def _cpu_seconds(pid):
    """CPU time (user + system, all threads) a live process has used, from
    /proc; None where /proc is not available."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Worker:
    def __init__(self, context):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.job = None
        self.started = time.monotonic()  # of the process, then of each job
        self.cpu_at_start = 0.0

    def submit(self, job):
        self.job, self.started = job, time.monotonic()
        self.cpu_at_start = _cpu_seconds(self.process.pid) or 0.0
        self.connection.send(job)

    def case_time(self):
        """(wall seconds, CPU seconds or None) the current job has taken."""
        cpu = _cpu_seconds(self.process.pid)
        return (time.monotonic() - self.started,
                None if cpu is None else cpu - self.cpu_at_start)

    def stop(self):
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


class Runner:
    """Runs cases in `workers` child processes that outlive many cases; a
    child that crashes on a case, or hangs on it, is killed, reported, and
    replaced.

    A hang is a case that used `timeout` seconds of CPU time (a busy loop),
    or ran `idle_factor * timeout` seconds of wall time (a deadlock): on a
    loaded machine (the long fuzz runs under `nice`), wall time alone would
    report starved cases as hangs. A child gets `startup` seconds to import
    TensorFlow before its first case; one that cannot is an error of the
    environment (RuntimeError), not of a case."""

    def __init__(self, workers=1, timeout=60.0, startup=900.0, idle_factor=10.0):
        self.context = multiprocessing.get_context("spawn")
        self.size, self.timeout, self.startup = workers, timeout, startup
        self.idle_factor = idle_factor
        self.workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for worker in self.workers:
            try:
                worker.connection.send(None)
            except (BrokenPipeError, OSError):
                pass
            worker.process.join(5)
            worker.stop()
        self.workers = []

    def run(self, jobs, on_outcome=None, deadline=None):
        """Runs (op, seed, case_id) jobs; returns their Outcomes in order of
        completion. With `deadline` (a time.monotonic() value), jobs not
        started by then are left out: the outcomes are of the jobs run."""
        jobs = list(jobs)[::-1]
        outcomes = []

        def finish(outcome):
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)

        while jobs or any(w.job for w in self.workers):
            if deadline is not None and time.monotonic() > deadline:
                jobs.clear()
            while len(self.workers) < self.size and (jobs or not self.workers):
                self.workers.append(_Worker(self.context))
            for worker in self.workers:
                if worker.ready and worker.job is None and jobs:
                    worker.submit(jobs.pop())
            waiting = [w for w in self.workers if w.job or not w.ready]
            ready = multiprocessing.connection.wait(
                [w.connection for w in waiting] + [w.process.sentinel for w in waiting], 0.5)
            for worker in waiting:
                if not worker.ready:
                    self._start(worker, ready)
                    continue
                op, seed, case_id = worker.job
                if worker.connection in ready:
                    try:
                        finish(Outcome(**worker.connection.recv()))
                        worker.job = None
                        continue
                    except (EOFError, OSError):
                        pass
                if worker.connection in ready or worker.process.sentinel in ready \
                        or not worker.process.is_alive():
                    worker.process.join(5)
                    code = worker.process.exitcode
                    reason = f"crash: the worker died (exit code {code}"
                    if code is not None and code < 0:
                        reason += f", signal {-code}"
                    finish(Outcome(op, seed, case_id, FAILURE, _describe(op, seed, case_id),
                                   reason + ")"))
                else:
                    hang = self._hang(worker)
                    if not hang:
                        continue
                    finish(Outcome(op, seed, case_id, FAILURE, _describe(op, seed, case_id),
                                   hang))
                worker.stop()
                self.workers.remove(worker)
        return outcomes

    def _start(self, worker, ready):
        """Marks a starting worker ready once it says so; raises if it died
        or took longer than `startup` seconds."""
        if worker.connection in ready:
            try:
                message = worker.connection.recv()
            except (EOFError, OSError):
                message = None
            if message == READY:
                worker.ready = True
                return
        if not worker.process.is_alive() or worker.connection in ready:
            raise RuntimeError(f"a fuzz worker died while importing tf_wta (exit code "
                               f"{worker.process.exitcode}); run `python -c 'import tf_wta; "
                               f"tf_wta.load_ops()'` to see why")
        if time.monotonic() - worker.started > self.startup:
            raise RuntimeError(f"a fuzz worker did not import tf_wta in {self.startup:.0f} s")

    def _hang(self, worker):
        """The reason the worker's current case counts as a hang, or None."""
        wall, cpu = worker.case_time()
        if cpu is not None and cpu > self.timeout:
            return f"hang: {cpu:.0f} s of CPU time without a result ({wall:.0f} s wall)"
        if wall > self.timeout * self.idle_factor:
            return f"hang: no result in {wall:.0f} s"
        if cpu is None and wall > self.timeout:
            return f"hang: no result in {wall:.0f} s"
        return None


def _describe(op, seed, case_id):
    """The description of a case, regenerated here (cheap: no op runs)."""
    if case_id == CRASH_CASE_ID:
        return "(the runner's self-test: abort)"
    if case_id == HANG_CASE_ID:
        return "(the runner's self-test: spin)"
    try:
        return GENERATORS[op](_rng(op, seed, case_id)).description
    except Exception as error:  # noqa
        return f"(description unavailable: {error})"


import multiprocessing.connection  # noqa: E402  (wait)
