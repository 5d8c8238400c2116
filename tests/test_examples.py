"""Runs every example end to end in a tiny offline configuration, so none can rot.

The examples are scripts, not part of the package: they import their sibling
modules from examples/, and the tiny "glyphs/tiny" dataset (40 classes) is
generated into a temporary TFDS data dir.
"""
import os
import sys

import numpy as np
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


@pytest.mark.slow
def test_retrain_top(data_dir, tmp_path, capsys):
    import retrain_top

    retrain_top.main(["--dataset", "glyphs/tiny", "--data-dir", data_dir, "--weights", "none",
                      "--backbone", "MobileNetV3Small", "--epochs", "2", "--num-candidates", "8",
                      "--cache-dir", str(tmp_path / "cache"),
                      "--output-dir", str(tmp_path / "out"), "--verbose", "0"])
    out = capsys.readouterr().out
    # The printed report is this script's only interface for these.
    assert "weights: none: RANDOM" in out
    assert "agreeing with Keras on 100%" in out
    table = {line.split()[0]: line.split() for line in out.splitlines()
             if line.split()[:1] in (["Dense"], ["WTADense"])}
    for name in ("Dense", "WTADense"):
        top1, top5 = float(table[name][2]), float(table[name][3])
        assert 0.0 <= top1 <= top5 <= 1.0
    assert table["Dense"][1] == f"{576 * 40 + 40:,d}"  # MobileNetV3Small: 576 features
    assert (tmp_path / "out" / "retrain_top.png").exists()
    assert (tmp_path / "out" / "wta_saved_model" / "saved_model.pb").exists()
    caches = sorted((tmp_path / "cache").glob("*.npz"))
    assert [path.name.rsplit("_", 2)[-2] for path in caches] == ["test", "train"]
    for path, size in zip(caches, (160, 320)):
        with np.load(path) as cached:
            assert cached["features"].shape[0] == size and cached["features"].dtype == np.float32
            assert sorted(set(cached["labels"].tolist())) == list(range(40))

    # A second run reads the cached features instead of writing them again.
    written = [path.stat().st_mtime_ns for path in caches]
    retrain_top.main(["--dataset", "glyphs/tiny", "--data-dir", data_dir, "--weights", "none",
                      "--backbone", "MobileNetV3Small", "--epochs", "1", "--num-candidates", "8",
                      "--cache-dir", str(tmp_path / "cache"),
                      "--output-dir", str(tmp_path / "out"), "--verbose", "0"])
    assert "read from cache" in capsys.readouterr().out
    assert [path.stat().st_mtime_ns for path in caches] == written


@pytest.mark.slow
def test_retrain_top_with_hidden_layer_tops(data_dir, tmp_path, capsys):
    import retrain_top

    retrain_top.main(["--dataset", "glyphs/tiny", "--data-dir", data_dir, "--weights", "none",
                      "--backbone", "MobileNetV3Small", "--epochs", "1",
                      "--tops", "Dense", "DenseMLP", "Fastfood", "--hidden-units", "64", "64",
                      "--cache-dir", str(tmp_path / "cache"),
                      "--output-dir", str(tmp_path / "out"), "--verbose", "0"])
    out = capsys.readouterr().out
    table = {line.split()[0]: line.split() for line in out.splitlines()
             if line.split()[:1] in (["Dense"], ["DenseMLP"], ["Fastfood"])}
    assert list(table) == ["Dense", "DenseMLP", "Fastfood"], out
    # 576 MobileNetV3Small features, 40 classes. Fastfood pads 576 to d = 1024
    # and 64 stays 64: 2 d (G, B) + 64 (S) + 64 (bias) per layer.
    output_layer = 64 * 40 + 40
    expected = {"Dense": 576 * 40 + 40,
                "DenseMLP": 576 * 64 + 64 + 64 * 64 + 64 + output_layer,
                "Fastfood": 2 * 1024 + 64 + 64 + 2 * 64 + 64 + 64 + output_layer}
    for name, params in expected.items():
        assert table[name][1] == f"{params:,d}"
        top1, top5 = float(table[name][2]), float(table[name][3])
        assert 0.0 <= top1 <= top5 <= 1.0
    assert "hidden layers [64, 64]" in out
    # One line per top after the first (its wording depends on the timings).
    equal_time = [line for line in out.splitlines() if line.startswith("equal training time:")]
    assert len(equal_time) == 2 and "DenseMLP" in equal_time[0] and "Fastfood" in equal_time[1]
    # Without WTADense the last top, FastfoodDense layers included, is exported.
    assert "SavedModel (Fastfood top)" in out and "agreeing with Keras on 100%" in out
    assert (tmp_path / "out" / "fastfood_saved_model" / "saved_model.pb").exists()


