"""Runs every example end to end in a tiny offline configuration, so none can rot.

The examples are scripts, not part of the package: they import their sibling
modules from examples/, and the tiny "glyphs/tiny" dataset (40 classes) is
generated into a temporary TFDS data dir.
"""
import os
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
pytest.importorskip("tensorflow_datasets")
sys.path.insert(0, EXAMPLES)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def test_glyphs_dataset_is_deterministic_and_offline(data_dir):
    import numpy as np
    import tensorflow_datasets as tfds

    import glyphs  # noqa: F401

    train, info = tfds.load("glyphs/tiny", split="train", data_dir=data_dir, with_info=True)
    assert info.features["label"].num_classes == 40
    assert info.splits["train"].num_examples == 320 and info.splits["test"].num_examples == 160
    example = next(iter(tfds.as_numpy(train)))
    assert example["image"].shape == (32, 32, 1) and example["image"].dtype == np.uint8
    assert len(set(info.features["label"].names)) == 40


def test_retrain_top(data_dir, tmp_path, capsys):
    import retrain_top

    retrain_top.main(["--dataset", "glyphs/tiny", "--data-dir", data_dir, "--weights", "none",
                      "--backbone", "MobileNetV3Small", "--epochs", "2", "--num-candidates", "8",
                      "--cache-dir", str(tmp_path / "cache"),
                      "--output-dir", str(tmp_path / "out"), "--verbose", "0"])
    out = capsys.readouterr().out
    assert "weights: none: RANDOM" in out
    assert "WTADense" in out and "speedup" in out
    assert "agreeing with Keras on 100%" in out
    assert (tmp_path / "out" / "retrain_top.png").exists()
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2

    # A second run reads the cached features.
    retrain_top.main(["--dataset", "glyphs/tiny", "--data-dir", data_dir, "--weights", "none",
                      "--backbone", "MobileNetV3Small", "--epochs", "1", "--num-candidates", "8",
                      "--cache-dir", str(tmp_path / "cache"),
                      "--output-dir", str(tmp_path / "out"), "--verbose", "0"])
    assert "read from cache" in capsys.readouterr().out


def test_sparse_mlp(data_dir, capsys):
    import sparse_mlp

    sparse_mlp.main(["--dataset", "glyphs/tiny", "--data-dir", data_dir,
                     "--hidden-units", "256", "256", "--num-candidates", "32", "--epochs", "2",
                     "--verbose", "0"])
    out = capsys.readouterr().out
    assert "fraction" in out and "WTADense" in out


def test_unprepared_dataset_offline_fails_fast(data_dir, monkeypatch):
    import time

    import example_data

    monkeypatch.setattr(example_data, "is_online", lambda: False)
    start = time.perf_counter()
    with pytest.raises(SystemExit, match="network is unreachable"):
        example_data.load_image_splits("mnist", ("train",), data_dir)
    assert time.perf_counter() - start < 30


def test_random_backbone_is_the_same_network_in_every_run():
    # Features cached by one run must come from the backbone a later run exports.
    import numpy as np

    from features import load_backbone

    first = load_backbone("MobileNetV3Small", None, 32)
    second = load_backbone("MobileNetV3Small", None, 32)
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
