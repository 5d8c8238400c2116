"""Bad inputs to build_index and query_index give errors that name the input
and the value; nothing crashes. On every device: the kernels check shapes
on both; a bad value is an error on the CPU and gets the documented safe
result on the GPU, which never checks values (see conftest.py)."""
import collections

import numpy as np
import pytest
import tensorflow as tf

import references
import tf_wta
from devices import place

raw_ops = tf_wta.load_ops()


pytestmark = pytest.mark.usefixtures("device")  # see conftest.py

SMALL_UNIT_BUCKETS = np.array([[0, 1, 2], [1, 1, 0], [3, 0, 0], [2, 3, 1]], np.int32)
NO_BUCKET = 2**31 - 1  # the GPU build's key for a unit bucket out of range


def small_index():
    return tf_wta.build_index(place(SMALL_UNIT_BUCKETS), 4)


Queries = collections.namedtuple("Queries", ["query_fn", "raw_query", "reference"])


@pytest.fixture(params=["query_index", "query_index_pooled"])
def queries(request):
    """The public query function, the raw query op and the numpy reference:
    the per-row and the pooled query share every check."""
    raw = getattr(raw_ops, f"wta_{request.param}")

    def raw_query(query_buckets, index, num_candidates=3, max_bucket_size=-1):
        return raw(query_buckets, *index, num_candidates=num_candidates,
                   max_bucket_size=max_bucket_size)

    return Queries(getattr(tf_wta, request.param), raw_query,
                   getattr(references, request.param))


def assert_candidates_in_range(candidates, num_units):
    """What the GPU promises for an index it does not check: no read out of
    bounds, unit ids in [-1, N)."""
    values = candidates.numpy()
    assert values.shape[-1] == 3
    assert np.all((values >= -1) & (values < num_units)), values


@pytest.mark.parametrize("bad_bucket", [-1, 4, 2**31 - 1])
def test_unit_bucket_outside_num_buckets(bad_bucket, device):
    unit_buckets = np.zeros((3, 4), np.int32)
    unit_buckets[1, 2] = bad_bucket
    if device == "cpu":
        match = rf"unit_buckets\[1, 2\] = {bad_bucket} is outside \[0, num_buckets=4\)"
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            tf_wta.build_index(place(unit_buckets), 4)
        return
    # The unit is in no bucket of that table.
    index = tf_wta.build_index(place(unit_buckets), 4)
    unit_buckets[1, 2] = NO_BUCKET
    expected_buckets, expected_units = references.build_index(unit_buckets)
    np.testing.assert_array_equal(index.sorted_buckets.numpy(), expected_buckets)
    np.testing.assert_array_equal(index.sorted_units.numpy(), expected_units)


def test_unit_bucket_outside_num_buckets_is_in_no_bucket(device):
    unit_buckets = place([[0, 1], [-1, 1], [2, 7]])
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"unit_buckets\[1, 0\] = -1 is outside \[0, num_buckets=3\)"):
            tf_wta.build_index(unit_buckets, 3)
        return
    index = tf_wta.build_index(unit_buckets, 3)
    np.testing.assert_array_equal(index.sorted_buckets.numpy(), [[0, 2, NO_BUCKET],
                                                                 [1, 1, NO_BUCKET]])
    np.testing.assert_array_equal(index.sorted_units.numpy(), [[0, 2, 1], [0, 1, 2]])
    np.testing.assert_array_equal(tf_wta.query_index([[0, 1], [2, 2]], index, 3).numpy(),
                                  [[0, 1, -1], [2, -1, -1]])
    # test_index.py checks that the CPU accepts such an index and agrees.


@pytest.mark.parametrize("bad_bucket", [-1, 4])
def test_query_bucket_outside_num_buckets(bad_bucket, queries, device):
    query = np.zeros((2, 3), np.int32)
    query[1, 0] = bad_bucket
    if device == "cpu":
        match = rf"query_buckets\[1, 0\] = {bad_bucket} is outside \[0, num_buckets=4\)"
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            queries.query_fn(query, small_index(), 3)
    else:  # matches nothing, as in the reference
        np.testing.assert_array_equal(queries.query_fn(query, small_index(), 3).numpy(),
                                      queries.reference(SMALL_UNIT_BUCKETS, query, 3))


