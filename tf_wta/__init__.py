"""tf_wta: Winner-Take-All hashing ops and Keras layers for very large layers."""
from tf_wta._ops import load_ops
from tf_wta.ops import (Index, build_index, num_buckets, query_index, wta_buckets, wta_hash,
                        wta_windows)

load_ops()

__all__ = ["Index", "build_index", "load_ops", "num_buckets", "query_index", "wta_buckets",
           "wta_hash", "wta_windows"]
__version__ = "0.1.0"
