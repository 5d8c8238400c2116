"""Multi-label training of WTADense: labels, candidate sets, loss, ranking metrics."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_wta
from tf_wta.labels import label_matrix
from tf_wta.layers.candidate_sets import candidates_with_all_labels, shared_candidate_set


def multi_label_data(num_classes, dim, num_examples, max_labels=3, seed=0):
    """Examples near the sum of 1 to max_labels class prototypes.

    Returns:
      (x float32 [n, dim], labels int32 [n, max_labels] padded with -1).
    """
    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((num_classes, dim))
    prototypes /= np.linalg.norm(prototypes, axis=1, keepdims=True)
    labels = np.full((num_examples, max_labels), -1, np.int32)
    x = 0.3 * rng.standard_normal((num_examples, dim)) / np.sqrt(dim)
    for i in range(num_examples):
        chosen = rng.choice(num_classes, rng.integers(1, max_labels + 1), replace=False)
        labels[i, :len(chosen)] = chosen
        x[i] += prototypes[chosen].sum(axis=0)
    return x.astype(np.float32), labels


def reference_ranking(relevant, scores, k):
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(relevant, order, axis=1)
    discounts = 1 / np.log2(np.arange(2, k + 2))
    ideal = np.array([discounts[:min(k, int(n))].sum() for n in relevant.sum(axis=1)])
    ndcg = np.divide((hits * discounts).sum(axis=1), ideal, out=np.zeros(len(ideal)),
                     where=ideal > 0)
    return hits.sum(axis=1) / k, ndcg


def test_label_matrix_accepts_every_label_form():
    ids, multi = label_matrix(tf.constant([3, 1]))
    assert not multi and ids.numpy().tolist() == [[3], [1]]
    ids, multi = label_matrix(tf.constant([[3], [1]]))
    assert not multi and ids.numpy().tolist() == [[3], [1]]
    ids, multi = label_matrix(tf.constant([[3, -1], [1, 2]]))
    assert multi and ids.numpy().tolist() == [[3, -1], [1, 2]]
    ids, multi = label_matrix(tf.ragged.constant([[3], [1, 2, 0]]))
    assert multi and ids.numpy().tolist() == [[3, -1, -1], [1, 2, 0]]
    with pytest.raises(ValueError, match="labels must be"):
        label_matrix(tf.zeros([2, 2, 2], tf.int32))


def test_shared_set_holds_every_positive_once_and_points_at_it():
    labels = tf.constant([[5, 2, -1], [2, -1, -1], [7, 9, 5]])
    sampled = tf.constant([9, -1, 11, 5, 11])
    ids, positions = shared_candidate_set(labels, sampled)
    ids, positions = ids.numpy(), positions.numpy()
    assert sorted(ids.tolist()) == [2, 5, 7, 9, 11]
    expected = labels.numpy()
    np.testing.assert_array_equal(np.where(positions >= 0, ids[positions], -1), expected)


def test_per_example_candidates_put_labels_first_and_drop_their_repeats():
    candidates = tf.constant([[4, 5, 6], [1, -1, 3]])
    labels = tf.constant([[5, 9], [3, -1]])
    merged, positions = candidates_with_all_labels(candidates, labels)
    assert merged.numpy().tolist() == [[5, 9, 4, -1, 6], [3, -1, 1, -1, -1]]
    assert positions.numpy().tolist() == [[0, 1], [0, -1]]


def test_multi_label_softmax_loss_matches_numpy():
    logits = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    targets = np.array([[1, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0]], np.float32)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    per_row = -(targets / np.maximum(targets.sum(1, keepdims=True), 1) * log_p).sum(1)
    loss = tf_wta.MultiLabelSoftmaxCrossentropy(reduction=None)(targets, logits)
    np.testing.assert_allclose(loss.numpy(), per_row, rtol=1e-5)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_ranking_scores_match_numpy(k):
    rng = np.random.default_rng(k)
    scores = rng.standard_normal((16, 40)).astype(np.float32)
    _, labels = multi_label_data(40, 4, 16, max_labels=4, seed=k)
    labels[3] = -1  # an example without a relevant class scores 0
    relevant = np.zeros((16, 40), np.float32)
    for row, ids in enumerate(labels):
        relevant[row, ids[ids >= 0]] = 1
    expected_precision, expected_ndcg = reference_ranking(relevant, scores, k)
    for y_true in (relevant, labels, tf.ragged.constant([row[row >= 0] for row in labels])):
        precision, ndcg = tf_wta.ranking_scores(y_true, scores, k)
        np.testing.assert_allclose(precision.numpy(), expected_precision, rtol=1e-6)
        np.testing.assert_allclose(ndcg.numpy(), expected_ndcg, rtol=1e-5, atol=1e-7)
    metric = tf_wta.NDCGAtK(k)
    metric.update_state(relevant, scores)
    assert float(metric.result()) == pytest.approx(expected_ndcg.mean(), rel=1e-5)
    assert tf_wta.PrecisionAtK(k).name == f"precision_at_{k}"


def test_ranking_metric_rejects_a_bad_k():
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        tf_wta.PrecisionAtK(0)


@pytest.mark.parametrize("candidates", ["shared", "per_example"])
@pytest.mark.parametrize("ragged", [False, True])
def test_wta_model_learns_several_labels_per_example(candidates, ragged):
    x, labels = multi_label_data(400, 32, 1024, seed=1)
    if ragged:
        ragged_labels = tf.ragged.constant([row[row >= 0] for row in labels])
        train = tf.data.Dataset.from_tensor_slices((x, ragged_labels)).batch(64)
    else:
        train = tf.data.Dataset.from_tensor_slices((x, labels)).batch(64)
    inputs = keras.Input((32,))
    outputs = tf_wta.WTADense(400, candidates=candidates, num_candidates=16, num_uniform=64,
                              seed=0)(keras.layers.Dense(32)(inputs))
    model = tf_wta.WTAModel(inputs, outputs)
    model.compile(tf_wta.LazyAdam(0.02), tf_wta.MultiLabelSoftmaxCrossentropy(),
                  metrics=[tf_wta.PrecisionAtK(1)])
    before = model.evaluate(x, labels, batch_size=128, verbose=0, return_dict=True)
    history = model.fit(train, epochs=4, verbose=0).history
    after = model.evaluate(x, labels, batch_size=128, verbose=0, return_dict=True)
    assert history["loss"][-1] < history["loss"][0]
    assert after["precision_at_1"] > max(0.6, before["precision_at_1"] + 0.4), (before, after)
    # evaluate's P@1 is the exact one: the best class over all 400 units.
    scores = model.predict(x, verbose=0)
    precision, _ = tf_wta.ranking_scores(labels, scores, 1)
    assert after["precision_at_1"] == pytest.approx(float(np.mean(precision)), abs=1e-6)


def test_binary_crossentropy_trains_on_multi_hot_candidate_targets():
    x, labels = multi_label_data(300, 32, 512, seed=2)
    inputs = keras.Input((32,))
    model = tf_wta.WTAModel(inputs, tf_wta.WTADense(300, num_uniform=64, seed=0)(inputs))
    model.compile(tf_wta.LazyAdam(0.05), keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[tf_wta.PrecisionAtK(1)])
    loss = model.fit(x, labels, batch_size=64, epochs=10, verbose=0).history["loss"]
    assert loss[-1] < 0.5 * loss[0]
    # Chance is about 0.007; without a correction for the uniform stratum the
    # classes never drawn are not pushed down, so it stays well below the
    # softmax loss's precision (measured 0.40 here).
    assert model.evaluate(x, labels, verbose=0, return_dict=True)["precision_at_1"] > 0.25


def test_bad_multi_labels_are_clear_errors():
    inputs = keras.Input((8,))
    model = tf_wta.WTAModel(inputs, tf_wta.WTADense(50, num_uniform=8, seed=0)(inputs))
    model.compile("sgd", tf_wta.MultiLabelSoftmaxCrossentropy())
    x = np.zeros((2, 8), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be < units=50"):
        model.fit(x, np.array([[1, 50], [2, -1]], np.int32), verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="-1 pads multi-label rows"):
        model.fit(x, np.array([[1, -2], [2, -1]], np.int32), verbose=0)


def test_sampled_binary_crossentropy_weighs_scored_negatives_for_all_of_them():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((4, 10)).astype(np.float32)
    targets = (rng.random((4, 10)) < 0.2).astype(np.float32)
    targets[0] = 0
    # Every class scored: Keras' mean binary cross-entropy.
    keras_bce = keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)
    np.testing.assert_allclose(
        tf_wta.SampledBinaryCrossentropy(10, reduction=None)(targets, logits).numpy(),
        keras_bce(targets[..., None], logits[..., None]).numpy().mean(axis=1), rtol=1e-5)
    # Candidates of 100 classes, one slot empty: scored negatives stand for all.
    logits[:, -1] = -1e9
    per_class = np.logaddexp(0, logits) - targets * logits
    scored = np.arange(10) < 9
    positives = (targets * scored).sum(1)
    negatives = ((1 - targets) * scored).sum(1)
    expected = ((per_class * targets * scored).sum(1) + (100 - positives) / negatives
                * (per_class * (1 - targets) * scored).sum(1)) / 100
    np.testing.assert_allclose(
        tf_wta.SampledBinaryCrossentropy(100, reduction=None)(targets, logits).numpy(),
        expected, rtol=1e-5)
    with pytest.raises(ValueError, match="units must be an int >= 1"):
        tf_wta.SampledBinaryCrossentropy(0)


@pytest.mark.parametrize("chunk_units", [7, 64, 1000])
def test_exact_top_k_in_chunks_matches_numpy(chunk_units):
    layer = tf_wta.WTADense(300, seed=0)
    x = tf.random.stateless_normal([6, 16], seed=[5, 6])
    layer(x)
    layer.bias.assign(tf.random.stateless_normal([300], seed=[7, 8]))
    scores, ids = layer.exact_top_k(x, 5, chunk_units=chunk_units)
    logits = x.numpy() @ layer.kernel.numpy().T + layer.bias.numpy()
    expected = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(ids.numpy(), expected)
    np.testing.assert_allclose(scores.numpy(), np.take_along_axis(logits, expected, 1),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="k=301 must be <= units=300"):
        layer.exact_top_k(x, 301)


def test_ranking_evaluation_in_chunks_equals_evaluate_on_exact_outputs():
    x, labels = multi_label_data(200, 16, 300, seed=4)
    inputs = keras.Input((16,))
    model = tf_wta.WTAModel(inputs, tf_wta.WTADense(200, num_uniform=32, seed=0)(inputs))
    model.compile(tf_wta.LazyAdam(0.05), tf_wta.MultiLabelSoftmaxCrossentropy(),
                  metrics=[tf_wta.PrecisionAtK(k) for k in (1, 3)]
                  + [tf_wta.NDCGAtK(k) for k in (1, 3)])
    model.fit(x, labels, batch_size=50, epochs=3, verbose=0)
    evaluated = model.evaluate(x, labels, batch_size=60, verbose=0, return_dict=True)
    chunked = tf_wta.ranking_evaluation(
        model, tf.data.Dataset.from_tensor_slices((x, labels)).batch(60), ks=(1, 3),
        chunk_units=37)
    for name, value in chunked.items():
        assert value == pytest.approx(evaluated[name], abs=1e-5), name
