"""Default hash settings for a layer of a given size."""
import math

from tf_wta._arguments import positive_int

CANDIDATE_MODES = ("shared", "per_example")

# Units per bucket that the default codes_per_table aims at: large enough that
# a query meets many units, small enough that counting collisions stays cheap.
TARGET_BUCKET_SIZE = 16
_INT32_MAX = 2**31 - 1

# Hash settings WTADense takes when they are left unset, by mode. mode="hidden":
# measured on benchmarks/bench_sparse_hidden.py (docs/benchmarks.md), one
# layer of 1,000 units at 5% active on Fashion-MNIST and Convex pixels:
# SimHash over 100 tables beat WTA; pooling 4 pixels helped on Fashion-MNIST
# and hurt on Convex, pooling 2 helped on one and cost nothing on the other.
# pool_size None is resolved by `default_pool_size`.
MODE_DEFAULTS = {
    "output": {"hash_type": "wta", "num_tables": 50, "pool_size": 1},
    "hidden": {"hash_type": "simhash", "num_tables": 100, "pool_size": None},
}
# The pool size that `default_pool_size` aims at.
HIDDEN_POOL_SIZE = 2


def default_codes_per_table(units, window_size):
    """codes_per_table m with units / window_size**m close to TARGET_BUCKET_SIZE.

    Args:
      units: int, the number of units N of the layer.
      window_size: int K >= 2.
    Returns:
      int m >= 1 with window_size**m within int32.
    """
    ratio = max(units / TARGET_BUCKET_SIZE, 1.0)
    codes = max(1, round(math.log(ratio) / math.log(window_size)))
    while window_size**codes > _INT32_MAX:
        codes -= 1
    return codes


def default_num_candidates(units, shared=False):
    """Hashed candidates C per example: 128 scored per example, at most the
    units; 0 for the shared mode, whose training measured fastest without
    hashed classes on CPU (docs/benchmarks.md, extreme classification)."""
    return 0 if shared else min(units, 128)


def default_num_uniform(units):
    """Uniformly drawn classes per step of the shared mode: 2,048, or the
    number of units of a smaller layer."""
    return min(units, 2048)


def default_pool_size(dim, window_size):
    """The pool size of an index whose pool_size was left to it (None):
    HIDDEN_POOL_SIZE, or less where the pooled vectors would have fewer than
    window_size entries.

    Args:
      dim: int D, the features of the hashed vectors; window_size: int K.
    Returns:
      int p >= 1 with ceil(D / p) >= K (p = 1 when D < K: then the index's
      own window check explains the problem).
    """
    for pool_size in range(HIDDEN_POOL_SIZE, 1, -1):
        if -(-dim // pool_size) >= window_size:
            return pool_size
    return 1


def candidate_settings(units, mode, candidates, num_candidates, num_uniform):
    """WTADense's candidate arguments, checked, with their defaults filled in.

    Args:
      units: int N; mode: "output" or "hidden"; candidates: "shared",
        "per_example" or None; num_candidates, num_uniform: int or None.
    Returns:
      (candidates, num_candidates, num_uniform): str, int, int.
    Raises:
      ValueError naming the argument that is out of range.
    """
    if candidates is None:
        candidates = "shared" if mode == "output" else "per_example"
    if candidates not in CANDIDATE_MODES or (mode == "hidden" and candidates == "shared"):
        raise ValueError(f"candidates must be one of {CANDIDATE_MODES} (only 'per_example' "
                         f"for mode='hidden'), got {candidates!r}")
    shared = candidates == "shared"
    if num_candidates is None:
        num_candidates = default_num_candidates(units, shared)
    # The shared set works without hashed classes (labels + uniform draws).
    num_candidates = positive_int(num_candidates, "num_candidates", minimum=0 if shared else 1)
    if num_candidates > units:
        raise ValueError(f"num_candidates={num_candidates} must be <= units={units}; lower "
                         f"num_candidates")
    if num_uniform is None:
        num_uniform = default_num_uniform(units) if shared else 0
    return candidates, num_candidates, positive_int(num_uniform, "num_uniform", minimum=0)
