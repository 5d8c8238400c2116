"""Plain numpy references for the tf_wta ops (slow, obviously correct)."""
import numpy as np


def wta_hash(x, windows):
    """codes[b, m] = argmax_k x[b, windows[m, k]]; ties to the smallest k;
    NaN below every number (an all-NaN window gives 0); -0.0 == +0.0."""
    x = np.asarray(x, dtype=np.float64)
    gathered = x[:, windows]  # [B, M, K]
    valid = ~np.isnan(gathered)
    filled = np.where(valid, gathered, -np.inf)
    best = filled.max(axis=-1, keepdims=True)
    winners = valid & (filled == best)
    codes = np.argmax(winners, axis=-1)  # first True; 0 when none is valid
    return codes.astype(np.int32)


def wta_buckets(codes, window_size, codes_per_table):
    """buckets[b, t] = sum_j codes[b, t * m + j] * window_size ** j."""
    codes = np.asarray(codes, dtype=np.int64)
    batch, num_hashes = codes.shape
    if not num_hashes:  # codes_per_table may then be huge: no powers array of that length
        return np.zeros((batch, 0), np.int32)
    grouped = codes.reshape(batch, num_hashes // codes_per_table, codes_per_table)
    powers = window_size ** np.arange(codes_per_table, dtype=np.int64)
    return (grouped * powers).sum(axis=-1).astype(np.int32)


def _padded(weights):
    """weights with a zero row appended, so that index -1 -> row 0 (masked
    later) is valid even when there are no units."""
    return np.concatenate([weights, np.zeros((1,) + weights.shape[1:])]) if not len(weights) \
        else weights


def hashed_matmul(x, weights, indices, bias=None):
    """out[b, c] = x[b] . weights[i] + bias[i] with i = indices[b, c]; 0 where i == -1."""
    x = np.asarray(x, dtype=np.float64)
    weights = _padded(np.asarray(weights, dtype=np.float64))
    indices = np.asarray(indices)
    safe = np.maximum(indices, 0)
    out = np.einsum("bd,bcd->bc", x, weights[safe])
    if bias is not None:
        out += _padded(np.asarray(bias, dtype=np.float64))[safe]
    return np.where(indices >= 0, out, 0.0)


def hashed_matmul_grad(x, weights, indices, grad_out):
    """Gradients of sum(hashed_matmul(x, weights, indices, bias) * grad_out):
    (grad_x [B, D], units [U], grad_weight_rows [U, D], grad_bias_rows [U]),
    the weight and bias gradients as rows of the distinct selected units in
    ascending order (no -1)."""
    x = np.asarray(x, dtype=np.float64)
    weights = _padded(np.asarray(weights, dtype=np.float64))
    indices = np.asarray(indices)
    grad_out = np.where(indices >= 0, np.asarray(grad_out, dtype=np.float64), 0.0)
    grad_x = np.einsum("bc,bcd->bd", grad_out, weights[np.maximum(indices, 0)])
    units = np.unique(indices[indices >= 0]).astype(np.int32)
    rows, cols = np.nonzero(indices >= 0)
    groups = np.searchsorted(units, indices[rows, cols])
    grad_weight_rows = np.zeros((len(units), x.shape[1]))
    grad_bias_rows = np.zeros(len(units))
    np.add.at(grad_weight_rows, groups, grad_out[rows, cols, None] * x[rows])
    np.add.at(grad_bias_rows, groups, grad_out[rows, cols])
    return grad_x, units, grad_weight_rows, grad_bias_rows


def build_index(unit_buckets):
    """(sorted_buckets, sorted_units), both [L, N]: each table's keys in
    ascending order, units ascending within a bucket."""
    keys = np.asarray(unit_buckets, dtype=np.int32).T
    units = np.argsort(keys, axis=1, kind="stable").astype(np.int32)
    return np.take_along_axis(keys, units, axis=1), units


def query_index(unit_buckets, query_buckets, num_candidates, max_bucket_size=None):
    """Brute force: count each unit's collisions with each query over the
    tables, order by (count desc, id asc), cut to C, pad with -1. With a cap,
    a unit is in its bucket only if fewer than max_bucket_size smaller ids are."""
    unit_buckets = np.asarray(unit_buckets, dtype=np.int64)
    member = _bucket_members(unit_buckets, max_bucket_size)
    out = np.full((len(query_buckets), num_candidates), -1, np.int32)
    for b, query in enumerate(np.asarray(query_buckets, dtype=np.int64)):
        out[b] = _best_by_count(((unit_buckets == query[None, :]) & member).sum(axis=1),
                                num_candidates)
    return out


def query_index_pooled(unit_buckets, query_buckets, num_candidates, max_bucket_size=None):
    """Brute force: each unit's collisions summed over every query row and
    table, ordered by (count desc, id asc), cut to C, padded with -1."""
    unit_buckets = np.asarray(unit_buckets, dtype=np.int64)
    member = _bucket_members(unit_buckets, max_bucket_size)
    counts = np.zeros(unit_buckets.shape[0], np.int64)
    for query in np.asarray(query_buckets, dtype=np.int64):
        counts += ((unit_buckets == query[None, :]) & member).sum(axis=1)
    return _best_by_count(counts, num_candidates)


def _bucket_members(unit_buckets, max_bucket_size):
    """bool [N, L]: whether unit n is among the first max_bucket_size ids of
    its bucket in table t (all True without a cap)."""
    num_units, num_tables = unit_buckets.shape
    member = np.ones((num_units, num_tables), bool)
    if max_bucket_size is not None:
        for t in range(num_tables):
            order = np.argsort(unit_buckets[:, t], kind="stable")
            keys = unit_buckets[order, t]
            group_start = np.searchsorted(keys, keys, side="left")
            member[order, t] = np.arange(num_units) - group_start < max_bucket_size
    return member


def _best_by_count(counts, num_candidates):
    """int32 [C]: the ids with nonzero counts by (count desc, id asc), -1 padded."""
    out = np.full(num_candidates, -1, np.int32)
    ids = np.nonzero(counts)[0]
    best = ids[np.lexsort((ids, -counts[ids]))][:num_candidates]
    out[:len(best)] = best
    return out


def _fmix32(h):
    """murmur3's 32-bit finaliser on a Python int, or elementwise on a uint64
    array, of values in [0, 2**32)."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


def densified_probe(m, t, num_hashes):
    """Window probed by empty window m at attempt t: fmix32(m * 0x9e3779b9 + t) mod M
    (uint32 arithmetic). m: an int or an integer array."""
    if isinstance(m, np.ndarray):
        h = (m.astype(np.uint64) * np.uint64(0x9E3779B9) + np.uint64(t)) & np.uint64(0xFFFFFFFF)
        return (_fmix32(h) % np.uint64(num_hashes)).astype(np.int64)
    return _fmix32((m * 0x9E3779B9 + t) & 0xFFFFFFFF) % num_hashes


def densified_wta_hash(x, windows, max_probes=100):
    """DWTA codes: argmax over the non-zero, non-NaN entries of a window (ties
    to the smallest k); an empty window (only zeros and NaN) takes the code of
    the first non-empty window probed by densified_probe(m, t), t = 1..max_probes,
    else 0."""
    x = np.asarray(x, dtype=np.float64)
    windows = np.asarray(windows)
    gathered = x[:, windows]  # [B, M, K]
    valid = ~np.isnan(gathered) & (gathered != 0)
    filled = np.where(valid, gathered, -np.inf)
    best = filled.max(axis=-1, keepdims=True)
    winners = valid & (filled == best)
    raw = np.where(valid.any(axis=-1), np.argmax(winners, axis=-1), -1)  # [B, M]
    codes = np.maximum(raw, 0).astype(np.int32)
    # Still looking; a row without a non-empty window keeps 0 (every probe fails).
    empty = (raw < 0) & (raw >= 0).any(axis=1, keepdims=True)
    windows_m = np.arange(raw.shape[1])
    for t in range(1, max_probes + 1):
        if not empty.any():
            break
        borrowed = raw[:, densified_probe(windows_m, t, raw.shape[1])]  # [B, M]
        found = empty & (borrowed >= 0)
        codes[found] = borrowed[found]
        empty &= ~found
    return codes


def simhash(x, windows, signs):
    """int32 [B, M]: 1 where sum_k signs[m, k] * x[b, windows[m, k]] > 0,
    summed in float32 in k order, NaN and denormals counting as 0."""
    values = np.nan_to_num(x.astype(np.float32), nan=0.0, posinf=np.inf, neginf=-np.inf)
    values[np.abs(values) < np.finfo(np.float32).tiny] = 0.0  # denormals count as 0
    gathered = values[:, windows] * signs[None]  # [B, M, K]
    total = np.zeros(gathered.shape[:2], np.float32)
    for k in range(windows.shape[1]):
        total = total + gathered[:, :, k]
    return (total > 0).astype(np.int32)


def _index_counts(sorted_buckets, sorted_units, query, max_bucket_size):
    """int64 [N] collision counts of one query row read straight off an index
    (any index that passes the kernel's checks, not only build_index's): in
    table t, the first max_bucket_size entries whose key is query[t]."""
    counts = np.zeros(np.shape(sorted_units)[1], np.int64)
    for t, key in enumerate(np.asarray(query, dtype=np.int64)):
        members = np.asarray(sorted_units[t])[np.asarray(sorted_buckets[t]) == key]
        if max_bucket_size is not None:
            members = members[:max_bucket_size]
        np.add.at(counts, members, 1)
    return counts


def query_index_from_index(sorted_buckets, sorted_units, query_buckets, num_candidates,
                           max_bucket_size=None):
    """query_index computed from the index itself (sorted_buckets,
    sorted_units [L, N]) rather than from the unit buckets."""
    out = np.full((len(query_buckets), num_candidates), -1, np.int32)
    for b, query in enumerate(query_buckets):
        out[b] = _best_by_count(
            _index_counts(sorted_buckets, sorted_units, query, max_bucket_size), num_candidates)
    return out


def query_index_pooled_from_index(sorted_buckets, sorted_units, query_buckets, num_candidates,
                                  max_bucket_size=None):
    """query_index_pooled computed from the index itself."""
    counts = np.zeros(np.shape(sorted_units)[1], np.int64)
    for query in query_buckets:
        counts += _index_counts(sorted_buckets, sorted_units, query, max_bucket_size)
    return _best_by_count(counts, num_candidates)
