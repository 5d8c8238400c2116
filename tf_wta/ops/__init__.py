"""The public op API: Winner-Take-All hashing, the bucket index and the hashed matmul.

Data flows x -> wta_hash (or densified_wta_hash) -> wta_buckets -> query_index
-> hashed_matmul, and the units' weights through the same hash into
build_index. Every function checks what it can see before building the op (a
ValueError naming the argument); the kernels check the rest at run time
(InvalidArgumentError). Each op's gradient is registered in its module.
"""
from tf_wta.ops.fwht import fwht
from tf_wta.ops.hashing import (densified_wta_hash, num_buckets, simhash, simhash_projections,
                                wta_buckets, wta_hash, wta_windows)
from tf_wta.ops.index import Index, build_index, query_index, query_index_pooled
from tf_wta.ops.matmul import hashed_matmul

__all__ = ["Index", "build_index", "densified_wta_hash", "fwht", "hashed_matmul", "num_buckets",
           "query_index", "query_index_pooled", "simhash", "simhash_projections",
           "wta_buckets", "wta_hash", "wta_windows"]