def test_query_buckets_outside_num_buckets_match_nothing(queries, device):
    index = tf_wta.build_index(place([[0, 1], [1, 1], [2, 0]]), 3)
    query = [[-1, 1], [3, 0], [2**31 - 1, -5]]
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"query_buckets\[0, 0\] = -1 is outside \[0, num_buckets=3\)"):
            queries.query_fn(query, index, 4)
        return
    expected = {"query_index": [[0, 1, -1, -1], [2, -1, -1, -1], [-1, -1, -1, -1]],
                # Only table 1 of rows 0 and 1 matches: units 0 and 1, then unit 2.
                "query_index_pooled": [0, 1, 2, -1]}[queries.query_fn.__name__]
    np.testing.assert_array_equal(queries.query_fn(query, index, 4).numpy(), expected)


def test_table_count_mismatch(queries):
    query_fn, raw_query, _ = queries
    with pytest.raises(ValueError, match="query_buckets has 2 tables .* the index has 3"):
        query_fn(tf.zeros([1, 2], tf.int32), small_index(), 3)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"query_buckets has 2 tables \(columns\) but the index has 3"):
        raw_query(tf.zeros([1, 2], tf.int32), small_index())


def test_table_count_mismatch_inside_tf_function(queries):
    query_fn, raw_query, _ = queries
    index = small_index()

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def query(query_buckets):
        return query_fn(query_buckets, index, 3)

    with pytest.raises(tf.errors.InvalidArgumentError, match="query_buckets has 5 tables"):
        query(tf.zeros([2, 5], tf.int32))


def test_index_tensors_of_different_shapes(queries):
    query_fn, raw_query, _ = queries
    index = small_index()
    bad = index._replace(sorted_units=place(index.sorted_units[:, :3]))
    with pytest.raises(ValueError, match="sorted_buckets and sorted_units must have the same"):
        query_fn(tf.zeros([1, 3], tf.int32), bad, 3)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"sorted_buckets and sorted_units must have the same shape \[L, N\], "
                             r"got \[3,4\] and \[3,3\]"):
        raw_query(tf.zeros([1, 3], tf.int32), bad)


def corrupted(index, part, position, value):
    values = index[part].numpy().copy()
    values[position] = value
    return index._replace(**{index._fields[part]: place(values)})


@pytest.mark.parametrize("part,value,match", [
    (1, 4, r"sorted_units\[1, 2\] = 4 is outside \[0, N=4\)"),
    (1, -1, r"sorted_units\[1, 2\] = -1 is outside \[0, N=4\)"),
    (0, 7, r"sorted_buckets\[1, 2\] = 7 is outside \[0, num_buckets=4\)"),
    (0, -3, r"sorted_buckets\[1, 2\] = -3 is outside"),
    (0, 0, r"not sorted by \(bucket, unit\) at \[1, 2\]"),
])
def test_corrupted_index(part, value, match, queries, device):
    query_fn, raw_query, _ = queries
    bad = corrupted(small_index(), part, (1, 2), value)
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            query_fn(tf.zeros([1, 3], tf.int32), bad, 3)
    else:  # the GPU never checks the index
        assert_candidates_in_range(query_fn(tf.zeros([1, 3], tf.int32), bad, 3), 4)


def test_index_with_a_repeated_unit_in_a_bucket(queries, device):
    query_fn, raw_query, _ = queries
    index = small_index()
    assert index.sorted_buckets.numpy()[1].tolist() == [0, 1, 1, 3]
    units = index.sorted_units.numpy()
    units[1, 2] = units[1, 1]
    bad = index._replace(sorted_units=place(units))
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"not sorted .* at \[1, 2\]: .* from \(1, 0\) to \(1, 0\)"):
            query_fn(tf.zeros([1, 3], tf.int32), bad, 3)
    else:
        assert_candidates_in_range(query_fn(tf.zeros([1, 3], tf.int32), bad, 3), 4)


def test_bad_index_num_buckets(queries, device):
    query_fn, raw_query, _ = queries
    index = small_index()
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_buckets must be >= 1, got 0"):
        raw_query(tf.zeros([1, 3], tf.int32), index._replace(num_buckets=tf.constant(0)))
    too_few = index._replace(num_buckets=tf.constant(3))
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"sorted_buckets\[0, 3\] = 3 is outside \[0, num_buckets=3\)"):
            raw_query(tf.zeros([1, 3], tf.int32), too_few)
    else:
        assert_candidates_in_range(raw_query(tf.zeros([1, 3], tf.int32), too_few), 4)
    with pytest.raises(ValueError, match="num_buckets of the index must be an int32 scalar"):
        query_fn(tf.zeros([1, 3], tf.int32),
                 index._replace(num_buckets=tf.constant([4])), 3)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"num_buckets must be a scalar, got shape \[1\]"):
        raw_query(tf.zeros([1, 3], tf.int32), index._replace(num_buckets=tf.constant([4])))
    with pytest.raises(ValueError, match="index must be the"):
        query_fn(tf.zeros([1, 3], tf.int32), index[:2], 3)


