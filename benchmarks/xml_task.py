"""A seeded extreme-classification task shaped like the Extreme Classification Repository's data.

Points are sparse bags of features (default 50,000 features, 50 to 100
non-zeros per point, positive tf-idf-like values, every row L2-normalised) and
carry one of `num_labels` labels. Label frequencies follow Zipf's law with a
chosen exponent (default 1.0); the label id is the frequency rank (id 0 the
most frequent), as in a vocabulary sorted by frequency. The training split is
fixed (an epoch repeats it) and the test split is drawn separately from the
same distribution.

How a point's features depend on its label (a point of `nnz` non-zeros):
  * round(0.15 nnz) distinct features of the label's own signature pool
    (31 features per label);
  * structure="clusters": round(0.35 nnz) distinct features of its cluster's
    pool (61 features per cluster). Labels form clusters of 10 to 50
    confusable siblings (a random partition of the ids, so siblings have
    unrelated frequencies) whose points share these features, so a sibling's
    logit is high on a point it does not own: the hard negatives of real
    catalogues. structure="none": these draws are noise instead;
  * the rest uniform noise over all features.
Both structures give a point the same signature draws, the only evidence that
tells a label from its siblings under "clusters" and from every other label
under "none", so they are comparably learnable; the cluster draws only narrow
a point down to its cluster. Draws that coincide merge into one non-zero with
term frequency 2 (a few rows end up with slightly fewer than 50 non-zeros).
A value is idf * (1 + log tf), with a fixed idf-like weight in [1, 3] per
feature, then the row is L2-normalised.

Sizes: the training split defaults to min(10 * num_labels, 500,000) points:
500,000 points hold about 37.5M non-zeros, 306 MB as CSR (int32 feature ids,
float32 values) at both 100,000 and 1,000,000 labels; the catalogue adds
14 MB at 100,000 labels and 144 MB at 1,000,000. Generation is vectorised
numpy in chunks of 100,000 points: `make_task` takes about 4 s at either size
(500,000 training and 5,000 test points, one core; about 1.4 GB peak
resident, TensorFlow included) and is deterministic for a seed.

Input pipeline (`train_dataset`): the CSR arrays are graph constants; each
batch is a slice of a per-epoch permutation, gathered into a
`tf.SparseTensor` in the graph. Measured alone (batches consumed in the
graph, 2 cores), batch 128: about 0.3 ms wall and 0.6 ms of CPU per batch,
small next to a 15 ms training step.
"""
import dataclasses

import numpy as np
import tensorflow as tf

STRUCTURES = ("clusters", "none")
# Pool sizes are primes, so every stride is coprime with them (_distinct_slots).
SIGNATURE_POOL = 31
CLUSTER_POOL = 61
SIGNATURE_SHARE = 0.15
CLUSTER_SHARE = 0.35
CLUSTER_SIZES = (10, 50)
NONZEROS = (50, 100)
IDF_RANGE = (1.0, 3.0)
MAX_DEFAULT_TRAIN_POINTS = 500_000
GENERATION_CHUNK = 100_000


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """The labels and what ties a point's features to its label.

    Attributes:
      structure: "clusters" or "none" (see the module docstring).
      num_features: int F.
      probabilities: float64 [L], Zipf frequencies, decreasing with the label id.
      cluster_of: int32 [L], each label's cluster of siblings. With
        structure="none" the clusters exist (for comparisons) but share no
        features.
      signatures: int32 [L, SIGNATURE_POOL], each label's own feature pool.
      cluster_pools: int32 [clusters, CLUSTER_POOL], each cluster's feature pool.
      idf: float32 [F], the idf-like weight of each feature.
    """
    structure: str
    num_features: int
    probabilities: np.ndarray
    cluster_of: np.ndarray
    signatures: np.ndarray
    cluster_pools: np.ndarray
    idf: np.ndarray

    @property
    def num_labels(self):
        """int L."""
        return len(self.probabilities)


@dataclasses.dataclass(frozen=True)
class SparseSplit:
    """Points as CSR rows with their labels.

    Attributes:
      indptr: int64 [n + 1], row i holds entries indptr[i]:indptr[i + 1].
      indices: int32 [nnz], feature ids, increasing within a row.
      values: float32 [nnz], positive; every row has L2 norm 1.
      labels: int32 [n].
      num_features: int F.
    """
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    labels: np.ndarray
    num_features: int

    def __len__(self):
        return len(self.labels)

    def tensors(self):
        """(indptr int64 [n + 1], indices int32 [nnz], values float32 [nnz]) as tf constants."""
        return tuple(tf.constant(a) for a in (self.indptr, self.indices, self.values))

    def chunks(self, size):
        """Yields the split in order as (tf.SparseTensor float32 [m, F], numpy
        int32 labels [m]) pieces of m = `size` rows (fewer in the last)."""
        csr = self.tensors()
        for start in range(0, len(self), size):
            stop = min(start + size, len(self))
            rows = tf.range(start, stop, dtype=tf.int64)
            yield sparse_rows(csr, rows, self.num_features), self.labels[start:stop]


