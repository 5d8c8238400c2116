"""Resident memory stays flat over 10,000 calls of every op and over 1,000
training steps of a WTAModel whose index is rebuilt every 10 steps.

tests/memory_probe.py measures in a fresh process (after a warm-up, so
TensorFlow's one-time caches do not count); each measurement also runs a
control that leaks a known number of bytes per call, which must exceed the
bound, so a leak of that size could not pass unseen."""
import json
import os
import subprocess
import sys

import pytest

import fuzzing
import memory_probe
import tf_wta

# A per-call leak of 105 bytes or more (per step: 2 KiB) exceeds these.
OP_GROWTH_BOUND = 1 << 20  # bytes over memory_probe.OP_CALLS calls
TRAINING_GROWTH_BOUND = 2 << 20  # bytes over memory_probe.TRAINING_STEPS steps


def _probe(what):
    package_parent = os.path.dirname(os.path.dirname(tf_wta.__file__))
    env = {**os.environ, "PYTHONPATH": package_parent, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, memory_probe.__file__, what], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_ops_do_not_leak():
    growth = _probe("ops")
    control = growth.pop("leaking_control")
    assert set(growth) == set(fuzzing.OPS)  # every op, the hashed_matmul gradient included
    assert control > OP_GROWTH_BOUND, (
        f"the control leaking {memory_probe.CONTROL_BYTES_PER_CALL} bytes per call grew "
        f"only {control} bytes: the measurement cannot see a leak")
    leaking = {op: grown for op, grown in growth.items() if grown > OP_GROWTH_BOUND}
    assert not leaking, f"resident bytes grown over {memory_probe.OP_CALLS} calls: {leaking}"


@pytest.mark.slow
def test_training_with_index_rebuilds_does_not_leak():
    growth = _probe("training")
    assert growth["rebuilds"] == memory_probe.TRAINING_STEPS // 10
    assert growth["leaking_control"] > TRAINING_GROWTH_BOUND, (
        f"the control leaking {memory_probe.CONTROL_BYTES_PER_STEP} bytes per step grew only {growth['leaking_control']} "
        f"bytes: the measurement cannot see a leak")
    assert growth["training"] < TRAINING_GROWTH_BOUND, (
        f"{memory_probe.TRAINING_STEPS} training steps grew resident memory by "
        f"{growth['training']} bytes")
