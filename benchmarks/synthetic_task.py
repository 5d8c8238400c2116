"""A many-class task whose answer is known: confusable class prototypes plus noise.

Classes come in groups of `group_size`. The prototypes of a group share a
common component (pairwise cosine about `within_group_cosine`), and each group
has a nuisance direction `s_g`: an example of class c in group g is

    x = prototype[c] + nuisance * xi * s_g + noise * eps / sqrt(D),
    xi ~ N(0, 1),  eps ~ N(0, I_D).

The nuisance term moves examples across the group's decision boundaries, so
the classes of a group are confusable: the nearest prototype (what pulling
each class's weights towards its examples learns) is often wrong, while a
classifier that learned to discount `s_g`, which only training against the
group's other classes (hard negatives) teaches, is right. The Bayes-optimal
rule of this generative model is known in closed form (`oracle_top1`).
Prototypes are unit vectors in a random `latent_dim`-dimensional subspace of
R^D, so a 1,000,000-class task stores `[N, latent_dim]` coordinates, not
`[N, D]` prototypes.
"""
import numpy as np
import tensorflow as tf


class ConfusablePrototypes:
    """The task: `units` classes in `dim` features (see the module docstring).

    Args:
      units: int N, number of classes.
      dim: int D, number of features.
      latent_dim: int, dimension of the subspace holding the prototypes (at most D).
      group_size: int, classes per confusable group.
      within_group_cosine: float in [0, 1), cosine between prototypes of a group.
      nuisance: float, standard deviation of the nuisance coefficient xi * s_g.
      noise: float, isotropic noise norm relative to the prototype norm.
      noise_bank: int, training batches draw `eps` from this many fixed
        Gaussian vectors (fresh labels and xi, so fresh examples, for a gather
        instead of D new normals per example: the input pipeline shares the
        benchmark's cores). Test examples get fresh noise.
      seed: int, fixes the prototypes and nuisance directions.
    """

    def __init__(self, units, dim, latent_dim=128, group_size=10, within_group_cosine=0.5,
                 nuisance=1.0, noise=1.0, noise_bank=16384, seed=0):
        self.units, self.dim, self.seed = units, dim, seed
        self.nuisance, self.noise, self.group_size = nuisance, noise, group_size
        rng = np.random.default_rng(seed)
        latent_dim = min(latent_dim, dim)
        groups = -(-units // group_size)
        group_of = np.arange(units) // group_size
        shared = rng.standard_normal((groups, latent_dim), dtype=np.float32)
        latent = rng.standard_normal((units, latent_dim), dtype=np.float32)
        latent *= np.sqrt(1.0 - within_group_cosine)
        latent += np.sqrt(within_group_cosine) * shared[group_of]
        latent /= np.linalg.norm(latent, axis=1, keepdims=True)
        directions = rng.standard_normal((groups, latent_dim), dtype=np.float32)
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        # Orthonormal rows: prototypes keep the latent vectors' norms and cosines.
        basis, _ = np.linalg.qr(rng.standard_normal((dim, latent_dim)))
        self.latent = tf.Variable(latent, trainable=False, name="prototype_coordinates")
        self.directions = tf.Variable(directions, trainable=False, name="nuisance_directions")
        self.basis = tf.constant(basis.T.astype(np.float32))  # [latent_dim, D]
        self.noise_bank = tf.constant(
            (rng.standard_normal((noise_bank, dim)) * (noise / np.sqrt(dim))).astype(np.float32))

    def _clean(self, labels, xi, nuisance=None):
        """prototype + nuisance for labels int32 [B], xi float32 [B] -> [B, D]."""
        nuisance = self.nuisance if nuisance is None else nuisance
        groups = labels // self.group_size
        coordinates = (tf.gather(self.latent, labels)
                       + (nuisance * xi)[:, None] * tf.gather(self.directions, groups))
        return tf.matmul(coordinates, self.basis)

    def prototypes(self, start, stop):
        """The prototypes of classes [start, stop): float32 [stop - start, D]."""
        labels = tf.range(start, stop)
        return self._clean(labels, tf.zeros([stop - start]), nuisance=0.0)

    def dataset(self, batch_size, stream=0):
        """An endless tf.data stream of (float32 [B, D], int32 [B]) batches,
        deterministic for `stream`, drawn in the input pipeline."""

        def batch(step):
            seeds = tf.random.experimental.stateless_split(
                tf.stack([tf.cast(self.seed, tf.int64), stream * 2**32 + step]), 3)
            labels = tf.random.stateless_uniform([batch_size], seeds[0], 0, self.units, tf.int32)
            xi = tf.random.stateless_normal([batch_size], seeds[1])
            noise = tf.gather(self.noise_bank, tf.random.stateless_uniform(
                [batch_size], seeds[2], 0, self.noise_bank.shape[0], tf.int32))
            return self._clean(labels, xi) + noise, labels

        return tf.data.Dataset.counter().map(batch).prefetch(tf.data.AUTOTUNE)

    def sample(self, num_examples, stream=1, noise=None, nuisance=None):
        """A fixed set of examples (e.g. a test set) with fresh noise, as numpy
        arrays (float32 [n, D], int32 [n]); `noise` and `nuisance` override
        the task's (e.g. for queries closer to their prototypes)."""
        noise = self.noise if noise is None else noise
        rng = np.random.default_rng([self.seed, stream])
        y = rng.integers(0, self.units, num_examples).astype(np.int32)
        xi = rng.standard_normal(num_examples).astype(np.float32)
        eps = rng.standard_normal((num_examples, self.dim)) * (noise / np.sqrt(self.dim))
        return self._clean(y, xi, nuisance).numpy() + eps.astype(np.float32), y

    def oracle_top1(self, x, y, chunk=100_000):
        """Top-1 accuracy of the Bayes-optimal rule on x float32 [n, D], y int [n].

        Class c of group g is N(p_c, S_g) with S_g = (noise**2 / D) I +
        nuisance**2 s_g s_g^T; every S_g has the same determinant, so the
        rule is the largest 2 x.p_c - |p_c|^2 + k ((x - p_c).s_g)^2 with
        k = nuisance**2 / (nuisance**2 + noise**2 / D).
        """
        k = self.nuisance**2 / (self.nuisance**2 + self.noise**2 / self.dim)
        coordinates = tf.matmul(tf.constant(x), self.basis, transpose_b=True)  # [n, latent]
        best_score = tf.fill([len(x)], -np.inf)
        best = tf.zeros([len(x)], tf.int32)
        for start in range(0, self.units, chunk):
            labels = tf.range(start, min(start + chunk, self.units))
            prototypes = tf.gather(self.latent, labels)
            directions = tf.gather(self.directions, labels // self.group_size)
            along = (tf.matmul(coordinates, directions, transpose_b=True)
                     - tf.reduce_sum(prototypes * directions, axis=1))
            scores = (2 * tf.matmul(coordinates, prototypes, transpose_b=True)
                      - tf.reduce_sum(prototypes**2, axis=1) + k * along**2)
            chunk_best = tf.reduce_max(scores, axis=1)
            better = chunk_best > best_score
            best = tf.where(better, tf.cast(tf.argmax(scores, axis=1), tf.int32) + start, best)
            best_score = tf.where(better, chunk_best, best_score)
        return float(np.mean(best.numpy() == y))