@dataclasses.dataclass(frozen=True)
class XMLTask:
    """A generated task: the catalogue, a fixed training split and a test split."""
    catalogue: Catalogue
    train: SparseSplit
    test: SparseSplit


def default_train_points(num_labels):
    """min(10 * num_labels, MAX_DEFAULT_TRAIN_POINTS): 10 points per label
    on average, capped at about 300 MB of CSR."""
    return min(10 * num_labels, MAX_DEFAULT_TRAIN_POINTS)


def zipf_probabilities(num_labels, exponent):
    """P(label k) proportional to (k + 1) ** -exponent: float64 [num_labels]."""
    weights = np.arange(1, num_labels + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def _cluster_assignment(num_labels, rng):
    """int32 [num_labels]: a random partition of the labels into clusters of
    CLUSTER_SIZES[0] to CLUSTER_SIZES[1] labels (the last one may be smaller)."""
    low, high = CLUSTER_SIZES
    sizes = rng.integers(low, high + 1, num_labels // low + 1)
    clusters = int(np.searchsorted(np.cumsum(sizes), num_labels)) + 1
    cluster_of = np.repeat(np.arange(clusters, dtype=np.int32), sizes[:clusters])[:num_labels]
    return cluster_of[rng.permutation(num_labels)]


def make_catalogue(num_labels, num_features=50_000, structure="clusters", zipf_exponent=1.0,
                   seed=0):
    """The label frequencies, clusters and feature pools.

    Args:
      num_labels: int L; num_features: int F.
      structure: "clusters" or "none".
      zipf_exponent: float, P(label k) proportional to (k + 1) ** -exponent.
      seed: int. The pools do not depend on `structure`: the two structures
        of a seed have the same signatures and clusters.
    Returns: a Catalogue.
    """
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
    rng = np.random.default_rng([seed, 0])
    cluster_of = _cluster_assignment(num_labels, rng)
    clusters = int(cluster_of.max()) + 1
    return Catalogue(
        structure=structure, num_features=num_features,
        probabilities=zipf_probabilities(num_labels, zipf_exponent),
        cluster_of=cluster_of,
        signatures=rng.integers(0, num_features, (num_labels, SIGNATURE_POOL), dtype=np.int32),
        cluster_pools=rng.integers(0, num_features, (clusters, CLUSTER_POOL), dtype=np.int32),
        idf=rng.uniform(*IDF_RANGE, num_features).astype(np.float32))


def _distinct_slots(draw, row, pool, num_rows, rng):
    """Distinct pool slots per row without a per-row permutation: row r's j-th
    draw takes slot (start_r + j * stride_r) mod pool, which never repeats
    within pool draws since the stride is coprime with the prime pool size.

    Args:
      draw: int64 [n], j, the draw's rank among its row's draws from the pool.
      row: int64 [n], the row of each draw, in [0, num_rows).
    Returns: int64 [n] slots in [0, pool).
    """
    start = rng.integers(0, pool, num_rows)
    stride = rng.integers(1, pool, num_rows)
    return (start[row] + draw * stride[row]) % pool


def _draw_features(catalogue, labels, nonzeros, rng):
    """The feature id of every draw of a chunk of points.

    Args:
      labels: int32 [m]; nonzeros: int64 [m], draws per point.
    Returns:
      (row, feature): int64 [sum(nonzeros)] each, rows in order.
    """
    m = len(labels)
    row = np.repeat(np.arange(m), nonzeros)
    rank = np.arange(len(row)) - np.repeat(np.cumsum(nonzeros) - nonzeros, nonzeros)
    num_signature = np.rint(SIGNATURE_SHARE * nonzeros).astype(np.int64)[row]
    num_cluster = np.rint(CLUSTER_SHARE * nonzeros).astype(np.int64)[row]
    feature = rng.integers(0, catalogue.num_features, len(row))
    signature = rank < num_signature
    slots = _distinct_slots(rank[signature], row[signature], SIGNATURE_POOL, m, rng)
    feature[signature] = catalogue.signatures[labels[row[signature]], slots]
    if catalogue.structure == "clusters":
        cluster = ~signature & (rank < num_signature + num_cluster)
        slots = _distinct_slots(rank[cluster] - num_signature[cluster], row[cluster],
                                CLUSTER_POOL, m, rng)
        pools = catalogue.cluster_of[labels[row[cluster]]]
        feature[cluster] = catalogue.cluster_pools[pools, slots]
    return row, feature


def _merge_into_csr(row, feature, num_rows, idf):
    """CSR of draws (row, feature) int64 [n]: coinciding draws merge (term
    frequency tf), values idf * (1 + log tf), rows L2-normalised.

    Returns: (indptr int64 [num_rows + 1], indices int32 [nnz], values float32 [nnz]).
    """
    num_features = len(idf)
    keys = np.sort(row * num_features + feature)
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]
    term_frequency = np.diff(np.append(np.flatnonzero(first), len(keys)))
    row, feature = np.divmod(keys[first], num_features)
    values = idf[feature] * (1 + np.log(term_frequency)).astype(np.float32)
    indptr = np.zeros(num_rows + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=num_rows), out=indptr[1:])
    norms = np.sqrt(np.add.reduceat(values**2, indptr[:-1]))
    values /= np.repeat(norms, np.diff(indptr))
    return indptr, feature.astype(np.int32), values


