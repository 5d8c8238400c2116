"""build_index and query_index against numpy brute force, in variables and
tf.functions, and the recall of the whole hash -> index -> query pipeline, on
every device (see conftest.py)."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import ops as framework_ops

import references
import tf_wta
from devices import place

pytestmark = pytest.mark.usefixtures("device")

# (N, L, num_buckets, B, C): few buckets (many collisions and count ties), C
# above the number of colliding units, the size, empty cases.
SIZES = [(30, 4, 3, 20, 10), (30, 4, 3, 20, 40), (200, 8, 16, 33, 17), (1000, 3, 50, 40, 64),
         (20_000, 50, 512, 48, 100), (0, 5, 7, 4, 3), (50, 6, 4, 0, 5), (50, 6, 4, 5, 0),
         (10, 0, 4, 3, 2), (1, 1, 1, 2, 3)]


def random_buckets(rng, rows, num_tables, num_buckets):
    return rng.integers(0, num_buckets, (rows, num_tables)).astype(np.int32)


@pytest.mark.parametrize("max_bucket_size", [None, 1, 3])
@pytest.mark.parametrize("num_units,num_tables,num_buckets,batch,num_candidates", SIZES)
def test_query_matches_brute_force(num_units, num_tables, num_buckets, batch, num_candidates,
                                   max_bucket_size):
    rng = np.random.default_rng(num_units + num_tables + batch)
    unit_buckets = random_buckets(rng, num_units, num_tables, num_buckets)
    query_buckets = random_buckets(rng, batch, num_tables, num_buckets)
    index = tf_wta.build_index(place(unit_buckets), num_buckets)
    candidates = tf_wta.query_index(query_buckets, index, num_candidates,
                                    max_bucket_size=max_bucket_size)
    assert candidates.shape == (batch, num_candidates)
    expected = references.query_index(unit_buckets, query_buckets, num_candidates,
                                      max_bucket_size)
    np.testing.assert_array_equal(candidates.numpy(), expected)


@pytest.mark.parametrize("max_bucket_size", [None, 1, 3])
@pytest.mark.parametrize("num_units,num_tables,num_buckets,batch,num_candidates", SIZES)
def test_pooled_query_matches_brute_force(num_units, num_tables, num_buckets, batch,
                                          num_candidates, max_bucket_size):
    rng = np.random.default_rng(num_units + num_tables + batch + 1)
    unit_buckets = random_buckets(rng, num_units, num_tables, num_buckets)
    query_buckets = random_buckets(rng, batch, num_tables, num_buckets)
    # Rows that repeat a bucket: counted with their multiplicity.
    query_buckets[1::3] = query_buckets[::3][:len(query_buckets[1::3])]
    index = tf_wta.build_index(place(unit_buckets), num_buckets)
    candidates = tf_wta.query_index_pooled(query_buckets, index, num_candidates,
                                           max_bucket_size=max_bucket_size)
    assert candidates.shape == (num_candidates,) and candidates.dtype == tf.int32
    expected = references.query_index_pooled(unit_buckets, query_buckets, num_candidates,
                                              max_bucket_size)
    np.testing.assert_array_equal(candidates.numpy(), expected)


def index_inputs(num_units, num_tables, num_buckets, batch, seed=0):
    """Unit and query buckets drawn from a few keys, so units collide even
    when num_buckets is large."""
    rng = np.random.default_rng(seed)
    keys = rng.choice(min(num_buckets, 2**31 - 1), min(num_buckets, 40), replace=False)
    keys = np.sort(keys).astype(np.int32)
    return (keys[rng.integers(0, len(keys), (num_units, num_tables))],
            keys[rng.integers(0, len(keys), (batch, num_tables))])


# (N, L, num_buckets, B, C) with few distinct keys: large buckets, the
# issue's table count, B = 2,000 rows (two query chunks on the GPU), the
# largest num_buckets, and empty cases.
COLLIDING_SIZES = [(30, 4, 3, 20, 40), (20_000, 50, 512, 300, 128), (20_000, 8, 64, 2000, 64),
                   (1000, 3, 2**31 - 1, 40, 16), (0, 5, 7, 4, 3), (50, 6, 4, 0, 5),
                   (50, 6, 4, 5, 0), (10, 0, 4, 3, 2)]


@pytest.mark.parametrize("max_bucket_size", [None, 2])
@pytest.mark.parametrize("num_units,num_tables,num_buckets,batch,num_candidates",
                         COLLIDING_SIZES)
def test_build_and_both_queries_with_colliding_keys(num_units, num_tables, num_buckets, batch,
                                                    num_candidates, max_bucket_size):
    unit_buckets, query_buckets = index_inputs(num_units, num_tables, num_buckets, batch)
    index = tf_wta.build_index(place(unit_buckets), num_buckets)
    expected_buckets, expected_units = references.build_index(unit_buckets)
    np.testing.assert_array_equal(index.sorted_buckets.numpy(), expected_buckets)
    np.testing.assert_array_equal(index.sorted_units.numpy(), expected_units)
    np.testing.assert_array_equal(
        tf_wta.query_index(query_buckets, index, num_candidates,
                           max_bucket_size=max_bucket_size).numpy(),
        references.query_index(unit_buckets, query_buckets, num_candidates, max_bucket_size))
    np.testing.assert_array_equal(
        tf_wta.query_index_pooled(query_buckets, index, num_candidates,
                                  max_bucket_size=max_bucket_size).numpy(),
        references.query_index_pooled(unit_buckets, query_buckets, num_candidates,
                                      max_bucket_size))


def test_pooled_query_shape_function():
    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.int32)])
    def query(query_buckets):
        index = tf_wta.build_index(tf.zeros([10, 4], tf.int32), 3)
        candidates = tf_wta.query_index_pooled(query_buckets, index, 7)
        assert candidates.shape.as_list() == [7]
        return candidates

    np.testing.assert_array_equal(query(tf.zeros([2, 4], tf.int32)).numpy(), np.arange(7))


def test_query_with_the_largest_bucket_count():
    rng = np.random.default_rng(3)
    keys = np.array([0, 5, 2**31 - 2, 123_456_789, 2**30], np.int32)
    unit_buckets = keys[rng.integers(0, len(keys), (500, 7))]
    query_buckets = keys[rng.integers(0, len(keys), (20, 7))]
    index = tf_wta.build_index(place(unit_buckets), 2**31 - 1)
    for cap in (None, 2):
        np.testing.assert_array_equal(
            tf_wta.query_index(query_buckets, index, 50, max_bucket_size=cap).numpy(),
            references.query_index(unit_buckets, query_buckets, 50, cap))
        np.testing.assert_array_equal(
            tf_wta.query_index_pooled(query_buckets, index, 50, max_bucket_size=cap).numpy(),
            references.query_index_pooled(unit_buckets, query_buckets, 50, cap))


@pytest.mark.parametrize("num_buckets", [1, 3, 2048, 2049, 2**22 + 5, 2**31 - 1])
def test_build_is_a_stable_sort_of_each_table(num_buckets):
    rng = np.random.default_rng(num_buckets)
    unit_buckets = random_buckets(rng, 3000, 5, num_buckets)
    unit_buckets[::7, 1] = num_buckets - 1
    first = tf_wta.build_index(place(unit_buckets), num_buckets)
    second = tf_wta.build_index(place(unit_buckets), num_buckets)
    expected_buckets, expected_units = references.build_index(unit_buckets)
    np.testing.assert_array_equal(first.sorted_buckets.numpy(), expected_buckets)
    np.testing.assert_array_equal(first.sorted_units.numpy(), expected_units)
    assert int(first.num_buckets) == num_buckets
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_index_lives_in_variables_and_is_queried_in_a_tf_function():
    rng = np.random.default_rng(5)
    num_units, num_tables, num_buckets = 700, 6, 9
    variables = tf_wta.Index(
        tf.Variable(tf.zeros([num_tables, num_units], tf.int32), trainable=False),
        tf.Variable(tf.zeros([num_tables, num_units], tf.int32), trainable=False),
        tf.Variable(1, trainable=False))

    @tf.function
    def rebuild(unit_buckets):
        for variable, value in zip(variables, tf_wta.build_index(unit_buckets, num_buckets)):
            variable.assign(value)

    @tf.function(input_signature=[tf.TensorSpec([None, num_tables], tf.int32)])
    def query(query_buckets):
        return tf_wta.query_index(query_buckets, variables, 12)

    unit_buckets = random_buckets(rng, num_units, num_tables, num_buckets)
    rebuild(tf.constant(unit_buckets))
    assert query.get_concrete_function().structured_outputs.shape.as_list() == [None, 12]
    for batch in (0, 1, 17):
        query_buckets = random_buckets(rng, batch, num_tables, num_buckets)
        np.testing.assert_array_equal(query(query_buckets).numpy(),
                                      references.query_index(unit_buckets, query_buckets, 12))


def test_index_ops_are_registered_as_not_differentiable():
    for op_name in ("WtaBuildIndex", "WtaQueryIndex"):
        assert framework_ops.gradient_registry.lookup(op_name) is None


def test_recall_of_the_exact_argmax_unit():
    """Noisy copies of weight rows (noise as large as the row: recall 0.957
    when written) find the unit with the largest dot product among 200
    candidates of 20,000 units."""
    rng = np.random.default_rng(0)
    num_units, dim, num_queries = 20_000, 128, 300
    window_size, codes_per_table, num_tables = 8, 2, 50
    weights = rng.standard_normal((num_units, dim)).astype(np.float32)
    rows = rng.choice(num_units, num_queries, replace=False)
    queries = weights[rows] + rng.standard_normal((num_queries, dim)).astype(np.float32)
    windows = tf_wta.wta_windows(dim, num_tables * codes_per_table, window_size, seed=1)

    def buckets(x):
        return tf_wta.wta_buckets(tf_wta.wta_hash(x, windows), window_size, codes_per_table)

    index = tf_wta.build_index(buckets(weights),
                               tf_wta.num_buckets(window_size, codes_per_table))
    candidates = tf_wta.query_index(buckets(queries), index, 200).numpy()
    best = np.argmax(queries @ weights.T, axis=1)
    recall = np.mean([b in c for b, c in zip(best, candidates)])
    assert recall >= 0.9, recall


def test_entries_in_no_bucket_are_accepted_and_never_match():
    """The GPU build stores an out-of-range unit bucket as 2**31 - 1 (no
    bucket); both queries accept such an index and match nothing there."""
    index = tf_wta.Index(place([[0, 2, 2**31 - 1], [1, 1, 2**31 - 1]]),
                         place([[0, 2, 1], [0, 1, 2]]), tf.constant(3))
    candidates = tf_wta.query_index([[0, 1], [2, 2]], index, 3)
    np.testing.assert_array_equal(candidates.numpy(), [[0, 1, -1], [2, -1, -1]])


def test_unchecked_query_gives_the_same_candidates():
    rng = np.random.default_rng(9)
    unit_buckets = random_buckets(rng, 2000, 10, 30)
    query_buckets = random_buckets(rng, 25, 10, 30)
    index = tf_wta.build_index(place(unit_buckets), 30)
    np.testing.assert_array_equal(
        tf_wta.query_index(query_buckets, index, 40, check_index=False).numpy(),
        references.query_index(unit_buckets, query_buckets, 40))


@pytest.mark.parametrize("max_bucket_size", [None, 2])
def test_query_with_skewed_bucket_keys(max_bucket_size):
    # The CPU query starts each table's search where evenly spread keys would
    # be; keys bunched far from there (and absent keys, and both ends of the
    # key range) must give the same candidates.
    rng = np.random.default_rng(21)
    num_buckets = 2**20
    clusters = np.array([0, 3, 700_000, 700_001, num_buckets - 1], np.int32)
    unit_buckets = clusters[rng.integers(0, len(clusters), (3000, 6))]
    unit_buckets[rng.random(unit_buckets.shape) < 0.1] = 500_000
    query_keys = np.concatenate([clusters, [1, 2, 500_000, 900_000, num_buckets - 2]])
    query_buckets = query_keys[rng.integers(0, len(query_keys), (40, 6))].astype(np.int32)
    index = tf_wta.build_index(place(unit_buckets), num_buckets)
    candidates = tf_wta.query_index(query_buckets, index, 50, max_bucket_size=max_bucket_size)
    expected = references.query_index(unit_buckets, query_buckets, 50, max_bucket_size)
    np.testing.assert_array_equal(candidates.numpy(), expected)


# The CPU query counts collisions densely (selecting over all N units) when a
# row's expected hits are a fair share of N, else over a list of the units it
# hits, and caches bucket ranges when buckets are few next to the batch
# (cc/kernels/query_index_cpu.cc): (N, L, num_buckets, B, C, max_bucket_size)
# for each combination, the hidden layer's defaults first.
COUNTING_CASES = [
    (1000, 100, 64, 64, 50, None),  # dense, cached ranges
    (300, 40, 256, 10, 30, None),  # dense, searched ranges
    (20_000, 10, 64, 64, 100, None),  # listed hits, cached ranges
    (1000, 100, 64, 64, 50, 2),  # the cap makes the same index list its hits
    (5000, 20, 4096, 30, 60, 3),  # listed hits, searched ranges
]


@pytest.mark.parametrize("num_units,num_tables,num_buckets,batch,num_candidates,max_bucket_size",
                         COUNTING_CASES)
def test_query_counting_strategies_match_brute_force(num_units, num_tables, num_buckets, batch,
                                                     num_candidates, max_bucket_size):
    rng = np.random.default_rng(num_units + num_tables)
    # Skewed keys, like SimHash's: a few large buckets, many count ties.
    popularity = rng.dirichlet(np.full(num_buckets, 0.3))
    unit_buckets = rng.choice(num_buckets, (num_units, num_tables), p=popularity).astype(np.int32)
    query_buckets = rng.choice(num_buckets, (batch, num_tables), p=popularity).astype(np.int32)
    index = tf_wta.build_index(place(unit_buckets), num_buckets)
    candidates = tf_wta.query_index(query_buckets, index, num_candidates,
                                    max_bucket_size=max_bucket_size, check_index=False)
    expected = references.query_index(unit_buckets, query_buckets, num_candidates,
                                      max_bucket_size)
    np.testing.assert_array_equal(candidates.numpy(), expected)
