"""The training forward pass of an output-mode WTADense: which classes a
step scores, and their outputs."""
import tensorflow as tf

from tf_wta.candidates import candidates_with_labels
from tf_wta.labels import check_label_range, label_matrix
from tf_wta.layers.training_step import current_training_step
from tf_wta.layers.candidate_sets import (append_uniform_draws, candidates_with_all_labels,
                                          shared_candidate_set, shared_logits)


class OutputTraining:
    """Mixed into `WTADense`: the candidate sets of mode="output" in training
    (its `call` inside `WTAModel`'s training step, and `CandidateQuality`),
    and the uniform draws both modes add."""

    def _row_source(self):
        """(kernel, bias) as the candidate paths read them: the variables
        here; `RowShards` of their blocks in `ShardedWTADense`."""
        return self.kernel, self.bias

    def _count_training_step(self, rebuild=True):
        """Counts a training step in the hash index, rebuilding it when due
        (and `rebuild`)."""
        self.index.count_training_step(self.kernel, rebuild=rebuild)

    def training_candidates(self, inputs):
        """The classes a training step would score for inputs, without their
        labels (what `CandidateQuality` measures): int32 [H + m] with
        candidates="shared" (see `shared_candidates`), else int32 [B, C + m],
        each row's hashed candidates then the uniform draws."""
        if self.candidates == "shared":
            return self.shared_candidates(inputs)
        candidates = self.query(inputs)
        if not self.num_uniform:
            return candidates
        uniform = tf.broadcast_to(self._uniform_draws()[None, :],
                                  [tf.shape(candidates)[0], self.num_uniform])
        return tf.concat([candidates, uniform], axis=1)

    def shared_candidates(self, inputs):
        """The classes a batch scores with candidates='shared', without its
        labels: int32 [B * num_candidates + num_uniform], each example's
        best num_candidates hashed classes (-1 padded; their union is the
        batch's hashed part) then the uniform draws (may repeat).

        Each example's own top classes, not the classes the batch collides
        with most in total (`query_index_pooled`): pooled counts favour hub
        classes that sit in huge buckets, and measured on a trained layer
        they recalled 3-4x fewer of the examples' exact top classes
        (docs/benchmarks.md, candidate hashing)."""
        if not self.num_candidates:
            return self._uniform_draws()
        hashed = tf.reshape(self.query(inputs, self.num_candidates), [-1])
        return tf.concat([hashed, self._uniform_draws()], axis=0)

    def _uniform_draws(self):
        """int32 [num_uniform] units drawn uniformly with replacement, a pure
        function of the layer's seed and the training step (the optimizer's
        iterations in `WTAModel`'s step, else the index's step count): both
        are saved with the model, so a run restored from a checkpoint or a
        `BackupAndRestore` backup draws what the uninterrupted run drew."""
        context = current_training_step()
        step = self.index.steps if context is None else context.step
        seed = tf.stack([tf.constant(self.uniform_seed, tf.int64), tf.cast(step, tf.int64)])
        return tf.random.stateless_uniform([self.num_uniform], seed, minval=0,
                                           maxval=self.units, dtype=tf.int32)

    def training_outputs(self, inputs, labels):
        """The training forward pass of an output layer (its `call` in
        `WTAModel`'s training step): counts the step (rebuilding the index
        when due and used), picks the candidates with every label among
        them, and computes the activation over the candidates only.

        Args:
          inputs: float32 [B, D].
          labels: int [B] or [B, 1] in [0, units); or, several per example,
            int [B, k] in [-1, units) padded with -1, or a ragged [B, None].
        Returns:
          (outputs, positions, ids). Shared: float32 [B, S] outputs over
          the batch's S classes, the column of each label (int32 [B], or
          [B, k] with -1 for padding when multi-label), int32 [S] the class
          ids. Per example: float32 [B, C'] outputs over each row's
          candidates then the U distinct uniform draws (empty or repeated
          slots at -1e9 before the activation), the label columns as
          above, int32 [B, C'] the unit ids.
        """
        labels, multi_label = label_matrix(labels)
        with tf.control_dependencies(check_label_range(labels, self.units)):
            self._count_training_step(rebuild=self.num_candidates > 0)
            if self.candidates == "shared":
                ids, positions = shared_candidate_set(
                    labels if multi_label else labels[:, 0], self.shared_candidates(inputs))
                outputs = shared_logits(inputs, *self._row_source(), ids)
                return self.activation(outputs), positions, ids
            if multi_label:
                candidates, positions = candidates_with_all_labels(self.query(inputs), labels)
            else:
                candidates, positions = candidates_with_labels(self.query(inputs), labels[:, 0])
        outputs = self._candidate_logits(inputs, candidates)
        if self.num_uniform:
            outputs, candidates = append_uniform_draws(inputs, *self._row_source(), candidates,
                                                       outputs, self._uniform_draws())
        return self.activation(outputs), positions, candidates
