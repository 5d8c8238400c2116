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
    grouped = codes.reshape(batch, num_hashes // codes_per_table, codes_per_table)
    powers = window_size ** np.arange(codes_per_table, dtype=np.int64)
    return (grouped * powers).sum(axis=-1).astype(np.int32)


def hashed_matmul(x, weights, indices, bias=None):
    """out[b, c] = x[b] . weights[i] + bias[i] with i = indices[b, c]; 0 where i == -1."""
    x = np.asarray(x, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    indices = np.asarray(indices)
    safe = np.maximum(indices, 0)
    out = np.einsum("bd,bcd->bc", x, weights[safe])
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)[safe]
    return np.where(indices >= 0, out, 0.0)


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
    query_buckets = np.asarray(query_buckets, dtype=np.int64)
    num_units, num_tables = unit_buckets.shape
    member = np.ones((num_units, num_tables), bool)
    if max_bucket_size is not None:
        for t in range(num_tables):
            order = np.argsort(unit_buckets[:, t], kind="stable")
            keys = unit_buckets[order, t]
            group_start = np.searchsorted(keys, keys, side="left")
            member[order, t] = np.arange(num_units) - group_start < max_bucket_size
    out = np.full((len(query_buckets), num_candidates), -1, np.int32)
    for b, query in enumerate(query_buckets):
        counts = ((unit_buckets == query[None, :]) & member).sum(axis=1)
        ids = np.nonzero(counts)[0]
        best = ids[np.lexsort((ids, -counts[ids]))][:num_candidates]
        out[b, :len(best)] = best
    return out
