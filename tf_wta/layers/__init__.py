"""Keras 3 layers built on the tf_wta ops."""
from tf_wta.layers.fastfood_dense import FastfoodDense
from tf_wta.layers.hash_index import HashIndex
from tf_wta.layers.sharded_wta_dense import ShardedWTADense
from tf_wta.layers.wta_dense import WTADense

__all__ = ["FastfoodDense", "HashIndex", "ShardedWTADense", "WTADense"]
