"""The Extreme Classification Repository reader."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_wta
from tf_wta.xml_repository import read_header, xml_repository_dataset

GOOD = """4 6 5
1,3 0:0.5 4:1.25
 2:1
4 5:-2e-1 1:3
0,1,2 3:.5
"""


def write(tmp_path, text, name="data.txt"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def batches(path, batch_size, **kwargs):
    return [(tf.sparse.to_dense(features).numpy(), labels.to_list())
            for features, labels in xml_repository_dataset(path, batch_size, **kwargs)]


def test_reads_features_and_labels_in_batches(tmp_path):
    path = write(tmp_path, GOOD)
    assert read_header(path) == (4, 6, 5)
    (first_x, first_y), (last_x, last_y) = batches(path, 3)
    expected = np.zeros((4, 6), np.float32)
    expected[0, [0, 4]] = [0.5, 1.25]
    expected[1, 2] = 1
    expected[2, [5, 1]] = [-0.2, 3]
    expected[3, 3] = 0.5
    np.testing.assert_allclose(np.concatenate([first_x, last_x]), expected)
    assert first_y + last_y == [[1, 3], [], [4], [0, 1, 2]]


def test_file_without_final_newline_and_with_a_blank_tail(tmp_path):
    assert len(batches(write(tmp_path, GOOD.rstrip("\n")), 10)[0][1]) == 4
    assert len(batches(write(tmp_path, GOOD + "\n", "tail.txt"), 10)[0][1]) == 4


@pytest.mark.parametrize("text, message", [
    ("4 6\n", "line 1 must be the header"),
    ("x 6 5\n", "line 1 must be the header"),
    ("5 6 5\n1 0:1\n", "header says 5 points but the file has 1 lines"),
    ("1 6 5\n1 0:1\n2 0:1\n", "header says 1 points but the file has 2 lines"),
])
def test_bad_header_or_count_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        xml_repository_dataset(write(tmp_path, text), 2)


def test_header_must_match_what_the_caller_expects(tmp_path):
    with pytest.raises(ValueError, match="header says num_labels=5, expected 7"):
        xml_repository_dataset(write(tmp_path, GOOD), 2, num_labels=7)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        xml_repository_dataset(write(tmp_path, GOOD), 0)


@pytest.mark.parametrize("bad_line, message", [
    ("1;3 0:1", "malformed labels"),
    ("1, 0:1", "malformed labels"),
    ("1 0:x", "malformed feature"),
    ("1 0:1 7", "malformed feature"),
    ("1 0=1", "malformed feature"),
    ("5 0:1", "label id >= num_labels=5"),
    ("1 6:1", "feature id >= num_features=6"),
    ("1 2:1 0:1 2:3", "repeats a feature id"),
])
def test_a_bad_line_is_an_error_that_names_it(tmp_path, bad_line, message):
    text = "3 6 5\n1 0:1\n" + bad_line + "\n2 1:1\n"
    dataset = xml_repository_dataset(write(tmp_path, text), 2)
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        list(dataset)
    assert message in str(error.value)
    assert "3" in str(error.value) and bad_line.split()[0] in str(error.value)


def test_wta_model_trains_from_the_dataset(tmp_path):
    rng = np.random.default_rng(0)
    num_features, num_labels = 200, 50
    signature = rng.integers(0, num_features, (num_labels, 5))
    lines = []
    for _ in range(256):
        labels = rng.choice(num_labels, rng.integers(1, 3), replace=False)
        features = np.unique(signature[labels].ravel())
        lines.append(",".join(map(str, labels)) + " "
                     + " ".join(f"{f}:{rng.uniform(0.5, 1):.3f}" for f in features))
    path = write(tmp_path, f"256 {num_features} {num_labels}\n" + "\n".join(lines) + "\n")
    inputs = keras.Input((num_features,), sparse=True)
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    model = tf_wta.WTAModel(inputs, tf_wta.WTADense(num_labels, num_uniform=16, seed=0)(hidden))
    model.compile(tf_wta.LazyAdam(0.02), tf_wta.MultiLabelSoftmaxCrossentropy(),
                  metrics=[tf_wta.PrecisionAtK(1)])
    dataset = xml_repository_dataset(path, 32)
    history = model.fit(dataset, epochs=5, verbose=0).history
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert model.evaluate(dataset, verbose=0, return_dict=True)["precision_at_1"] > 0.8
