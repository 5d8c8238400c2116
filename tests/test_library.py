"""The op library: lazy loading, build info, version check, kernels, and no
runtime at import."""
import pytest
import tensorflow as tf
from tensorflow.python.framework import kernels

import tf_wta
from model_helpers import run_python
from tf_wta import _ops


def registered_devices(op_name):
    return {k.device_type for k in kernels.get_registered_kernels_for_op(op_name).kernel}


@pytest.mark.parametrize("op_name", ["WtaHash", "WtaDensifiedHash", "WtaBuckets",
                                     "WtaHashedMatmul", "WtaHashedMatmulGrad", "WtaBuildIndex",
                                     "WtaQueryIndex", "WtaQueryIndexPooled",
                                     "WtaSparseApplySgd", "WtaSparseApplyAdam"])
def test_kernels_registered_for_built_devices(op_name):
    tf_wta.load_ops()
    devices = registered_devices(op_name)
    assert "CPU" in devices
    assert ("GPU" in devices) == tf_wta.build_info()["cuda"]


def test_build_info_names_the_running_tensorflow():
    info = tf_wta.build_info()
    assert info["tensorflow"] == tf.__version__
    assert info["graph_def"] == tf.version.GRAPH_DEF_VERSION


def test_load_ops_is_idempotent():
    assert tf_wta.load_ops() is tf_wta.load_ops()


def test_version_mismatch_says_what_to_do():
    built = {"tensorflow": "2.19.0", "graph_def": 2000, "cuda": False}
    with pytest.raises(ImportError, match=r"built against TensorFlow 2\.19\.0.*tensorflow==2\.19\.\*"):
        _ops.check_tensorflow_version(built, running="2.21.0", running_graph_def=2474)
    _ops.check_tensorflow_version(built, running="2.19.3", running_graph_def=2001)
    # A Bazel build records no release: its headers' GraphDef version decides.
    bazel = {"tensorflow": "unknown", "graph_def": 2474, "cuda": False}
    _ops.check_tensorflow_version(bazel, running="2.21.0", running_graph_def=2474)
    with pytest.raises(ImportError, match="headers of GraphDef version 2474.*rebuild"):
        _ops.check_tensorflow_version(bazel, running="2.22.0", running_graph_def=2600)


def test_import_loads_nothing_and_starts_no_runtime(tmp_path):
    # Both config calls raise RuntimeError once the TensorFlow runtime is
    # initialised; the library loads on the first op.
    code = ("import tensorflow as tf, tf_wta\n"
            "from tf_wta import _ops\n"
            "assert _ops._library is None\n"
            "tf.config.set_visible_devices([], 'GPU')\n"
            "tf.config.threading.set_intra_op_parallelism_threads(1)\n"
            "print(tf_wta.wta_hash(tf.ones([1, 4]), tf_wta.wta_windows(4, 2, 2, seed=0)).shape)\n"
            "assert _ops._library is not None\n")
    assert "(1, 2)" in run_python(code, cwd=tmp_path)


def test_missing_library_is_an_import_error_at_first_use(tmp_path, monkeypatch):
    monkeypatch.setattr(_ops, "_library", None)
    monkeypatch.setattr(_ops, "library_path", lambda: str(tmp_path / "missing.so"))
    with pytest.raises(ImportError, match="has not been built"):
        tf_wta.wta_hash(tf.ones([1, 4]), tf_wta.wta_windows(4, 2, 2, seed=0))