def test_wrong_dtypes(queries):
    query_fn, raw_query, _ = queries
    with pytest.raises(ValueError, match="unit_buckets must have dtype int32"):
        tf_wta.build_index(tf.zeros([3, 2], tf.int64), 4)
    with pytest.raises(ValueError, match="query_buckets must have dtype int32"):
        query_fn(tf.zeros([1, 3]), small_index(), 3)
    index = small_index()
    with pytest.raises(ValueError, match="sorted_units must have dtype int32"):
        query_fn(tf.zeros([1, 3], tf.int32),
                           index._replace(sorted_units=tf.cast(index.sorted_units, tf.int64)), 3)


@pytest.mark.parametrize("shape", [[3], [2, 3, 4], []])
def test_wrong_ranks(shape, queries):
    query_fn, raw_query, _ = queries
    with pytest.raises(ValueError, match="unit_buckets must be a rank-2"):
        tf_wta.build_index(tf.zeros(shape, tf.int32), 4)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"unit_buckets must be a rank-2 tensor, got shape "):
        raw_ops.wta_build_index(place(np.zeros(shape)), num_buckets=4)
    with pytest.raises(ValueError, match="query_buckets must be a rank-2"):
        query_fn(tf.zeros(shape, tf.int32), small_index(), 3)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"query_buckets must be a rank-2 tensor, got shape "):
        raw_query(tf.zeros(shape, tf.int32), small_index())


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_candidates=-1), "num_candidates must be >= 0, got -1"),
    (dict(num_candidates=2.0), "num_candidates must be an int"),
    (dict(num_candidates=2, max_bucket_size=0), "max_bucket_size must be >= 1, got 0"),
])
def test_bad_query_settings(kwargs, match, queries):
    query_fn, raw_query, _ = queries
    with pytest.raises(ValueError, match=match):
        query_fn(tf.zeros([1, 3], tf.int32), small_index(), **kwargs)


def test_bad_query_settings_in_the_raw_op(queries):
    query_fn, raw_query, _ = queries
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="attr 'num_candidates' of -1 must be at least minimum 0"):
        raw_query(tf.zeros([1, 3], tf.int32), small_index(), num_candidates=-1)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"max_bucket_size must be -1 \(no cap\) or >= 1, got 0"):
        raw_query(tf.zeros([1, 3], tf.int32), small_index(), max_bucket_size=0)


@pytest.mark.parametrize("num_buckets,match", [(0, "num_buckets must be >= 1"),
                                                (2**31, "num_buckets must fit in int32"),
                                                (None, "num_buckets must be an int")])
def test_bad_num_buckets(num_buckets, match):
    with pytest.raises(ValueError, match=match):
        tf_wta.build_index(tf.zeros([3, 2], tf.int32), num_buckets)


def test_unchecked_corrupted_index_is_never_read_out_of_bounds(queries, device):
    query_fn, raw_query, _ = queries
    index = small_index()
    units = index.sorted_units.numpy()
    units[:, 1] = [2**31 - 1, -7, 4]
    keys = index.sorted_buckets.numpy()[:, ::-1].copy()  # not sorted either
    bad = index._replace(sorted_buckets=place(keys), sorted_units=place(units))
    candidates = query_fn(tf.ones([5, 3], tf.int32), bad, 4, check_index=False)
    assert candidates.shape[-1] == 4
    assert np.all((candidates.numpy() >= -1) & (candidates.numpy() < 4))
    if device == "cpu":
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"sorted_units\[0, 1\] = 2147483647 is outside \[0, N=4\)"):
            query_fn(tf.ones([5, 3], tf.int32), bad, 4)
    else:  # the GPU never checks: check_index changes nothing there
        np.testing.assert_array_equal(query_fn(tf.ones([5, 3], tf.int32), bad, 4).numpy(),
                                      candidates.numpy())

