"""densified_wta_hash against the numpy reference, and what densifying buys,
on every device (see conftest.py)."""
import numpy as np
import pytest
import tensorflow as tf

import references
import tf_wta
from devices import place

pytestmark = pytest.mark.usefixtures("device")

# (B, D, M, K): tiny, odd, a batch of many rows, and many windows per row.
SIZES = [(1, 5, 3, 2), (7, 33, 17, 4), (17, 300, 50, 8), (64, 784, 200, 8), (300, 96, 400, 4)]


def sparse_input(rng, batch, dim, zero_fraction, nonnegative=True):
    x = rng.standard_normal((batch, dim)).astype(np.float32)
    if nonnegative:
        x = np.abs(x)
    x[rng.random((batch, dim)) < zero_fraction] = 0.0
    return x


def random_windows(rng, dim, num_hashes, window_size):
    return np.stack([rng.choice(dim, window_size, replace=False)
                     for _ in range(num_hashes)]).astype(np.int32)


@pytest.mark.parametrize("zero_fraction", [0.7, 0.9, 0.99])
@pytest.mark.parametrize("batch,dim,num_hashes,window_size", SIZES)
def test_matches_reference_on_sparse_input(batch, dim, num_hashes, window_size, zero_fraction):
    rng = np.random.default_rng(batch + dim)
    x = sparse_input(rng, batch, dim, zero_fraction, nonnegative=dim % 2 == 0)
    x[x == 0] = np.where(rng.random(np.count_nonzero(x == 0)) < 0.5, -0.0, 0.0)
    windows = random_windows(rng, dim, num_hashes, window_size)
    codes = tf_wta.densified_wta_hash(x, windows).numpy()
    np.testing.assert_array_equal(codes, references.densified_wta_hash(x, windows))
    assert codes.min() >= 0 and codes.max() < window_size


