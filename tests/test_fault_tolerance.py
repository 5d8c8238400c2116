"""A WTAModel killed mid-epoch resumes from keras.callbacks.BackupAndRestore
with its hash indexes, rebuild schedules and optimizer state intact, and a
checkpoint written by one process loads in another.

Every role runs in its own process (tests/resumable_training.py); training is
seeded and single-process on the CPU, so runs are compared exactly."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import resumable_training as rt
import tf_wta

INDEX_STATE = ("windows", "sorted_buckets", "sorted_units", "steps", "built_at",
               "next_rebuild", "rebuild_period")


def _run_roles(workdir, *roles):
    """Runs the roles concurrently, each in a fresh process; returns their exit codes."""
    package_parent = os.path.dirname(os.path.dirname(tf_wta.__file__))
    env = {**os.environ, "PYTHONPATH": package_parent, "TF_CPP_MIN_LOG_LEVEL": "2"}
    processes = [subprocess.Popen([sys.executable, rt.__file__, role, str(workdir)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  env=env) for role in roles]
    codes = {}
    for role, process in zip(roles, processes):
        _, stderr = process.communicate()
        codes[role] = process.returncode
        if process.returncode not in (0, -signal.SIGKILL):
            pytest.fail(f"{role} exited with {process.returncode}:\n{stderr[-4000:]}")
    return codes


def _load(workdir, name):
    with np.load(workdir / f"{name}.npz") as values:
        return dict(values)


def _assert_same(got, want, what):
    assert sorted(got) == sorted(want), what
    different = [key for key in want if not np.array_equal(got[key], want[key])]
    assert not different, f"{what}: {different} differ"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fault_tolerance")
    codes = _run_roles(workdir, "uninterrupted", "interrupted")
    assert codes == {"uninterrupted": 0, "interrupted": -signal.SIGKILL}
    _run_roles(workdir, "resume-epoch", "resume-steps", "load-checkpoint")
    return workdir


@pytest.mark.slow
def test_resumes_from_the_epoch_backup_exactly(runs):
    """Killed at step 13 (epoch 1); the backup of epoch 0 restores the state
    after step 8, and the rerun of epoch 1 ends where the uninterrupted run did."""
    restored = _load(runs, "resume-epoch-restored")
    index_keys = [key for key in restored if key.rsplit("/", 1)[-1] in INDEX_STATE]
    assert len(index_keys) == 2 * len(INDEX_STATE)  # both WTADense layers' indexes
    _assert_same(restored, _load(runs, f"uninterrupted-step{rt.STEPS_PER_EPOCH}"),
                 "state restored from the epoch backup")
    final = _load(runs, "resume-epoch-final")
    _assert_same(final, _load(runs, "uninterrupted-final"), "final state and accuracy")
    assert final["accuracy"] > 10 / rt.CLASSES  # it learned: chance is 1 / CLASSES


@pytest.mark.slow
def test_resumes_from_a_mid_epoch_backup_with_index_and_schedule(runs):
    """The backup every 5 steps restores the state after step 10 exactly.
    Keras then reruns the interrupted epoch from its first batch (it does not
    skip batches), so this run takes 10 + 2 * 8 steps, two more than the
    uninterrupted one, with its schedules counting on from the restored ones."""
    restored = _load(runs, "resume-steps-restored")
    _assert_same(restored, _load(runs, "uninterrupted-step10"), "state restored at step 10")
    final, uninterrupted = _load(runs, "resume-steps-final"), _load(runs, "uninterrupted-final")
    steps = 10 + 2 * rt.STEPS_PER_EPOCH
    assert final["lazy_adam/iteration"] == steps
    for key in final:
        if key.endswith("hash_index/steps"):
            assert final[key] == steps, key
        if key.endswith("hash_index/built_at"):
            next_rebuild = final[key.replace("built_at", "next_rebuild")]
            assert 0 < final[key] < steps <= next_rebuild, key
    # Two extra steps on the same data: about the same accuracy.
    assert abs(final["accuracy"] - uninterrupted["accuracy"]) <= 0.02


@pytest.mark.slow
def test_checkpoint_loads_in_another_process(runs):
    written, loaded = _load(runs, "uninterrupted-outputs"), _load(runs, "load-checkpoint-outputs")
    _assert_same(loaded, written, "predictions and top_k after loading")
    model_state = {key: value for key, value in _load(runs, "uninterrupted-final").items()
                   if not key.startswith("lazy_adam/") and key != "accuracy"}
    loaded_state = {key: value for key, value in _load(runs, "load-checkpoint-loaded").items()
                    if not key.startswith("lazy_adam/")}
    _assert_same(loaded_state, model_state, "weights and index after loading")
