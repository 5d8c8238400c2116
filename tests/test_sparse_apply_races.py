"""sparse_apply_* from several Python threads on one variable: no lost
updates, and no read ever sees a half-applied update (a torn row).

Every update adds the same value to every element of every row, so a
consistent snapshot of the variable has all elements equal; a read that
overlaps a half-done update (some rows or some elements of a row updated,
others not) breaks that.
"""
import threading

import numpy as np
import tensorflow as tf

import tf_wta

ROWS, DIM = 2048, 256
UPDATES = 60


def _all_rows_step(value):
    """An IndexedSlices gradient of `value` at every element of every row."""
    return tf.IndexedSlices(tf.fill([ROWS, DIM], value), tf.range(ROWS), [ROWS, DIM])


def _run_concurrently(*loops):
    errors = []

    def guarded(loop):
        try:
            loop()
        except Exception as error:  # surfaced in the test thread below
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(loop,)) for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "an update or read hung"
    if errors:
        raise errors[0]


class SnapshotReader:
    """Reads the variables until told to stop; records every full read and
    row gather that is not uniform, and the distinct values seen."""

    def __init__(self, variables, done):
        self.variables, self.done = variables, done
        self.torn, self.seen = [], set()

    def __call__(self):
        row_ids = tf.constant([0, ROWS // 2, ROWS - 1])
        while not self.done.is_set():
            for name, variable in self.variables.items():
                for kind, value in (("read", variable.read_value()),
                                    ("gather", variable.sparse_read(row_ids))):
                    value = value.numpy()
                    if not np.all(value == value.flat[0]):
                        self.torn.append(f"{kind} of {name}: {np.unique(value)[:8]}")
                    if name == "var":
                        self.seen.add(float(value.flat[0]))


def _updates_and_reads(*updates, variables):
    """Runs each update function UPDATES times in its own thread while a
    reader thread reads `variables`; returns the reader."""
    done = threading.Event()
    reader = SnapshotReader(variables, done)
    finished = []

    def loop(update):
        def run():
            try:
                for _ in range(UPDATES):
                    update()
            finally:
                finished.append(update)
                if len(finished) == len(updates):
                    done.set()
        return run

    _run_concurrently(reader, *(loop(update) for update in updates))
    return reader


def test_two_sgd_updates_racing_lose_nothing_and_reads_see_whole_updates():
    var = tf.Variable(tf.zeros([ROWS, DIM]))
    add_one, add_two = _all_rows_step(-1.0), _all_rows_step(-2.0)
    reader = _updates_and_reads(lambda: tf_wta.sparse_apply_sgd(var, 1.0, add_one),
                                lambda: tf_wta.sparse_apply_sgd(var, 1.0, add_two),
                                variables={"var": var})
    assert not reader.torn, reader.torn[:3]
    # Integers below 2**24 are exact in float32: a lost update shows.
    np.testing.assert_array_equal(var.numpy(), np.full([ROWS, DIM], 3.0 * UPDATES, np.float32))
    # The reads overlapped the updates (more states than the first and last).
    assert len(reader.seen) > 2, reader.seen


def test_sgd_and_adam_racing_on_one_variable_keep_its_rows_and_moments_whole():
    var = tf.Variable(tf.zeros([ROWS, DIM]))
    m, v = tf.Variable(tf.zeros([ROWS, DIM])), tf.Variable(tf.zeros([ROWS, DIM]))
    sgd_step, adam_step = _all_rows_step(-1.0), _all_rows_step(0.5)
    reader = _updates_and_reads(
        lambda: tf_wta.sparse_apply_sgd(var, 1.0, sgd_step),
        lambda: tf_wta.sparse_apply_adam(var, m, v, 0.25, 0.9, 0.999, 1e-7, adam_step),
        variables={"var": var, "m": m, "v": v})
    assert not reader.torn, reader.torn[:3]
    assert len(reader.seen) > 2, reader.seen
    # Adam's moments do not depend on the interleaving: UPDATES steps of g.
    expected_m = np.float32(0.5) * (1 - np.float32(0.9) ** UPDATES)
    np.testing.assert_allclose(m.numpy(), expected_m, rtol=1e-5)
    final = var.numpy()
    assert np.all(final == final.flat[0])
