"""The op library: lazy loading, build info, version check, kernels, and no
runtime at import."""
import pytest
import tensorflow as tf
from tensorflow.python.framework import kernels

import tf_wta
from devices import device_of, place
from model_helpers import run_python
from tf_wta import _ops


def registered_devices(op_name):
    return {k.device_type for k in kernels.get_registered_kernels_for_op(op_name).kernel}


@pytest.mark.parametrize("op_name", ["WtaHash", "WtaDensifiedHash", "WtaSimhash", "WtaBuckets",
                                     "WtaHashedMatmul", "WtaHashedMatmulGrad", "WtaBuildIndex",
                                     "WtaQueryIndex", "WtaQueryIndexPooled",
                                     "WtaSparseApplySgd", "WtaSparseApplyAdam", "WtaFwht"])
def test_kernels_registered_for_built_devices(op_name):
    tf_wta.load_ops()
    devices = registered_devices(op_name)
    assert "CPU" in devices
    assert ("GPU" in devices) == tf_wta.build_info()["cuda"]


def test_build_info_names_the_running_tensorflow():
    info = tf_wta.build_info()
    assert info["tensorflow"] == tf.__version__
    assert info["graph_def"] == tf.version.GRAPH_DEF_VERSION


def test_every_op_runs_on_the_device_the_tests_ask_for(device):
    """The device-parametrised tests test that device's kernels: nothing
    falls back to the CPU (soft placement, small-op pinning)."""
    raw_ops = tf_wta.load_ops()
    x, windows = tf.ones([2, 4]), place([[0, 1], [2, 3]])
    index = tf_wta.build_index(place([[0, 1], [1, 1], [1, 0]]), 2)
    indices = place([[0, 2], [-1, 1]])
    grad_x, _, grad_weight_rows, _ = raw_ops.wta_hashed_matmul_grad(x, tf.ones([3, 4]), indices,
                                                                    tf.ones([2, 2]))
    variable, m, v = (tf.Variable(tf.zeros([3, 2])) for _ in range(3))
    raw_ops.wta_sparse_apply_sgd(variable.handle, 1.0, tf.ones([1, 2]), place([1]))
    raw_ops.wta_sparse_apply_adam(variable.handle, m.handle, v.handle, 0.1, 0.9, 0.999, 1e-7,
                                  tf.ones([1, 2]), place([2]))
    outputs = {
        "wta_hash": tf_wta.wta_hash(x, windows),
        "densified_wta_hash": tf_wta.densified_wta_hash(x, windows),
        "wta_buckets": tf_wta.wta_buckets(place([[0, 1], [1, 0]]), 2, 2),
        "build_index sorted_buckets": index.sorted_buckets,
        "build_index sorted_units": index.sorted_units,
        "query_index": tf_wta.query_index(place([[1, 1]]), index, 2),
        "query_index_pooled": tf_wta.query_index_pooled(place([[1, 1]]), index, 2),
        "hashed_matmul": tf_wta.hashed_matmul(x, tf.ones([3, 4]), indices),
        "hashed_matmul_grad grad_x": grad_x,
        "hashed_matmul_grad grad_weight_rows": grad_weight_rows,
        "sparse_apply var": variable,
    }
    for name, output in outputs.items():
        assert device_of(output) == device.upper(), f"{name} ran on {output.device}"


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
