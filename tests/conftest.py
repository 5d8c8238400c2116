import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))


def pytest_configure(config):
    """With TF_WTA_EXPECT_KERAS=3.10 (scripts/test_oldest_keras.sh), refuses
    to run unless that Keras minor version is the one imported."""
    expected = os.environ.get("TF_WTA_EXPECT_KERAS")
    if expected:
        import keras

        if not (keras.__version__ + ".").startswith(expected + "."):
            raise pytest.UsageError(f"TF_WTA_EXPECT_KERAS={expected}, but keras "
                                    f"{keras.__version__} is imported (from {keras.__file__})")


def pytest_report_header(config):
    import keras

    return f"keras {keras.__version__} ({os.path.dirname(keras.__file__)})"


@pytest.fixture(params=["cpu", "gpu"])
def device(request):
    """Runs the test body on each device (like tensorflow/addons'
    `run_all_on_cpu_and_gpu`): "cpu", then "gpu", which is skipped when
    TensorFlow sees no GPU. Yields the device's name, for the few checks
    where the devices differ on purpose: the CPU kernels raise on bad values,
    the GPU kernels follow the documented safe behaviour instead (a check
    would cost a host sync).

    Eager execution keeps int32 tensors made from Python or numpy values in
    host memory and runs an op whose inputs are all such tensors of at most
    64 elements on the CPU whatever `tf.device` says; tests pass those
    through `devices.place` (see tests/devices.py).
    """
    import tensorflow as tf

    if request.param == "gpu" and not tf.config.list_physical_devices("GPU"):
        pytest.skip("TensorFlow sees no GPU")
    with tf.device(f"/{request.param.upper()}:0"):
        yield request.param
