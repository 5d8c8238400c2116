"""Checks of ShardedWTADense under ParameterServerStrategy on an in-process
cluster (this process the chief, 2 workers and 2 parameter servers as
`tf.distribute.Server`s on 127.0.0.1). Run by tests/test_parameter_servers.py
in a child process (the servers live until their process exits); exits
non-zero with the failed assertion. Prints "all checks passed"."""
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

import tf_wta
from tf_wta import parameter_servers
from tf_wta.layers.candidate_sets import shared_logits
from tf_wta.parameter_servers import train_function

UNITS, DIM, BATCH, STEPS = 60, 16, 8, 6


def in_process_cluster():
    """A ParameterServerStrategy (and its servers) whose variables are split
    in 2 by a FixedShardsPartitioner: ShardedWTADense must keep its blocks
    whole."""
    return parameter_servers.in_process_cluster(
        2, 2, tf.distribute.experimental.partitioners.FixedShardsPartitioner(2))


def build(layer, optimizer):
    inputs = keras.Input((DIM,))
    model = tf_wta.WTAModel(inputs, layer(inputs))
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, DIM)).astype("float32")
    y = rng.integers(0, UNITS, STEPS * BATCH).astype("int32")
    return x, y


def blocks(layer):
    return np.concatenate([kernel.numpy() for kernel in layer.kernel_shards])


def check_placement(layer):
    devices = [kernel.value.device for kernel in layer.kernel_shards]
    servers = [f"/job:ps/replica:0/task:{task}/device:CPU:0" for task in range(2)]
    assert sorted(devices) == servers, devices
    for shard, device in enumerate(devices):
        kernel = layer.kernel_shards[shard].value
        # Whole: the partitioner would have made it a ShardedVariable.
        assert type(kernel).__name__ != "ShardedVariable", type(kernel)
        assert tuple(kernel.shape) == (layer.shard_rows[shard], DIM), kernel.shape
        for variable in [layer.bias_shards[shard], *layer.shard_indexes[shard].weights]:
            assert variable.value.device == device, (variable.path, variable.value.device)


def check_indexes(layer, kernel_blocks):
    """Each block's index on its server equals a fresh HashIndex of the
    block's rows as they were when it was rebuilt (kernel_blocks)."""
    for shard, index in enumerate(layer.shard_indexes):
        rows = kernel_blocks[shard]
        fresh = tf_wta.HashIndex.from_config({**index.get_config(), "name": "fresh"})
        fresh.build(rows.shape)
        fresh.rebuild(rows)
        np.testing.assert_array_equal(index.sorted_buckets.numpy(), fresh.sorted_buckets.numpy())
        np.testing.assert_array_equal(index.sorted_units.numpy(), fresh.sorted_units.numpy())


def check_logits(layer):
    """Candidate logits of the blocks on the servers equal, bit for bit,
    those of a WTADense holding the same rows, on the same candidates."""
    dense = tf_wta.WTADense(UNITS, seed=3, codes_per_table=1)
    build(dense, tf_wta.SparseSGD(0.5))
    dense.kernel.assign(blocks(layer))
    dense.bias.assign(np.concatenate([bias.numpy() for bias in layer.bias_shards]))
    x, _ = data()
    rng = np.random.default_rng(1)
    candidates = tf.constant(rng.integers(-1, UNITS, (len(x), 8)), tf.int32)
    np.testing.assert_array_equal(layer._candidate_logits(x, candidates).numpy(),
                                  dense._candidate_logits(x, candidates).numpy())
    ids = tf.constant(rng.permutation(UNITS)[:20], tf.int32)
    np.testing.assert_array_equal(shared_logits(x, *layer._row_source(), ids).numpy(),
                                  shared_logits(x, dense.kernel, dense.bias, ids).numpy())


def train_on_cluster(strategy, coordinator, layer_args, optimizer, weights):
    """STEPS scheduled steps, one at a time (so the updates are in order), on
    fixed batches; returns the trained layer, its model and its kernel
    blocks before the last step."""
    with strategy.scope():
        layer = tf_wta.ShardedWTADense(UNITS, num_shards=2, **layer_args)
        model = build(layer, optimizer())
    layer.set_weights(weights)
    check_placement(layer)
    step = train_function(model)
    x, y = data()
    for start in range(0, len(x), BATCH):
        before_step = [kernel.numpy() for kernel in layer.kernel_shards]
        coordinator.schedule(step, args=((x[start:start + BATCH], y[start:start + BATCH]),))
        coordinator.join()
    return layer, model, before_step


