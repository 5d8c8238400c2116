"""A 1,000,000-unit x 1,280-input WTADense output layer trains on a 24 GiB machine:
training memory is the weights plus O(batch x candidates), never O(batch x units)."""
import keras
import numpy as np
import pytest

import tf_wta

UNITS, DIM, BATCH = 1_000_000, 1280, 256
WEIGHTS_GB = UNITS * DIM * 4 / 2**30


def resident_gb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**20
    pytest.skip("needs /proc/self/status (Linux)")


@pytest.mark.slow
def test_million_unit_output_layer_trains_in_bounded_memory():
    inputs = keras.Input((DIM,))
    model = tf_wta.WTAModel(inputs, tf_wta.WTADense(UNITS, seed=0)(inputs))
    # SparseSGD, as the README prescribes: Keras' SGD applies sparse gradients
    # with scatter_sub, which switches the kernel to copy-on-read, and every
    # later read of it then copies all 4.8 GB.
    model.compile(tf_wta.SparseSGD(0.1),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4 * BATCH, DIM)).astype(np.float32)
    y = rng.integers(0, UNITS, 4 * BATCH).astype(np.int32)
    model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, verbose=0)  # builds, hashes, traces
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # restart the peak-RSS window: measure the training steps only
    before = resident_gb("VmRSS")
    history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    peak = resident_gb("VmHWM")
    assert np.isfinite(history.history["loss"]).all()
    # A dense step would add [B, units] logits and a dense [units, D] gradient
    # (5 GB); the hashed step stays within a fraction of the weights' size.
    assert peak - before < 0.5 * WEIGHTS_GB, (before, peak)
