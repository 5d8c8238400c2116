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
