"""ShardedWTADense on one device: the same outputs, gradients and training
as WTADense with the same weights; its blocks' indexes; bad arguments;
saving. (Under ParameterServerStrategy: tests/test_parameter_servers.py.)"""
import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_wta
from tf_wta.layers.row_shards import RowShards, shard_sizes
from tf_wta.layers.sharded_wta_dense import merge_ranked

UNITS, DIM = 50, 16


def model_of(layer, optimizer=None):
    inputs = keras.Input((DIM,))
    model = tf_wta.WTAModel(inputs, layer(inputs))
    if optimizer is not None:
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def same_weights(num_shards=3, optimizer=None, **kwargs):
    """(dense model, sharded model): a WTADense and a ShardedWTADense whose
    blocks hold the WTADense's kernel and bias rows."""
    kwargs = {"seed": 3, "bias_initializer": "random_normal", **kwargs}
    dense = tf_wta.WTADense(UNITS, **kwargs)
    sharded = tf_wta.ShardedWTADense(UNITS, num_shards=num_shards, **kwargs)
    models = (model_of(dense, optimizer and optimizer()),
              model_of(sharded, optimizer and optimizer()))
    offsets = np.cumsum([0] + sharded.shard_rows)
    for shard, (kernel, bias) in enumerate(zip(sharded.kernel_shards, sharded.bias_shards)):
        rows = slice(offsets[shard], offsets[shard + 1])
        kernel.assign(dense.kernel.numpy()[rows])
        bias.assign(dense.bias.numpy()[rows])
    return models


def batch(size=32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(size, DIM)).astype("float32"),
            rng.integers(0, UNITS, size).astype("int32"))


def kernel_of(sharded):
    return np.concatenate([kernel.numpy() for kernel in sharded.kernel_shards])


def test_blocks_are_contiguous_and_as_even_as_can_be():
    assert shard_sizes(10, 3) == [4, 3, 3]
    layer = tf_wta.ShardedWTADense(UNITS, num_shards=3)
    model_of(layer)
    assert [tuple(kernel.shape) for kernel in layer.kernel_shards] == [(17, 16), (17, 16),
                                                                       (16, 16)]
    ids = tf.constant([0, 16, 17, 33, 34, 49, 5])
    rows = RowShards(layer.kernel_shards).gather(ids).numpy()
    np.testing.assert_array_equal(rows, kernel_of(layer)[ids.numpy()])


def test_blocks_draw_with_the_whole_kernels_variance():
    layer = tf_wta.ShardedWTADense(4000, num_shards=4)
    dense = tf_wta.WTADense(4000)
    model_of(layer), model_of(dense)
    stds = [np.std(kernel.numpy()) for kernel in layer.kernel_shards]
    np.testing.assert_allclose(stds, np.std(dense.kernel.numpy()), rtol=0.03)
    assert not np.array_equal(layer.kernel_shards[0].numpy(), layer.kernel_shards[1].numpy())


def test_exact_outputs_match_to_round_off():
    dense, sharded = (model.layers[-1] for model in same_weights())
    x, _ = batch()
    # One GEMM per block: the sums are the same up to float32 round-off.
    np.testing.assert_allclose(sharded(x).numpy(), dense(x).numpy(), rtol=1e-5, atol=1e-6)


def test_candidate_logits_and_gradients_match_exactly():
    dense, sharded = (model.layers[-1]
                      for model in same_weights(candidates="per_example", num_candidates=8))
    x, _ = batch()
    candidates = tf.constant(np.random.default_rng(1).integers(-1, UNITS, (32, 8)), tf.int32)
    gradients = []
    for layer in (dense, sharded):
        with tf.GradientTape() as tape:
            logits = layer._candidate_logits(x, candidates)
            loss = tf.reduce_sum(tf.sin(logits))
        gradients.append(tape.gradient(loss, layer.trainable_weights))
        if layer is dense:
            expected = logits.numpy()
    np.testing.assert_array_equal(logits.numpy(), expected)
    dense_kernel = tf.convert_to_tensor(gradients[0][0]).numpy()
    shard_kernels = [tf.convert_to_tensor(g).numpy() for g in gradients[1][0::2]]
    assert all(isinstance(g, tf.IndexedSlices) for g in gradients[1])
    np.testing.assert_array_equal(np.concatenate(shard_kernels), dense_kernel)