def sample_split(catalogue, num_points, rng, chunk=GENERATION_CHUNK):
    """`num_points` points drawn from the task's distribution (see the module
    docstring), generated `chunk` points at a time to bound the temporaries.

    Args:
      rng: numpy Generator; the split is deterministic for its state.
    Returns: a SparseSplit of num_points rows.
    """
    cdf = np.cumsum(catalogue.probabilities)
    pieces = []
    for start in range(0, num_points, chunk):
        m = min(chunk, num_points - start)
        labels = np.minimum(np.searchsorted(cdf, rng.random(m) * cdf[-1], side="right"),
                            catalogue.num_labels - 1).astype(np.int32)
        nonzeros = rng.integers(NONZEROS[0], NONZEROS[1] + 1, m)
        row, feature = _draw_features(catalogue, labels, nonzeros, rng)
        pieces.append((*_merge_into_csr(row, feature, m, catalogue.idf), labels))
    offsets = np.cumsum([0] + [p[0][-1] for p in pieces])
    indptr = np.concatenate([[0]] + [p[0][1:] + o for p, o in zip(pieces, offsets)])
    return SparseSplit(indptr=indptr, indices=np.concatenate([p[1] for p in pieces]),
                       values=np.concatenate([p[2] for p in pieces]),
                       labels=np.concatenate([p[3] for p in pieces]),
                       num_features=catalogue.num_features)


def make_task(num_labels, num_features=50_000, structure="clusters", zipf_exponent=1.0,
              train_points=None, test_points=5000, seed=0):
    """The task for a seed: its catalogue, training split and test split.

    Args:
      num_labels, num_features, structure, zipf_exponent: see `make_catalogue`.
      train_points: int, default `default_train_points(num_labels)`.
      test_points: int.
      seed: int.
    Returns: an XMLTask. Splits are deterministic for (arguments, seed); the
    two structures of a seed share their labels' frequencies and pools.
    """
    catalogue = make_catalogue(num_labels, num_features, structure, zipf_exponent, seed)
    train_points = train_points or default_train_points(num_labels)
    return XMLTask(catalogue=catalogue,
                   train=sample_split(catalogue, train_points, np.random.default_rng([seed, 1])),
                   test=sample_split(catalogue, test_points, np.random.default_rng([seed, 2])))


def sparse_rows(csr, rows, num_features):
    """Gathers CSR rows into a SparseTensor, in the graph or eagerly.

    Args:
      csr: (indptr int64 [n + 1], indices int32 [nnz], values float32 [nnz]) tensors.
      rows: int64 [B], row ids.
      num_features: int F.
    Returns:
      tf.SparseTensor float32 [B, F] in canonical order.
    """
    indptr, indices, values = csr
    positions = tf.ragged.range(tf.gather(indptr, rows), tf.gather(indptr, rows + 1))
    entries = positions.flat_values
    coordinates = tf.stack([positions.value_rowids(),
                            tf.cast(tf.gather(indices, entries), tf.int64)], axis=1)
    shape = tf.stack([tf.size(rows, out_type=tf.int64), tf.constant(num_features, tf.int64)])
    return tf.SparseTensor(coordinates, tf.gather(values, entries), shape)


def train_dataset(split, batch_size, seed=0):
    """Endless training batches: each epoch a new permutation of the split,
    cut into full batches (the remainder skipped), gathered in the graph.

    Args:
      split: SparseSplit with at least batch_size rows.
      batch_size: int B.
      seed: int; the order is deterministic for it.
    Returns:
      tf.data.Dataset of (tf.SparseTensor float32 [B, F], int32 [B]), prefetched.
    """
    csr, labels = split.tensors(), tf.constant(split.labels)
    num_batches = len(split) // batch_size

    def epoch(index):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(len(split), dtype=tf.int64), seed=tf.stack([tf.cast(seed, tf.int64), index]))
        batches = tf.reshape(order[:num_batches * batch_size], [num_batches, batch_size])
        return tf.data.Dataset.from_tensor_slices(batches)

    def batch(rows):
        return sparse_rows(csr, rows, split.num_features), tf.gather(labels, rows)

    return (tf.data.Dataset.counter().flat_map(epoch)
            .map(batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
