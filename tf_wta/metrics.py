"""Ranking metrics of extreme classification: precision@k and nDCG@k."""
import keras
import tensorflow as tf

from tf_wta.labels import label_matrix, multi_hot
from tf_wta.layers.wta_dense import WTADense


def _relevance(y_true, y_pred):
    """y_true as float [B, N] multi-hot over y_pred's N columns: from a
    multi-hot [B, N] (float, or int of N columns), or from int class ids
    ([B], [B, k] -1 padded, ragged)."""
    if not isinstance(y_true, tf.RaggedTensor):
        y_true = tf.convert_to_tensor(y_true)
        num_units = y_pred.shape[-1]
        if y_true.dtype.is_floating or (y_true.shape.rank == 2 and num_units is not None
                                        and y_true.shape[-1] == num_units):
            return tf.cast(y_true, y_pred.dtype)
    labels, _ = label_matrix(y_true)
    return multi_hot(labels, tf.shape(y_pred)[-1], y_pred.dtype)


def ranking_scores(y_true, y_pred, k):
    """Per-example precision@k and nDCG@k of scores against relevant classes.

    Args:
      y_true: the relevant classes: float [B, N] multi-hot, or int class ids
        ([B], [B, k'] padded with -1, or ragged [B, None]).
      y_pred: float [B, N] scores (exact logits or probabilities).
      k: int >= 1 (at most N).
    Returns:
      (precision, ndcg): float [B] each; an example without a relevant
      class scores 0 in both.
    """
    y_pred = tf.convert_to_tensor(y_pred)
    relevance = _relevance(y_true, y_pred)
    hits = tf.gather(relevance, tf.math.top_k(y_pred, k).indices, batch_dims=1)
    return _scores_of_hits(hits, tf.reduce_sum(relevance, axis=1))


def ranking_scores_of_ids(labels, top_ids):
    """Precision@k and nDCG@k of ranked class ids (e.g. `WTADense.exact_top_k`),
    without any [B, N] tensor.

    Args:
      labels: the relevant class ids: int [B], [B, k'] padded with -1, or
        ragged [B, None] (distinct within a row).
      top_ids: int [B, k], each row's classes best first.
    Returns:
      (precision, ndcg): float32 [B] each.
    """
    labels, _ = label_matrix(labels)
    top_ids = tf.cast(top_ids, tf.int32)
    hits = tf.reduce_any(tf.logical_and(tf.equal(top_ids[:, :, None], labels[:, None, :]),
                                        labels[:, None, :] >= 0), axis=2)
    return _scores_of_hits(tf.cast(hits, tf.float32),
                           tf.reduce_sum(tf.cast(labels >= 0, tf.float32), axis=1))


def _scores_of_hits(hits, num_relevant):
    """(precision, ndcg) [B] from float hits [B, k] (1 where the class at
    that rank is relevant) and the number of relevant classes [B]."""
    k = hits.shape[1]
    precision = tf.reduce_sum(hits, axis=1) / k
    discounts = tf.math.log(tf.constant(2.0, hits.dtype)) / tf.math.log(
        tf.range(2, k + 2, dtype=hits.dtype))
    dcg = tf.reduce_sum(hits * discounts, axis=1)
    positives = tf.cast(tf.minimum(num_relevant, k), tf.int32)
    ideal = tf.gather(tf.concat([[0.0], tf.cumsum(discounts)], axis=0), positives)
    return precision, tf.math.divide_no_nan(dcg, tf.cast(ideal, dcg.dtype))


def ranking_evaluation(model, dataset, ks=(1, 3, 5), chunk_units=65_536):
    """Exact P@k and nDCG@k of a model whose output is a
    `WTADense(mode="output")`, over a dataset, without materialising the
    `[B, units]` outputs: each batch's exact top max(ks) classes come from
    `WTADense.exact_top_k` (chunks of `chunk_units` kernel rows).

    Args:
      model: a built Keras model (functional or Sequential) ending in the
        WTADense.
      dataset: a `tf.data.Dataset` of (inputs, labels), labels as
        `WTAModel.fit` takes them.
      ks: ints >= 1.
      chunk_units: kernel rows scored at once (memory B x chunk_units).
    Returns:
      {"precision_at_k": float, "ndcg_at_k": float} for each k, means over
      the dataset's examples.
    """
    layer = model.layers[-1]
    if not isinstance(layer, WTADense):
        raise ValueError(f"ranking_evaluation needs a model ending in a WTADense, got "
                         f"{type(layer).__name__}")
    features = keras.Model(model.inputs, layer.input)
    largest = max(ks)

    @tf.function
    def scores_of_batch(x, labels):
        _, top_ids = layer.exact_top_k(features(x, training=False), largest, chunk_units)
        return [ranking_scores_of_ids(labels, top_ids[:, :k]) for k in ks]

    sums = {f"{name}_at_{k}": 0.0 for k in ks for name in ("precision", "ndcg")}
    count = 0
    for x, labels in dataset:
        for k, (precision, ndcg) in zip(ks, scores_of_batch(x, labels)):
            sums[f"precision_at_{k}"] += float(tf.reduce_sum(precision))
            sums[f"ndcg_at_{k}"] += float(tf.reduce_sum(ndcg))
        count += int(tf.shape(precision)[0])
    return {name: total / max(count, 1) for name, total in sums.items()}


class _RankingMetric(keras.metrics.Mean):
    def __init__(self, k, name, dtype=None):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        super().__init__(name=name, dtype=dtype)
        self.k = k

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch: y_true float `[B, N]` multi-hot or int class ids
        (`[B]`, `[B, k']` padded with -1, ragged `[B, None]`), y_pred float
        `[B, N]` scores, sample_weight float `[B]` or None."""
        precision, ndcg = ranking_scores(y_true, y_pred, self.k)
        return super().update_state(self._select(precision, ndcg), sample_weight)

    def get_config(self):
        """The constructor's arguments, for Keras saving."""
        return {"k": self.k, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="tf_wta")
class PrecisionAtK(_RankingMetric):
    """Mean precision@k: the share of an example's k best-scored classes
    that are relevant. `update_state(y_true, y_pred)`: y_true multi-hot
    [B, N] or class ids (int [B], [B, k'] padded with -1, ragged); y_pred
    float [B, N] scores. In `WTAModel.evaluate` (exact outputs) it is the
    field's P@k; as a training metric it ranks the candidate set only."""

    def __init__(self, k=1, name=None, dtype=None):
        super().__init__(k, name or f"precision_at_{k}", dtype)

    def _select(self, precision, ndcg):
        return precision


@keras.saving.register_keras_serializable(package="tf_wta")
class NDCGAtK(_RankingMetric):
    """Mean nDCG@k with binary relevance: sum over the k best-scored classes
    of relevance / log2(rank + 1), divided by its best possible value for
    the example's number of relevant classes. Inputs as `PrecisionAtK`
    (y_true multi-hot float `[B, N]` or int class ids, y_pred float `[B, N]`)."""

    def __init__(self, k=1, name=None, dtype=None):
        super().__init__(k, name or f"ndcg_at_{k}", dtype)

    def _select(self, precision, ndcg):
        return ndcg
