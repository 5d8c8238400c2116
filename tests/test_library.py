"""The op library: loading, version check, kernels, and no runtime at import."""
import pytest
import tensorflow as tf
from tensorflow.python.framework import kernels

import tf_wta
from devices import device_of, place
from model_helpers import run_python
from tf_wta import _build_info, _ops


def registered_devices(op_name):
    return {k.device_type for k in kernels.get_registered_kernels_for_op(op_name).kernel}


@pytest.mark.parametrize("op_name", ["WtaHash", "WtaDensifiedHash", "WtaBuckets",
                                     "WtaHashedMatmul", "WtaHashedMatmulGrad"])
def test_kernels_registered_for_built_devices(op_name):
    devices = registered_devices(op_name)
    assert "CPU" in devices
    assert ("GPU" in devices) == bool(_build_info.CUDA_ARCHS)


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


def test_version_mismatch_says_what_to_do(monkeypatch):
    monkeypatch.setattr(_build_info, "TF_VERSION", "2.19.0")
    with pytest.raises(ImportError, match=r"built against TensorFlow 2\.19\.0.*tensorflow==2\.19\.\*"):
        _ops._check_tensorflow_version()


def test_import_does_not_start_the_runtime(tmp_path):
    # Both calls raise RuntimeError once the TensorFlow runtime is initialised.
    code = ("import tensorflow as tf, tf_wta\n"
            "tf.config.set_visible_devices([], 'GPU')\n"
            "tf.config.threading.set_intra_op_parallelism_threads(1)\n"
            "print(tf_wta.wta_hash(tf.ones([1, 4]), tf_wta.wta_windows(4, 2, 2, seed=0)).shape)\n")
    assert "(1, 2)" in run_python(code, cwd=tmp_path)
