"""tf_wta.distributed_fit: Keras' fit on one machine, and two worker
processes on 127.0.0.1 under MultiWorkerMirroredStrategy."""
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_wta
from model_helpers import run_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "multiworker_training.py")
sys.path.insert(0, os.path.dirname(EXAMPLE))
import multiworker_training  # noqa: E402

WORKER_TIMEOUT_S = 240  # two TensorFlow processes on 2 loaded cores


def small_run(**overrides):
    return multiworker_training.parse_args(
        ["--classes", "120", "--examples", "256", "--batch-size", "32"] +
        [f"--{key.replace('_', '-')}={value}" for key, value in overrides.items()])


def data_and_model(args):
    features, labels = multiworker_training.prototype_classes(args.classes, args.features,
                                                              args.examples)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(args.batch_size)
    return dataset, multiworker_training.build_model(args)


def weights(model):
    return {variable.path: variable.numpy() for variable in model.weights}


def test_matches_fit_on_one_machine():
    args = small_run()
    dataset, model = data_and_model(args)
    fitted = model.fit(dataset, epochs=2, shuffle=False, verbose=0)
    expected = weights(model)
    dataset, model = data_and_model(args)
    history = tf_wta.distributed_fit(model, dataset, epochs=2)
    assert history.epoch == [0, 1]
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose(history.history[name], fitted.history[name], rtol=1e-5)
    for path, value in weights(model).items():
        np.testing.assert_allclose(value, expected[path], rtol=1e-5, atol=1e-6, err_msg=path)


def test_resumes_from_its_checkpoint(tmp_path):
    args = small_run()
    dataset, model = data_and_model(args)
    tf_wta.distributed_fit(model, dataset, epochs=2)
    expected = weights(model)

    dataset, model = data_and_model(args)
    assert tf_wta.distributed_fit(model, dataset, epochs=1, checkpoint_dir=tmp_path).epoch == [0]
    dataset, model = data_and_model(args)  # as in a restarted process ...
    model.layers[-1].kernel.assign(tf.zeros_like(model.layers[-1].kernel))  # ... whatever
    assert tf_wta.distributed_fit(model, dataset, epochs=2, checkpoint_dir=tmp_path).epoch == [1]
    restored = weights(model)
    for path, value in expected.items():  # the hash indexes and step counts included
        np.testing.assert_allclose(restored[path], value, rtol=1e-5, atol=1e-6, err_msg=path)
    assert model.optimizer.iterations.numpy() == 2 * 8
    # Trained up to epochs: nothing left to do.
    assert tf_wta.distributed_fit(model, dataset, epochs=2, checkpoint_dir=tmp_path).epoch == []


def test_infinite_dataset_continues_across_epochs():
    args = small_run()
    dataset, model = data_and_model(args)
    model.fit(dataset.repeat(), epochs=2, steps_per_epoch=3, shuffle=False, verbose=0)
    expected = weights(model)
    dataset, model = data_and_model(args)
    tf_wta.distributed_fit(model, dataset.repeat(), epochs=2, steps_per_epoch=3)
    for path, value in weights(model).items():
        np.testing.assert_allclose(value, expected[path], rtol=1e-5, atol=1e-6, err_msg=path)


class StopAfterOneEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.logs = logs
        self.model.stop_training = True


def test_callbacks_get_the_epoch_metrics_and_can_stop_training():
    dataset, model = data_and_model(small_run())
    stop = StopAfterOneEpoch()
    history = tf_wta.distributed_fit(model, dataset, epochs=5, callbacks=[stop])
    assert history.epoch == [0]
    assert stop.logs == {"loss": history.history["loss"][0],
                         "accuracy": history.history["accuracy"][0]}


def test_bad_arguments_are_named():
    args = small_run()
    dataset, model = data_and_model(args)
    with pytest.raises(ValueError, match="dataset must be a tf.data.Dataset"):
        tf_wta.distributed_fit(model, (np.zeros((4, 16)), np.zeros(4)))
    with pytest.raises(ValueError, match="infinite: pass steps_per_epoch"):
        tf_wta.distributed_fit(model, dataset.repeat())
    with pytest.raises(ValueError, match="steps_per_epoch=9 is more than the dataset's 8"):
        tf_wta.distributed_fit(model, dataset, steps_per_epoch=9)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        tf_wta.distributed_fit(model, dataset, epochs=0)
    with pytest.raises(ValueError, match="pass checkpoint_dir"):
        tf_wta.distributed_fit(model, dataset,
                               callbacks=[keras.callbacks.BackupAndRestore("unused")])
    inputs = keras.Input((16,))
    uncompiled = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="must be compiled"):
        tf_wta.distributed_fit(uncompiled, dataset)


class StrategyOnCluster:
    """What is_chief reads of a multi-worker strategy: its cluster_resolver."""

    def __init__(self, jobs, task_type, task_id):
        cluster = tf.train.ClusterSpec({job: [f"127.0.0.1:{2000 + i}" for i in range(count)]
                                        for job, count in jobs.items()})
        self.cluster_resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            cluster, task_type=task_type, task_id=task_id)


@pytest.mark.parametrize("jobs, task_type, task_id, chief", [
    ({"worker": 2}, "worker", 0, True),
    ({"worker": 2}, "worker", 1, False),
    ({"chief": 1, "worker": 2}, "chief", 0, True),
    ({"chief": 1, "worker": 2}, "worker", 0, False),
])
def test_is_chief(jobs, task_type, task_id, chief):
    assert tf_wta.is_chief(StrategyOnCluster(jobs, task_type, task_id)) is chief
    assert tf_wta.is_chief(tf.distribute.get_strategy())


