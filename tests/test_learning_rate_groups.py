"""The example optimizers that give FastfoodDense's diagonals their own
learning rate (examples/learning_rate_groups.py)."""
import os
import sys

import keras
import numpy as np
import pytest

import tf_wta

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
from learning_rate_groups import fastfood_diagonals, make_optimizer  # noqa: E402


def fastfood_model(learn_diagonals="SGB"):
    inputs = keras.Input((8,))
    hidden = tf_wta.FastfoodDense(16, activation="relu", learn_diagonals=learn_diagonals,
                                  seed=3)(inputs)
    return keras.Model(inputs, keras.layers.Dense(3)(hidden))


def one_step_changes(optimizer_name, diagonal_learning_rate):
    """[(name, |change|)] of each trainable variable after one step, in order."""
    keras.utils.set_random_seed(0)
    model = fastfood_model()
    optimizer = make_optimizer(optimizer_name, 1e-2, momentum=0.9,
                               diagonal_learning_rate=diagonal_learning_rate, model=model)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 8)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.train_on_batch(x, y)
    return [(v.path.split("/")[-1], np.abs(v.numpy() - old))
            for v, old in zip(model.trainable_variables, before)]


def test_fastfood_diagonals_lists_only_the_trained_ones():
    names = lambda model: sorted(v.path.split("/")[-1] for v in fastfood_diagonals(model))
    assert names(fastfood_model()) == ["binary", "gaussian", "scaling"]
    assert names(fastfood_model("S")) == ["scaling"]
    assert fastfood_diagonals(fastfood_model("")) == []


@pytest.mark.parametrize("optimizer_name", ["adam", "sgd"])
def test_diagonals_step_at_their_own_rate(optimizer_name):
    base = one_step_changes(optimizer_name, None)
    scaled = one_step_changes(optimizer_name, 1e-1)  # 10x the learning rate 1e-2
    assert [name for name, _ in base] == ["binary", "gaussian", "scaling", "bias", "kernel",
                                          "bias"]
    for (name, change), (_, scaled_change) in zip(base, scaled):
        moved = change > 1e-7  # entries with a zero gradient (dead ReLUs) stay put
        assert moved.sum() >= change.size // 4, name
        expected = 10.0 if name in ("binary", "gaussian", "scaling") else 1.0
        # The first step of Adam and of SGD is linear in the learning rate (up to
        # float32 rounding of entries near 1).
        np.testing.assert_allclose(scaled_change[moved] / change[moved], expected, rtol=1e-2,
                                   err_msg=name)


def test_bad_arguments_are_named():
    model = fastfood_model()
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'sgd'"):
        make_optimizer("rmsprop", 1e-3)
    with pytest.raises(ValueError, match="needs the model"):
        make_optimizer("adam", 1e-3, diagonal_learning_rate=1e-2)
    with pytest.raises(ValueError, match="group_multiplier must be > 0"):
        make_optimizer("sgd", 1e-3, diagonal_learning_rate=-1.0, model=model)