def train_here(layer, optimizer, weights):
    model = build(layer, optimizer())
    layer.set_weights(weights)
    x, y = data()
    model.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0)
    return layer


def main():
    strategy, _servers = in_process_cluster()
    coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    x, _ = data()
    optimizers = {"SparseSGD": lambda: tf_wta.SparseSGD(0.5),
                  "LazyAdam": lambda: tf_wta.LazyAdam(0.05)}
    shared = dict(seed=3, num_uniform=10, bias_initializer="random_normal", codes_per_table=1)
    # Rebuilt at steps 0 and STEPS - 1 (before that step's update).
    hashed = dict(shared, candidates="per_example", num_candidates=8, rebuild_every=STEPS - 1)
    for name, optimizer in optimizers.items():
        # Shared candidates: the same classes as an unsharded WTADense.
        reference = tf_wta.ShardedWTADense(UNITS, num_shards=2, **shared)
        build(reference, optimizer())
        start = reference.get_weights()
        layer, model, _ = train_on_cluster(strategy, coordinator, shared, optimizer, start)
        dense = tf_wta.WTADense(UNITS, **shared)
        build(dense, optimizer())
        dense.kernel.assign(np.concatenate([start[0], start[2]]))
        dense.bias.assign(np.concatenate([start[1], start[3]]))
        train_here(dense, optimizer, dense.get_weights())
        np.testing.assert_array_equal(blocks(layer), dense.kernel.numpy(), err_msg=name)
        np.testing.assert_allclose(model(x).numpy(), dense(x).numpy(),
                                   rtol=1e-5, atol=1e-6)
        # Hashed per-example candidates: the same steps as the layer here.
        reference = tf_wta.ShardedWTADense(UNITS, num_shards=2, **hashed)
        build(reference, optimizer())
        start = reference.get_weights()
        layer, _, last_rebuild = train_on_cluster(strategy, coordinator, hashed, optimizer,
                                                   start)
        local = train_here(reference, optimizer, start)
        for trained, expected in zip(layer.get_weights(), local.get_weights()):
            np.testing.assert_array_equal(trained, expected, err_msg=name)
        check_indexes(layer, last_rebuild)
        check_logits(layer)
        np.testing.assert_array_equal(layer.query(x).numpy(), local.query(x).numpy())
        print(name, "matches")

    with strategy.scope():
        model = build(tf_wta.ShardedWTADense(UNITS, num_shards=2, **shared), tf_wta.LazyAdam(0.05))
    x, y = data()
    full_softmax = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    loss_before = float(full_softmax(y, model(x)))
    history = tf_wta.parameter_server_fit(
        model, lambda: tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).repeat(),
        epochs=3, steps_per_epoch=STEPS, coordinator=coordinator)
    losses = history.history["loss"]
    assert history.epoch == [0, 1, 2] and len(losses) == 3, history.history
    assert np.all(np.isfinite(losses)) and set(history.history) == {"loss", "accuracy"}
    loss_after = float(full_softmax(y, model(x)))
    assert loss_after < loss_before - 0.5, (loss_before, loss_after)
    # Concurrent steps on the two workers can lose counts: Keras'
    # Variable.assign_add is a read then an assign (measured: 13 of 18).
    iterations = int(model.optimizer.iterations.numpy())
    assert STEPS <= iterations <= 3 * STEPS, iterations
    # Saved on the chief, the model loads and serves without a cluster.
    with tempfile.TemporaryDirectory() as directory:
        model.save(os.path.join(directory, "sharded.keras"))
        loaded = keras.saving.load_model(os.path.join(directory, "sharded.keras"))
    for saved, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy(), err_msg=saved.path)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    print("parameter_server_fit losses", losses, "full softmax", loss_before, loss_after,
          "iterations", iterations)
    print("all checks passed")


if __name__ == "__main__":
    main()
