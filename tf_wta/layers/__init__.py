"""Keras 3 layers built on the tf_wta ops."""
from tf_wta.layers.hash_index import HashIndex
from tf_wta.layers.wta_dense import WTADense

__all__ = ["HashIndex", "WTADense"]
