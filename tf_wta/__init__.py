"""tf_wta: Winner-Take-All hashing ops and Keras layers for very large layers."""
from tf_wta._ops import load_ops
from tf_wta.ops import hashed_matmul, num_buckets, wta_buckets, wta_hash, wta_windows

load_ops()

__all__ = ["hashed_matmul", "load_ops", "num_buckets", "wta_buckets", "wta_hash", "wta_windows"]
__version__ = "0.1.0"
