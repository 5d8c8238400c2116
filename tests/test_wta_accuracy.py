"""WTADense reaches Dense's top-1 on a synthetic 10,000-class task (same steps)."""
import keras
import numpy as np
import pytest

import tf_wta
from model_helpers import compile_for_classes, dataset, prototype_data

NUM_CLASSES, DIM = 10_000, 64


def top1_after_training(output_layer, model_class, optimizer, train, test):
    inputs = keras.Input((DIM,))
    model = compile_for_classes(model_class(inputs, output_layer(inputs)), optimizer)
    model.fit(dataset(*train, batch_size=256), epochs=4, verbose=0)
    logits = model.predict(test[0], batch_size=1000, verbose=0)
    return np.mean(np.argmax(logits, axis=1) == test[1])


@pytest.mark.slow
def test_top1_within_one_point_of_dense():
    train = prototype_data(NUM_CLASSES, DIM, 5 * NUM_CLASSES, noise=1.0, seed=1)
    test = prototype_data(NUM_CLASSES, DIM, 5000, noise=1.0, seed=1, sample_seed=7)
    keras.utils.set_random_seed(0)
    dense = top1_after_training(keras.layers.Dense(NUM_CLASSES), keras.Model,
                                keras.optimizers.Adam(0.01), train, test)
    keras.utils.set_random_seed(0)
    wta = top1_after_training(tf_wta.WTADense(NUM_CLASSES, seed=0), tf_wta.WTAModel,
                              tf_wta.LazyAdam(0.01), train, test)
    assert dense > 0.3  # the task is learnable in this budget (chance: 0.0001)
    assert wta >= dense - 0.01, (wta, dense)
