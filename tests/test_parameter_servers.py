"""ShardedWTADense under ParameterServerStrategy on an in-process cluster on
127.0.0.1 (1 chief, 2 workers, 2 parameter servers, ports picked at run
time): tests/parameter_server_checks.py in a child process, bounded in time
(the cluster's servers live until their process exits)."""
import os
import subprocess
import sys

import pytest

import tf_wta

CHECKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parameter_server_checks.py")
TIMEOUT_S = 300  # about 30 s alone on 2 cores; the rest is room for a loaded machine


@pytest.mark.slow
def test_sharded_layer_trains_on_parameter_servers():
    """Blocks placed whole on different servers under a partitioner; shared
    and hashed candidates trained there with SparseSGD and LazyAdam equal
    the same steps without a cluster (an unsharded WTADense for shared
    candidates), exactly; each block's index equals a fresh HashIndex of
    its rows; parameter_server_fit trains on per-worker datasets."""
    package_parent = os.path.dirname(os.path.dirname(tf_wta.__file__))
    env = {**os.environ, "PYTHONPATH": package_parent, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, CHECKS], capture_output=True, text=True,
                            env=env, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "all checks passed" in result.stdout, result.stdout


@pytest.mark.slow
def test_example_trains_on_an_in_process_cluster():
    example = os.path.join(os.path.dirname(os.path.dirname(CHECKS)), "examples",
                           "parameter_server_training.py")
    package_parent = os.path.dirname(os.path.dirname(tf_wta.__file__))
    env = {**os.environ, "PYTHONPATH": package_parent, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, example, "--classes", "200", "--examples", "512", "--epochs", "2",
         "--steps-per-epoch", "8"], capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.splitlines()
    assert [line.split(" on ")[-1] for line in lines if line.startswith("block ")] == [
        "/job:ps/replica:0/task:0/device:CPU:0", "/job:ps/replica:0/task:1/device:CPU:0"]
    assert sum(line.startswith("epoch ") for line in lines) == 2, result.stdout
    assert any(line.startswith("exact top-1 accuracy") for line in lines), result.stdout