@pytest.mark.parametrize("optimizer", [lambda: tf_wta.SparseSGD(0.5),
                                       lambda: tf_wta.LazyAdam(0.05)], ids=["sgd", "adam"])
def test_shared_candidate_training_matches_exactly(optimizer):
    models = same_weights(optimizer=optimizer, num_uniform=8)
    x, y = batch()
    histories = [model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
                 for model in models]
    assert histories[0] == histories[1]
    dense, sharded = (model.layers[-1] for model in models)
    np.testing.assert_array_equal(kernel_of(sharded), dense.kernel.numpy())
    np.testing.assert_array_equal(
        np.concatenate([bias.numpy() for bias in sharded.bias_shards]), dense.bias.numpy())


def test_each_blocks_index_is_that_of_its_rows():
    # num_candidates=0: training leaves the indexes stale, and top_k
    # rebuilds each over its block's trained rows.
    models = same_weights(num_shards=2, optimizer=lambda: tf_wta.SparseSGD(0.5), num_uniform=8)
    x, y = batch()
    models[1].fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    sharded = models[1].layers[-1]
    scores, ids = sharded.top_k(x, 3)
    for index, kernel in zip(sharded.shard_indexes, sharded.kernel_shards):
        fresh = tf_wta.HashIndex.from_config({**index.get_config(), "name": "fresh"})
        fresh.build(kernel.shape)
        fresh.rebuild(kernel)
        np.testing.assert_array_equal(index.sorted_buckets.numpy(), fresh.sorted_buckets.numpy())
        np.testing.assert_array_equal(index.sorted_units.numpy(), fresh.sorted_units.numpy())
    # top_k's scores are the exact logits of the ids it returns.
    logits = sharded(x).numpy()
    found = ids.numpy() >= 0
    np.testing.assert_allclose(scores.numpy()[found],
                               np.take_along_axis(logits, np.maximum(ids.numpy(), 0), 1)[found],
                               rtol=1e-5, atol=1e-6)


def test_one_block_queries_as_wta_dense():
    kwargs = dict(candidates="per_example", num_candidates=8, codes_per_table=1, seed=2)
    dense, sharded = (model.layers[-1] for model in same_weights(num_shards=1, **kwargs))
    x, _ = batch()
    dense.top_k(x, 1), sharded.top_k(x, 1)  # builds the indexes
    np.testing.assert_array_equal(sharded.query(x).numpy(), dense.query(x).numpy())


def test_merge_takes_the_blocks_ranks_in_turn():
    first = tf.constant([[3, 1, -1], [-1, -1, -1]])
    second = tf.constant([[10, -1, -1], [12, 11, 14]])
    np.testing.assert_array_equal(merge_ranked([first, second], 4).numpy(),
                                  [[3, 10, 1, -1], [12, 11, 14, -1]])


def test_exact_top_k_spans_the_blocks():
    dense, sharded = (model.layers[-1] for model in same_weights())
    x, _ = batch()
    for got, expected in zip(sharded.exact_top_k(x, 5, chunk_units=7),
                             dense.exact_top_k(x, 5, chunk_units=7)):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("num_shards, message", [
    (0, "num_shards must be >= 1"), (UNITS + 1, "must be <= units=50"),
    (2.0, "num_shards must be an int"), (True, "num_shards must be an int")])
def test_bad_num_shards(num_shards, message):
    with pytest.raises(ValueError, match=message):
        tf_wta.ShardedWTADense(UNITS, num_shards=num_shards)


def test_hidden_mode_is_refused():
    with pytest.raises(ValueError, match="mode='output' only"):
        tf_wta.ShardedWTADense(UNITS, num_shards=2, mode="hidden")


