"""Every op gives bitwise the same results at 1, 2 and 8 intra-op threads.

The thread count is fixed when TensorFlow's runtime starts, so each count
runs in its own child process (tests/op_outputs.py), all ops in one child.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import tf_wta

THREAD_COUNTS = (1, 2, 8)


def _start_child(threads, out_path):
    package_parent = os.path.dirname(os.path.dirname(tf_wta.__file__))
    script = os.path.join(os.path.dirname(__file__), "op_outputs.py")
    env = {**os.environ, "PYTHONPATH": package_parent, "TF_CPP_MIN_LOG_LEVEL": "2",
           "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.Popen([sys.executable, script, str(out_path), "--threads", str(threads)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_every_op_is_bitwise_identical_at_1_2_and_8_threads(tmp_path):
    paths = {threads: tmp_path / f"threads_{threads}.npz" for threads in THREAD_COUNTS}
    children = {threads: _start_child(threads, path) for threads, path in paths.items()}
    for threads, child in children.items():
        _, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, f"{threads} threads: {stderr[-4000:]}"
    runs = {threads: np.load(path) for threads, path in paths.items()}
    reference = runs[THREAD_COUNTS[0]]
    assert len(reference.files) >= 30  # every op's outputs, see op_outputs.py
    for threads in THREAD_COUNTS[1:]:
        assert sorted(runs[threads].files) == sorted(reference.files)
        for name in reference.files:
            message = f"{name}: {threads} threads differ from {THREAD_COUNTS[0]}"
            np.testing.assert_array_equal(runs[threads][name], reference[name], err_msg=message)
            assert runs[threads][name].tobytes() == reference[name].tobytes(), message  # -0.0
