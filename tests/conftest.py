import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def on_cpu():
    """Runs the test's ops on the CPU. The CPU kernels raise on bad values;
    the GPU kernels follow the documented safe behaviour (tests/test_gpu.py)."""
    import tensorflow as tf

    with tf.device("/CPU:0"):
        yield