def test_keras_file_round_trip(tmp_path):
    models = same_weights(optimizer=lambda: tf_wta.LazyAdam(0.05), num_uniform=8)
    x, y = batch()
    models[1].fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    models[1].save(tmp_path / "sharded.keras")
    loaded = keras.saving.load_model(tmp_path / "sharded.keras")
    layer = loaded.layers[-1]
    assert isinstance(layer, tf_wta.ShardedWTADense) and layer.num_shards == 3
    for saved, restored in zip(models[1].weights, loaded.weights):
        assert saved.path == restored.path
        np.testing.assert_array_equal(saved.numpy(), restored.numpy(), err_msg=saved.path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), models[1].predict(x, verbose=0))


def test_compile_warns_about_dense_update_optimizers_for_a_large_layer():
    layer = tf_wta.ShardedWTADense(160_000, num_shards=4)  # 160,000 x 64: 10.24 M weights
    inputs = keras.Input((64,))
    model = tf_wta.WTAModel(inputs, layer(inputs))
    with pytest.warns(UserWarning, match="tf_wta.SparseSGD or tf_wta.SparseAdagrad"):
        model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy")


def test_seeded_initializers_draw_other_rows_in_every_block():
    for initializer in (keras.initializers.RandomNormal(seed=5),
                        keras.initializers.GlorotUniform(seed=5)):
        layer = tf_wta.ShardedWTADense(8, num_shards=2, seed=0, kernel_initializer=initializer)
        layer.build((None, 16))
        first, second = (kernel.numpy() for kernel in layer.kernel_shards)
        assert not np.array_equal(first, second), type(initializer).__name__


def test_candidate_quality_scans_the_blocks_as_the_whole_kernel():
    _, sharded_model = same_weights(candidates="per_example", num_candidates=8, num_uniform=0)
    layer = sharded_model.layers[-1]
    x, _ = batch(16)
    candidates = layer.training_candidates(x)
    bias = np.concatenate([bias.numpy() for bias in layer.bias_shards])
    # Chunks of 7 units cross the block boundaries (17, 34).
    whole = tf_wta.candidate_quality(x, kernel_of(layer), bias, candidates, ks=(1, 5),
                                     chunk_units=7)
    kernel, bias_blocks = layer._row_source()
    blocks = tf_wta.candidate_quality(x, kernel, bias_blocks, candidates, ks=(1, 5),
                                      chunk_units=7)
    assert blocks == pytest.approx(whole, rel=1e-6)
    assert 0 < whole["recall@5"] < 1
    callback = tf_wta.CandidateQuality(x, ks=(1, 5))
    callback.set_model(sharded_model)
    assert callback.measure() == pytest.approx(whole, rel=1e-6)


def test_export_top_k_serves_the_blocks_hashed_top_k(tmp_path):
    from model_helpers import run_python

    _, sharded_model = same_weights(num_candidates=12)
    layer = sharded_model.layers[-1]
    x, _ = batch(16)
    tf_wta.export_top_k(sharded_model, str(tmp_path / "top_k"), k=3)
    scores, ids = layer.top_k(x, 3)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "ids.npy", ids.numpy())
    run_python(
        "import numpy as np, tensorflow as tf, tf_wta\n"
        "tf_wta.load_ops()\n"
        "served = tf.saved_model.load('top_k')\n"
        "out = served.signatures['serving_default'](tf.constant(np.load('x.npy')))\n"
        "np.testing.assert_array_equal(out['ids'].numpy(), np.load('ids.npy'))\n",
        cwd=tmp_path)
    found = ids.numpy() >= 0
    assert found.all()
    exact = sharded_model.predict(x, verbose=0)
    np.testing.assert_allclose(scores.numpy(), np.take_along_axis(exact, ids.numpy(), 1),
                               rtol=1e-5, atol=1e-6)


def test_kernel_rescaling_copies_every_block():
    def build(resolution, kernel_size):
        inputs = keras.Input((resolution, resolution, 1))
        x = keras.layers.Conv2D(16, kernel_size, padding="same")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return tf_wta.WTAModel(inputs, tf_wta.ShardedWTADense(20, num_shards=3)(x))

    low, full = build(8, 3), build(16, 6)
    tf_wta.rescale_kernels(low, full)
    for name in ("kernel_shards", "bias_shards"):
        for copied, source in zip(getattr(full.layers[-1], name), getattr(low.layers[-1], name)):
            np.testing.assert_array_equal(copied.numpy(), source.numpy())
