"""The op library: loading, version check, kernels, and no runtime at import."""
import pytest
from tensorflow.python.framework import kernels

import tf_wta
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