@pytest.mark.parametrize("dtype", [tf.float32, tf.float16, tf.bfloat16],
                         ids=["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("zero_fraction", [0.0, 0.9, 0.99, 1.0])
def test_nan_negative_and_empty_rows_in_every_dtype(dtype, zero_fraction):
    # Many windows per row (a grid of GPU blocks in both passes) and 50 probes.
    rng = np.random.default_rng(2)
    x = np.abs(rng.standard_normal((333, 700))).astype(np.float32)
    x[rng.random(x.shape) < zero_fraction] = 0.0
    x[rng.random(x.shape) < 0.02] = np.nan
    x[::5] *= -1.0  # some rows negative: zeros must not win there either
    x[3] = 0.0  # a row with nothing to borrow from
    x = tf.cast(x, dtype)
    windows = tf_wta.wta_windows(700, 1000, 8, seed=1)
    codes = tf_wta.densified_wta_hash(x, windows, max_probes=50)
    expected = references.densified_wta_hash(tf.cast(x, tf.float32).numpy(), windows.numpy(), 50)
    np.testing.assert_array_equal(codes.numpy(), expected)


@pytest.mark.parametrize("max_probes", [1, 3, 1000])
def test_max_probes_bounds_the_search(max_probes):
    rng = np.random.default_rng(1)
    x = sparse_input(rng, 40, 200, 0.97)
    windows = random_windows(rng, 200, 64, 4)
    codes = tf_wta.densified_wta_hash(x, windows, max_probes=max_probes).numpy()
    np.testing.assert_array_equal(codes, references.densified_wta_hash(x, windows, max_probes))


def test_fewer_probes_leave_more_empty_windows_at_zero():
    rng = np.random.default_rng(2)
    x = sparse_input(rng, 50, 400, 0.98)
    windows = random_windows(rng, 400, 128, 4)
    one = tf_wta.densified_wta_hash(x, windows, max_probes=1).numpy()
    many = tf_wta.densified_wta_hash(x, windows, max_probes=100).numpy()
    assert np.count_nonzero(one == 0) > np.count_nonzero(many == 0)


def test_the_probe_sequence_is_the_documented_hash():
    # fmix32 computed by hand for (m, t) = (0, 1): the first probe of window 0.
    h = 1
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    num_hashes = 7
    probed = h % num_hashes
    assert references.densified_probe(0, 1, num_hashes) == probed
    # Window 0 is empty; only the window it probes first has a non-zero entry.
    windows = np.array([[m] for m in range(num_hashes)], np.int32)
    windows = np.concatenate([windows, windows + num_hashes], axis=1)  # K = 2
    x = np.zeros((1, 2 * num_hashes), np.float32)
    x[0, probed + num_hashes] = 1.0  # code 1 in window `probed`
    codes = tf_wta.densified_wta_hash(x, windows, max_probes=1).numpy()
    assert codes[0, 0] == 1 and codes[0, probed] == 1


@pytest.mark.parametrize("batch,dim,num_hashes,window_size", SIZES)
def test_dense_rows_equal_wta_hash(batch, dim, num_hashes, window_size):
    rng = np.random.default_rng(dim)
    x = rng.standard_normal((batch, dim)).astype(np.float32)
    x[x == 0] = 1.0
    windows = random_windows(rng, dim, num_hashes, window_size)
    np.testing.assert_array_equal(tf_wta.densified_wta_hash(x, windows).numpy(),
                                  tf_wta.wta_hash(x, windows).numpy())


def test_nonnegative_input_equals_wta_hash_on_non_empty_windows():
    rng = np.random.default_rng(4)
    x = sparse_input(rng, 64, 300, 0.8)
    windows = random_windows(rng, 300, 100, 8)
    non_empty = (x[:, windows] != 0).any(axis=-1)
    dense = tf_wta.densified_wta_hash(x, windows).numpy()
    plain = tf_wta.wta_hash(x, windows).numpy()
    assert 0.05 < non_empty.mean() < 0.95
    np.testing.assert_array_equal(dense[non_empty], plain[non_empty])


def test_zeros_never_win_against_negative_values():
    x = np.array([[0.0, -3.0, -1.0, np.nan, -np.inf, 0.0]], np.float32)
    windows = np.array([[0, 1, 2], [5, 4, 0], [3, 1, 0], [0, 5, 3]], np.int32)
    # Window 3 sees only zeros and NaN: it borrows from a non-empty window.
    codes = tf_wta.densified_wta_hash(x, windows).numpy()
    np.testing.assert_array_equal(codes[0, :3], [2, 1, 1])
    assert codes[0, 3] in (2, 1)
    np.testing.assert_array_equal(codes, references.densified_wta_hash(x, windows))


def test_all_zero_and_all_nan_rows_give_code_zero():
    rng = np.random.default_rng(5)
    x = sparse_input(rng, 6, 50, 0.5)
    x[1] = 0.0
    x[3] = -0.0
    x[4] = np.nan
    x[5, ::2] = np.nan
    x[5, 1::2] = 0.0
    windows = random_windows(rng, 50, 30, 4)
    codes = tf_wta.densified_wta_hash(x, windows).numpy()
    np.testing.assert_array_equal(codes[[1, 3, 4, 5]], 0)
    np.testing.assert_array_equal(codes, references.densified_wta_hash(x, windows))


@pytest.mark.parametrize("batch,dim,num_hashes,window_size", SIZES)
def test_ties_go_to_the_smallest_k(batch, dim, num_hashes, window_size):
    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, (batch, dim)).astype(np.float32)
    x[rng.random((batch, dim)) < 0.6] = 0.0
    windows = random_windows(rng, dim, num_hashes, window_size)
    codes = tf_wta.densified_wta_hash(x, windows).numpy()
    np.testing.assert_array_equal(codes, references.densified_wta_hash(x, windows))


def test_nan_never_wins():
    rng = np.random.default_rng(11)
    x = sparse_input(rng, 40, 120, 0.5, nonnegative=False)
    x[rng.random(x.shape) < 0.3] = np.nan
    windows = random_windows(rng, 120, 60, 4)
    codes = tf_wta.densified_wta_hash(x, windows).numpy()
    np.testing.assert_array_equal(codes, references.densified_wta_hash(x, windows))
    gathered = x[:, windows]
    chosen = np.take_along_axis(gathered, codes[..., None], axis=-1)[..., 0]
    non_empty = (~np.isnan(gathered) & (gathered != 0)).any(axis=-1)
    assert not np.isnan(chosen[non_empty]).any()


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_reduced_precision_inputs_hash_their_own_values(dtype):
    rng = np.random.default_rng(3)
    x = tf.cast(sparse_input(rng, 40, 96, 0.8), dtype)
    windows = random_windows(rng, 96, 32, 6)
    expected = references.densified_wta_hash(tf.cast(x, tf.float32).numpy(), windows)
    np.testing.assert_array_equal(tf_wta.densified_wta_hash(x, windows).numpy(), expected)


def test_deterministic_across_calls_and_batch_splits():
    rng = np.random.default_rng(8)
    x = sparse_input(rng, 257, 300, 0.95)
    windows = tf_wta.wta_windows(300, 160, 8, seed=3)
    first = tf_wta.densified_wta_hash(x, windows).numpy()
    np.testing.assert_array_equal(first, tf_wta.densified_wta_hash(x, windows).numpy())
    # A row's codes depend on that row only.
    np.testing.assert_array_equal(first[100:101],
                                  tf_wta.densified_wta_hash(x[100:101], windows).numpy())


def test_unknown_batch_inside_tf_function():
    rng = np.random.default_rng(5)
    windows = tf.constant(random_windows(rng, 64, 24, 8))

    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
    def hash_batch(x):
        codes = tf_wta.densified_wta_hash(x, windows, max_probes=7)
        assert codes.shape.as_list() == [None, 24]
        return codes

    for batch in (0, 1, 33):
        x = sparse_input(rng, batch, 64, 0.9)
        np.testing.assert_array_equal(hash_batch(x).numpy(),
                                      references.densified_wta_hash(x, windows.numpy(), 7))


def test_empty_shapes():
    windows = tf_wta.wta_windows(10, 6, 3, seed=0)
    assert tf_wta.densified_wta_hash(tf.zeros([0, 10]), windows).shape == (0, 6)
    assert tf_wta.densified_wta_hash(tf.ones([4, 10]), place(np.zeros([0, 3]))).shape == (4, 0)


def test_gradient_is_none_not_an_error():
    x = tf.Variable(tf.random.normal([3, 10]))
    windows = tf_wta.wta_windows(10, 4, 3, seed=0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.cast(tf_wta.densified_wta_hash(x, windows), tf.float32))
    assert tape.gradient(loss, x) is None


def collision_rate(codes_a, codes_b):
    return float((codes_a == codes_b).mean())


def test_densified_codes_track_similarity_of_sparse_vectors():
    """The point of densifying: on sparse non-negative vectors plain WTA's
    codes are dominated by empty windows, which all hash to 0, so even
    unrelated vectors collide on most codes. DWTA's collision rate instead
    separates near-duplicates from unrelated vectors."""
    rng = np.random.default_rng(0)
    dim, pairs = 1000, 50
    windows = tf_wta.wta_windows(dim, 512, 8, seed=1)
    base = sparse_input(rng, pairs, dim, 0.97)
    similar = base.copy()
    # Perturb the non-zero values a little, keep the support.
    similar[similar != 0] *= 1 + 0.1 * rng.standard_normal(np.count_nonzero(similar))
    unrelated = sparse_input(rng, pairs, dim, 0.97)

    def rates(hash_fn):
        a, s, u = (hash_fn(v, windows).numpy() for v in (base, similar, unrelated))
        return collision_rate(a, s), collision_rate(a, u)

    wta_similar, wta_unrelated = rates(tf_wta.wta_hash)
    dwta_similar, dwta_unrelated = rates(tf_wta.densified_wta_hash)
    # Plain WTA: most windows are all zero (code 0 for every vector).
    plain = tf_wta.wta_hash(unrelated, windows).numpy()
    assert (plain == 0).mean() > 0.7
    assert wta_unrelated > 0.6
    # DWTA: unrelated vectors collide about at chance (1/K, here 1/8), near
    # duplicates far more often.
    assert dwta_unrelated < 0.25
    assert dwta_similar > 0.6
    assert dwta_similar - dwta_unrelated > 2 * (wta_similar - wta_unrelated)
