"""tf_wta: Winner-Take-All hashing ops and Keras layers for very large layers."""
import os as _os


def _require_tensorflow_backend(backend):
    if backend != "tensorflow":
        raise ImportError(
            f"tf_wta's layers run TensorFlow custom ops, so they need Keras' TensorFlow "
            f"backend, but Keras is set to {backend!r}: set KERAS_BACKEND=tensorflow (or "
            f"\"backend\" in ~/.keras/keras.json) before importing keras.")


# Checked before importing keras, whose other backends may not even import.
_require_tensorflow_backend(_os.environ.get("KERAS_BACKEND", "tensorflow"))
import keras as _keras  # noqa: E402

_require_tensorflow_backend(_keras.backend.backend())

from tf_wta._ops import build_info, load_ops
from tf_wta.candidate_quality import CandidateQuality, candidate_quality
from tf_wta.candidates import candidates_with_labels
from tf_wta.distributed import distributed_fit, is_chief
from tf_wta.kernel_rescaling import resample_kernel, rescale_kernels
from tf_wta.kernel_rescaling_schedule import RescaledTraining, fit_with_kernel_rescaling
from tf_wta.layers import FastfoodDense, HashIndex, ShardedWTADense, WTADense
from tf_wta.losses import MultiLabelSoftmaxCrossentropy, SampledBinaryCrossentropy
from tf_wta.metrics import (NDCGAtK, PrecisionAtK, ranking_evaluation, ranking_scores,
                            ranking_scores_of_ids)
from tf_wta.models import WTAModel, WTASequential
from tf_wta.ops import (Index, build_index, densified_wta_hash, fwht, hashed_matmul, num_buckets,
                        query_index, query_index_pooled, simhash, simhash_projections,
                        wta_buckets, wta_hash, wta_windows)
from tf_wta.optimizers import LazyAdam, SparseAdagrad, SparseSGD
from tf_wta.parameter_servers import parameter_server_fit
from tf_wta import xml_repository
from tf_wta.serving import export_top_k
from tf_wta.sparse_apply import sparse_apply_adam, sparse_apply_sgd
from tf_wta.xml_repository import xml_repository_dataset

__all__ = [
    "CandidateQuality", "FastfoodDense", "HashIndex", "Index", "LazyAdam",
    "MultiLabelSoftmaxCrossentropy", "NDCGAtK", "PrecisionAtK", "RescaledTraining",
    "SampledBinaryCrossentropy", "ShardedWTADense", "SparseAdagrad", "SparseSGD", "WTADense",
    "WTAModel", "WTASequential",
    "build_index", "build_info", "candidate_quality", "candidates_with_labels",
    "densified_wta_hash", "distributed_fit", "export_top_k", "fit_with_kernel_rescaling", "fwht",
    "hashed_matmul", "is_chief", "load_ops", "num_buckets", "parameter_server_fit",
    "query_index", "query_index_pooled",
    "ranking_evaluation", "ranking_scores", "ranking_scores_of_ids", "resample_kernel",
    "rescale_kernels", "simhash", "simhash_projections", "sparse_apply_adam",
    "sparse_apply_sgd", "wta_buckets", "wta_hash", "wta_windows", "xml_repository",
    "xml_repository_dataset",
]
__version__ = "0.1.0"
