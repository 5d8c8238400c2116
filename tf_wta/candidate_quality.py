"""How good a hashed candidate set is: recall of the exact top classes and
the share of the softmax partition function it covers."""
import keras
import numpy as np
import tensorflow as tf

from tf_wta.layers.retrieval import logit_chunks, merge_top_k
from tf_wta.layers.row_shards import RowShards


def candidate_quality(inputs, kernel, bias, candidates, ks=(1, 10), chunk_units=65536):
    """Measures candidates against the exact logits, without materialising
    `[B, N]` (the units are scanned in chunks).

    Args:
      inputs: float32 [B, D], the inputs of the output layer.
      kernel: float32 [N, D], one row per class, or a `RowShards` of row
        blocks (a `ShardedWTADense`'s); bias: float32 [N], a `RowShards`
        or None.
      candidates: int32 [B, C] per example, or [C] shared by the batch; -1
        marks an empty slot and repeated ids count once.
      ks: the k of recall@k.
      chunk_units: units scored at once ([B, chunk_units] logits in memory).
    Returns:
      dict of Python floats: "recall@k" for each k, the mean over rows of the
      fraction of the exact top-k classes among the candidates; and
      "partition_share", the mean over rows of sum(exp(logit)) over the
      distinct candidates divided by that over all N classes.
    """
    inputs = tf.convert_to_tensor(inputs, tf.float32)
    if not isinstance(kernel, RowShards):
        kernel = RowShards([tf.convert_to_tensor(kernel)])
        bias = None if bias is None else RowShards([tf.convert_to_tensor(bias)])
    batch = int(inputs.shape[0])
    best, log_partition = None, tf.fill([batch], -np.inf)
    for first, logits in logit_chunks(inputs, kernel.row_blocks(bias), chunk_units):
        log_partition = tf.reduce_logsumexp(
            tf.concat([log_partition[:, None], logits], axis=1), axis=1)
        best = merge_top_k(best, first, logits, max(ks))
    best_ids = best[1].numpy()

    candidates = np.asarray(candidates)
    shared = candidates.ndim == 1
    rows = [candidates] if shared else list(candidates)
    chosen = [np.unique(row[row >= 0]) for row in rows]
    quality = {f"recall@{k}": float(np.mean([np.isin(best_ids[b, :k], chosen[0 if shared else b])
                                              .mean() for b in range(batch)])) for k in ks}

    def candidate_log_partition(ids, x):
        logits = tf.matmul(x, kernel.gather(ids), transpose_b=True)
        if bias is not None:
            logits += bias.gather(ids)
        return tf.reduce_logsumexp(logits, axis=1)

    # A shared set is scored for the whole batch at once.
    covered = (candidate_log_partition(chosen[0], inputs) if shared else
               tf.concat([candidate_log_partition(ids, inputs[b:b + 1])
                          for b, ids in enumerate(chosen)], axis=0))
    quality["partition_share"] = float(tf.reduce_mean(tf.exp(covered - log_partition)))
    return quality


class CandidateQuality(keras.callbacks.Callback):
    """Logs the quality of a WTADense's training candidates during `fit`.

    On a fixed held-out batch (model inputs), every `every_n_steps` steps
    and at the end of each epoch, it measures the candidates the output
    layer would score for that batch, without its labels
    (`WTADense.training_candidates`: hashed classes and uniform draws),
    against the exact logits: see `candidate_quality`. The epoch's values go into the
    logs (and so into the History) as "candidate_recall@k" and
    "candidate_partition_share"; every measurement is also kept in
    `self.measurements` as (step, dict).

    Args:
      inputs: a held-out batch of model inputs (e.g. float `[256, D]`).
      layer: the WTADense (or ShardedWTADense) to measure (default: the
        model's last layer).
      ks: the k of recall@k, default (1, 10).
      every_n_steps: also measure every this many training steps (None: at
        epoch ends only).
    """

    def __init__(self, inputs, layer=None, ks=(1, 10), every_n_steps=None):
        super().__init__()
        self.inputs, self.layer, self.ks = inputs, layer, tuple(ks)
        self.every_n_steps = every_n_steps
        self.measurements, self._features, self._step = [], None, 0

    def measure(self):
        """The candidate quality now: dict of Python floats."""
        layer = self.layer or self.model.layers[-1]
        if self._features is None:
            self._features = keras.Model(self.model.input, layer.input)
        features = self._features(self.inputs, training=False)
        kernel, bias = layer._row_source()
        quality = candidate_quality(features, kernel, bias, layer.training_candidates(features),
                                    self.ks)
        self.measurements.append((self._step, quality))
        return quality

    def on_train_batch_end(self, batch, logs=None):
        """Counts a step; measures every `every_n_steps` steps (Python floats, see `measure`)."""
        self._step += 1
        if self.every_n_steps and self._step % self.every_n_steps == 0:
            self.measure()

    def on_epoch_end(self, epoch, logs=None):
        """Measures, and adds the values to the epoch's logs as `candidate_<name>`."""
        quality = self.measure()
        if logs is not None:
            logs.update({f"candidate_{name}": value for name, value in quality.items()})