def test_hidden_layer_tops_shapes_parameters_and_bad_input():
    import tf_wta
    from hidden_layer_tops import hidden_layer_top, trainable_parameters

    mean, variance = np.zeros(100, np.float32), np.ones(100, np.float32)
    fastfood = hidden_layer_top("FastfoodDense", [256, 64], mean, variance, 10)
    hidden = [layer for layer in fastfood.layers if isinstance(layer, tf_wta.FastfoodDense)]
    assert [layer.units for layer in hidden] == [256, 64]
    assert [layer.dim for layer in hidden] == [128, 256]  # inputs padded to powers of two
    assert fastfood(np.ones((3, 100), np.float32)).shape == (3, 10)
    # Layer 1: 2 blocks of d = 128; layer 2: 1 block of d = 256 cut to 64 outputs.
    assert trainable_parameters(fastfood, hidden_only=True) == (
        2 * 2 * 128 + 256 + 256) + (2 * 256 + 64 + 64)
    assert trainable_parameters(fastfood) == trainable_parameters(fastfood, True) + 64 * 10 + 10
    fixed = hidden_layer_top("FastfoodDense", [256], mean, variance, 10, learn_diagonals=False)
    assert trainable_parameters(fixed, hidden_only=True) == 256  # the bias only
    linear = hidden_layer_top("Dense", [], mean, variance, 10)
    assert trainable_parameters(linear) == 100 * 10 + 10
    assert trainable_parameters(linear, hidden_only=True) == 0
    with pytest.raises(ValueError, match="hidden_layer must be one of"):
        hidden_layer_top("Conv", [64], mean, variance, 10)
    with pytest.raises(ValueError, match="hidden_units must be positive widths"):
        hidden_layer_top("Dense", [64, 0], mean, variance, 10)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        hidden_layer_top("Dense", [64], mean, variance, 10, dropout=1.0)


def test_hidden_layer_tops_drop_out_after_each_hidden_layer_in_training_only():
    import keras
    from hidden_layer_tops import hidden_layer_top, trainable_parameters

    mean, variance = np.zeros(16, np.float32), np.ones(16, np.float32)
    plain = hidden_layer_top("FastfoodDense", [32, 32], mean, variance, 5)
    top = hidden_layer_top("FastfoodDense", [32, 32], mean, variance, 5, dropout=0.5)
    dropouts = [layer for layer in top.layers if isinstance(layer, keras.layers.Dropout)]
    assert [layer.rate for layer in dropouts] == [0.5, 0.5]
    assert trainable_parameters(top, hidden_only=True) == trainable_parameters(plain, True)
    top.set_weights(plain.get_weights())  # Dropout adds no weights
    x = np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32)
    np.testing.assert_allclose(top(x, training=False), plain(x, training=False), rtol=1e-5,
                               atol=1e-5)
    assert not np.allclose(top(x, training=True), plain(x, training=True), atol=1e-3)


def test_sparse_mlp(data_dir, capsys):
    import sparse_mlp

    sparse_mlp.main(["--dataset", "glyphs/tiny", "--data-dir", data_dir,
                     "--hidden-units", "256", "256", "--num-candidates", "32", "--epochs", "2",
                     "--verbose", "0"])
    out = capsys.readouterr().out
    # The printed table is the script's only output: check its numbers.
    table = {line.split()[0]: line.split() for line in out.splitlines()
             if line.split()[:1] in (["Dense"], ["WTADense"])}
    for name in ("Dense", "WTADense"):
        top1, top5 = float(table[name][1]), float(table[name][2])
        assert 0.0 <= top1 <= top5 <= 1.0
    dense = sparse_mlp.multiplications(32 * 32, [256, 256], 40, [256, 256])
    hashed = sparse_mlp.multiplications(32 * 32, [256, 256], 40, [32, 32])
    assert dense == 32 * 32 * 256 + 256 * 256 + 256 * 40
    assert table["Dense"][-2:] == [f"{dense:,d}", "100.0%"]
    assert table["WTADense"][-2:] == [f"{hashed:,d}", f"{hashed / dense:.1%}"]


def test_sparse_mlp_on_generated_rectangles(capsys):
    import sparse_mlp

    sparse_mlp.main(["--dataset", "rectangles", "--train-size", "256", "--test-size", "128",
                     "--hidden-units", "100", "--num-candidates", "10", "--pool-size", "4",
                     "--hash-type", "simhash", "--epochs", "1", "--verbose", "0"])
    out = capsys.readouterr().out
    assert "rectangles (2 classes), 784 pixels per image" in out
    table = {line.split()[0]: line.split() for line in out.splitlines()
             if line.split()[:1] in (["Dense"], ["WTADense"])}
    hashed = sparse_mlp.multiplications(784, [100], 2, [10])
    assert table["WTADense"][-2] == f"{hashed:,d}"


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


def test_xml_classification(tmp_path):
    import xml_classification

    results = xml_classification.main([
        "--output-dir", str(tmp_path), "--synthetic-labels", "500", "--synthetic-features",
        "2000", "--synthetic-points", "4000", "--epochs", "3", "--batch-size", "128",
        "--learning-rate", "3e-3", "--verbose", "0"])
    assert (tmp_path / "train.txt").exists() and (tmp_path / "test.txt").exists()
    # Points show 6 of each label's 8 signature features: learnable well above
    # chance (1 / 500).
    assert results["precision_at_1"] > 0.3
    assert 0 < results["precision_at_5"] <= results["precision_at_3"] <= results["precision_at_1"]
    assert all(0 <= results[f"ndcg_at_{k}"] <= 1 for k in (1, 3, 5))
