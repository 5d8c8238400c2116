"""Default hash settings for a layer of a given size."""
import math

# Units per bucket that the default codes_per_table aims at: large enough that
# a query meets many units, small enough that counting collisions stays cheap.
TARGET_BUCKET_SIZE = 16
_INT32_MAX = 2**31 - 1


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