def free_ports(count):
    """Ports on 127.0.0.1 that were free a moment ago."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def run_workers(flags, count, save_dir):
    """Runs the example as `count` workers of one cluster on 127.0.0.1;
    returns the chief's stdout and each worker's saved .npz."""
    workers = ",".join(f"127.0.0.1:{port}" for port in free_ports(count))
    # The tested package (installed in CI), not the source tree without its library.
    package_parent = os.path.dirname(os.path.dirname(tf_wta.__file__))
    env = {**os.environ, "PYTHONPATH": package_parent, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    processes = [subprocess.Popen(
        [sys.executable, EXAMPLE, "--workers", workers, "--worker-index", str(index),
         "--save", str(save_dir / f"worker{index}.npz")] + flags,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for index in range(count)]
    try:
        outputs = [process.communicate(timeout=WORKER_TIMEOUT_S) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-4000:]
    assert all("epochs trained" not in stdout for stdout, _ in outputs[1:])  # chief only
    return outputs[0][0], [dict(np.load(save_dir / f"worker{index}.npz"))
                           for index in range(count)]


@pytest.mark.slow
def test_two_workers_train_like_one_process_and_resume(tmp_path):
    flags = ["--classes", "120", "--examples", "256", "--batch-size", "32",
             "--checkpoint-dir", str(tmp_path / "checkpoints")]
    first_out, _ = run_workers(flags + ["--epochs", "1"], 2, tmp_path)
    assert "epochs trained: [0]" in first_out
    # Restarted processes resume after the checkpointed epoch.
    out, trained = run_workers(flags + ["--epochs", "2"], 2, tmp_path)
    assert "epochs trained: [1]" in out, out
    assert os.listdir(tmp_path / "checkpoints") and not [
        name for name in os.listdir(tmp_path / "checkpoints") if name.startswith("workertemp")]

    # The same global batches in one process, without a strategy.
    args = small_run(epochs=2)
    dataset, model = data_and_model(args)
    history = tf_wta.distributed_fit(model, dataset, epochs=2)
    expected = weights(model)
    # Each worker trained on its own half of every global batch ...
    first_batch = next(iter(dataset))[1].numpy()
    halves = [worker.pop("first_local_labels") for worker in trained]
    assert [len(half) for half in halves] == [16, 16]
    np.testing.assert_array_equal(np.concatenate(halves), first_batch)
    # ... and both hold the same weights and hash indexes, computed apart,
    # equal to the one-process run's: the sparse gradients were summed.
    worker0, worker1 = trained
    assert worker0.keys() == worker1.keys() == expected.keys()
    index_variables = [path for path in expected if "hash_index" in path]
    # Every WTADense's index (its windows, tables, schedule) is compared.
    assert {path.split("/")[0] for path in index_variables} == {
        layer.name for layer in model.layers if isinstance(layer, tf_wta.WTADense)}
    assert all(any(path.endswith(f"/hash_index/{name}") for path in index_variables)
               for name in ("windows", "sorted_buckets", "sorted_units", "steps"))
    for path, value in expected.items():
        np.testing.assert_array_equal(worker0[path], worker1[path], err_msg=path)
        if path in index_variables:
            np.testing.assert_array_equal(worker0[path], value, err_msg=path)
        else:
            np.testing.assert_allclose(worker0[path], value, rtol=1e-5, atol=1e-6, err_msg=path)
    loss = float(out.split("loss: ")[1].split()[0])
    assert loss == pytest.approx(history.history["loss"][1], rel=1e-5)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpus_fit_backup_and_restore(tmp_path):
    # On one machine fit works: with BackupAndRestore, an interrupted run
    # resumes where it stopped; distributed_fit trains the same.
    run_python(
        "import sys; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(\n"
        "    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "import keras, numpy as np, tf_wta\n"
        "from test_distributed import data_and_model, small_run, weights\n"
        "strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])\n"
        "args = small_run()\n"
        "def fresh():\n"
        "    with strategy.scope():\n"
        "        return data_and_model(args)\n"
        "dataset, model = fresh()\n"
        "model.fit(dataset, epochs=2, shuffle=False, verbose=0)\n"
        "expected = weights(model)\n"
        "class Interrupt(keras.callbacks.Callback):\n"
        "    def on_epoch_end(self, epoch, logs=None):\n"
        "        raise KeyboardInterrupt\n"
        "backup = keras.callbacks.BackupAndRestore('backup')\n"
        "dataset, model = fresh()\n"
        "try:\n"
        "    model.fit(dataset, epochs=2, shuffle=False, verbose=0,\n"
        "              callbacks=[backup, Interrupt()])\n"
        "except KeyboardInterrupt:\n"
        "    pass\n"
        "dataset, model = fresh()\n"
        "history = model.fit(dataset, epochs=2, shuffle=False, verbose=0, callbacks=[backup])\n"
        "assert history.epoch == [1], history.epoch\n"
        "def check(trained):\n"
        "    for path, value in expected.items():\n"
        "        np.testing.assert_allclose(trained[path], value, rtol=1e-5, atol=1e-6,\n"
        "                                   err_msg=path)\n"
        "check(weights(model))\n"
        "dataset, model = fresh()\n"
        "tf_wta.distributed_fit(model, dataset, epochs=2)\n"
        "check(weights(model))\n" % (os.path.dirname(os.path.abspath(__file__)),
                                     os.path.dirname(EXAMPLE)),
        cwd=tmp_path)
