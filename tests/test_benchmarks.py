"""The benchmark suite's helpers, and each suite script in a tiny configuration
(so none can rot; their timings mean nothing at this size)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tf_wta

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")
sys.path.insert(0, BENCHMARKS)


def test_synthetic_task_oracle_beats_nearest_prototype():
    from synthetic_task import ConfusablePrototypes

    task = ConfusablePrototypes(2000, 64, latent_dim=32, within_group_cosine=0.8,
                                nuisance=2.0, noise=0.3)
    x, y = task.sample(1000)
    assert x.shape == (1000, 64) and x.dtype == np.float32 and y.dtype == np.int32
    prototypes = task.prototypes(0, 2000).numpy()
    np.testing.assert_allclose(np.linalg.norm(prototypes, axis=1), 1.0, rtol=1e-5)
    nearest = np.mean(np.argmax(x @ prototypes.T, axis=1) == y)
    oracle = task.oracle_top1(x, y, chunk=700)  # chunks that do not divide the classes
    assert oracle > 0.95 and nearest < oracle - 0.1
    features, labels = next(iter(task.dataset(32)))
    assert features.shape == (32, 64) and labels.dtype.name == "int32"
    assert np.all((labels.numpy() >= 0) & (labels.numpy() < 2000))


def test_time_to_reach_interpolates_between_evaluations():
    from bench_time_to_accuracy import at_budget, at_steps, time_to_reach

    points = [[10, 2.0, 0.2, 0.4], [20, 4.0, 0.6, 0.8]]
    assert time_to_reach(points, 0.4) == pytest.approx(3.0)
    assert time_to_reach(points, 0.1) == pytest.approx(1.0)
    assert time_to_reach(points, 0.7) is None
    assert at_steps(points, 20) == (0.6, 0.8) and at_steps(points, 15) == (None, None)
    assert at_budget(points, 3.0) == (0.6, 0.8)


def run_benchmark(script, tmp_path, *flags):
    env = {**os.environ, "TF_WTA_BENCHMARK_RESULTS": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.path.dirname(os.path.dirname(tf_wta.__file__))}
    result = subprocess.run([sys.executable, os.path.join(BENCHMARKS, script), *flags],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_time_to_accuracy_runs_every_method(tmp_path):
    out = run_benchmark("bench_time_to_accuracy.py", tmp_path, "--units", "600", "--dim", "64",
                        "--steps", "12", "--budget-s", "0.5", "--test-examples", "200",
                        "--num-candidates", "16", "--num-sampled", "16")
    rows = json.loads((tmp_path / "time_to_accuracy.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["Dense", "sampled softmax", "WTADense",
                                           "WTADense (shared set)"], out
    for row in rows:
        assert row["steps_done"] >= 12 and row["top1@steps"] is not None
        assert 0 <= row["top1@steps"] <= row["top5@steps"] <= 1
    assert (tmp_path / "time_to_accuracy.png").exists()


def test_output_heads_pass_num_uniform_to_the_shared_layer():
    import output_heads

    default, chosen = (output_heads.build("wta-shared", 600, 8, 0.1, num_uniform=n)
                       for n in (None, 7))
    assert [default.layers[-1].num_uniform, chosen.layers[-1].num_uniform] == [600, 7]


def test_top_k_inference_and_step_profile_run(tmp_path):
    run_benchmark("bench_top_k_inference.py", tmp_path, "--units", "3000", "--dim", "64",
                  "--batch", "32", "--candidates", "16", "64", "--query-noise", "0.25",
                  "--repeats", "2")
    rows = json.loads((tmp_path / "top_k_inference.json").read_text())["rows"]
    assert [r["candidates"] for r in rows] == [16, 64]
    assert rows[-1]["recall@1"] >= 0.9
    run_benchmark("profile_wta_step.py", tmp_path, "--units", "3000", "--dim", "64",
                  "--repeats", "2")
    profile = json.loads((tmp_path / "wta_step_profile.json").read_text())["rows"][0]
    assert profile["step_ms"] > 0 and profile["distinct_rows"] > 0


def test_xml_task_splits_are_seeded_unit_norm_csr_rows():
    import xml_task

    task = xml_task.make_task(2000, train_points=3000, test_points=500, seed=1)
    for split, points in ((task.train, 3000), (task.test, 500)):
        assert len(split) == points and split.indptr.shape == (points + 1,)
        assert split.indptr.dtype == np.int64 and split.indices.dtype == np.int32
        assert split.values.dtype == np.float32 and split.labels.dtype == np.int32
        nonzeros = np.diff(split.indptr)
        assert nonzeros.min() >= 45 and nonzeros.max() <= 100 and 70 < nonzeros.mean() < 80
        rows = np.repeat(np.arange(points), nonzeros)
        np.testing.assert_allclose(np.bincount(rows, split.values.astype(np.float64)**2), 1.0,
                                   rtol=1e-5)
        assert np.all(split.values > 0)
        assert np.all(np.diff(split.indices.astype(np.int64))[rows[1:] == rows[:-1]] > 0)
        assert split.labels.min() >= 0 and split.labels.max() < 2000
        assert split.indices.min() >= 0 and split.indices.max() < 50_000
    again = xml_task.make_task(2000, train_points=3000, test_points=500, seed=1)
    for name in ("indptr", "indices", "values", "labels"):
        assert np.array_equal(getattr(task.train, name), getattr(again.train, name))
        assert np.array_equal(getattr(task.test, name), getattr(again.test, name))
    other = xml_task.make_task(2000, train_points=3000, test_points=500, seed=2)
    assert not np.array_equal(task.train.labels, other.train.labels)
    assert not np.array_equal(task.train.labels[:500], task.test.labels)


def test_xml_task_label_ids_are_zipf_frequency_ranks():
    import xml_task

    task = xml_task.make_task(1000, train_points=50_000, test_points=10)
    probabilities = task.catalogue.probabilities
    assert np.all(np.diff(probabilities) < 0)
    assert probabilities[0] / probabilities[9] == pytest.approx(10.0)
    counts = np.bincount(task.train.labels, minlength=1000)
    assert counts[0] / 50_000 == pytest.approx(probabilities[0], abs=0.01)
    assert counts[:10].mean() > counts[10:100].mean() > counts[100:].mean() > 0
    steeper = xml_task.zipf_probabilities(1000, 2.0)
    assert steeper[0] / steeper[1] == pytest.approx(4.0)


def _mean_shared_features(split, cluster_of):
    """(same label, siblings, unrelated labels): mean features shared by two points."""
    points = np.zeros((len(split), split.num_features), np.float32)
    points[np.repeat(np.arange(len(split)), np.diff(split.indptr)), split.indices] = 1
    shared = points @ points.T
    labels = split.labels
    same_label = labels[:, None] == labels[None, :]
    same_cluster = cluster_of[labels][:, None] == cluster_of[labels][None, :]
    off_diagonal = ~np.eye(len(split), dtype=bool)
    return (shared[same_label & off_diagonal].mean(), shared[same_cluster & ~same_label].mean(),
            shared[~same_cluster].mean())


def test_xml_task_clusters_make_siblings_share_features():
    import xml_task

    own_signal = {}
    for structure in xml_task.STRUCTURES:
        task = xml_task.make_task(500, num_features=5000, structure=structure, train_points=10,
                                  test_points=800)
        catalogue, test = task.catalogue, task.test
        same_label, siblings, unrelated = _mean_shared_features(test, catalogue.cluster_of)
        assert same_label > unrelated + 3
        if structure == "clusters":
            assert siblings > unrelated + 5
        else:
            assert siblings == pytest.approx(unrelated, abs=0.5)
        row_labels = np.repeat(test.labels, np.diff(test.indptr))
        own = (catalogue.signatures[row_labels] == test.indices[:, None]).any(axis=1)
        own_signal[structure] = own.sum() / len(test)
    # The same evidence about the point's own label under both structures.
    assert own_signal["clusters"] == pytest.approx(own_signal["none"], rel=0.05)


def test_xml_task_dataset_and_chunks_build_sparse_batches():
    import tensorflow as tf
    import xml_task

    task = xml_task.make_task(500, num_features=5000, train_points=300, test_points=70)
    batches = list(xml_task.train_dataset(task.train, 128, seed=3).take(5))  # 2 per epoch
    for features, labels in batches:
        assert isinstance(features, tf.SparseTensor) and features.dtype == tf.float32
        assert features.dense_shape.numpy().tolist() == [128, 5000]
        assert labels.dtype == tf.int32 and labels.shape == (128,)
        norms = tf.sparse.reduce_sum(tf.square(features), axis=1).numpy()
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    again = next(iter(xml_task.train_dataset(task.train, 128, seed=3)))
    assert np.array_equal(again[1], batches[0][1])
    assert not np.array_equal(batches[0][1], batches[2][1])  # a new order each epoch
    rows = xml_task.sparse_rows(task.train.tensors(), tf.constant([7, 2], tf.int64), 5000)
    for position, row in enumerate((7, 2)):
        start, stop = task.train.indptr[row], task.train.indptr[row + 1]
        expected = np.zeros(5000, np.float32)
        expected[task.train.indices[start:stop]] = task.train.values[start:stop]
        np.testing.assert_array_equal(tf.sparse.to_dense(rows).numpy()[position], expected)
    chunks = list(task.test.chunks(32))
    assert [c[0].dense_shape.numpy()[0] for c in chunks] == [32, 32, 6]
    assert np.array_equal(np.concatenate([c[1] for c in chunks]), task.test.labels)


def test_extreme_classification_arms_expand_families():
    import argparse

    from bench_extreme_classification import arm_name, expand_arms

    arms = expand_arms(["dense", "uniform", "loguniform", "uniform-512", "wta-shared"],
                       [128, 512], 2048)
    assert arms == ["dense", "uniform-128", "uniform-512", "loguniform-2048", "wta-shared"]
    assert arm_name("loguniform-64") == "loguniform-64" and arm_name("uniform") == "uniform"
    with pytest.raises(argparse.ArgumentTypeError, match="expected one of"):
        arm_name("sampled")


def test_extreme_classification_shared_arms_set_their_layer_arguments():
    import argparse

    from bench_extreme_classification import build_model

    args = argparse.Namespace(seed=0, learning_rate=1e-3, features=50, hidden=8,
                              wta_kwargs='{"num_uniform": 100}')
    layers = [build_model(arm, 3000, args).layers[-1] for arm in ("wta-shared", "wta-shared-hashed")]
    assert [(layer.num_candidates, layer.num_uniform) for layer in layers] == [(0, 100), (8, 100)]


TINY_EXTREME = ("--labels", "2000", "--features", "2000", "--budget-s", "1", "--train-points",
                "5000", "--test-points", "200")


def test_extreme_classification_runs_dense_and_sampled_arms(tmp_path):
    out = run_benchmark("bench_extreme_classification.py", tmp_path, *TINY_EXTREME,
                        "--structure", "clusters", "--methods", "dense", "uniform",
                        "--uniform-sizes", "128")
    rows = json.loads((tmp_path / "extreme_classification.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["dense", "uniform-128"], out
    for row in rows:
        assert row["labels"] == 2000 and row["structure"] == "clusters"
        assert row["steps_done"] > 0 and row["ms_per_step"] > 0 and row["peak_mb"] > 0
        assert 0 <= row["final_P@1"] <= 1 and 0 <= row["final_P@5"] <= 0.2
        assert (row["P@1@budget"], row["P@5@budget"]) == (row["final_P@1"], row["final_P@5"])
        assert row["P@1@60s"] is None and "recall@1" not in row
    assert rows[0]["s_to_90%_dense"] is not None
    assert (tmp_path / "extreme_classification.png").exists()
    assert (tmp_path / "extreme_classification.svg").exists()


def test_extreme_classification_runs_wta_arms_with_kwargs(tmp_path):
    out = run_benchmark("bench_extreme_classification.py", tmp_path, *TINY_EXTREME,
                        "--structure", "none", "--methods", "wta-per-example", "wta-shared",
                        "--wta-kwargs", '{"num_candidates": 64}', "--name", "xc_wta")
    data = json.loads((tmp_path / "xc_wta.json").read_text())
    assert data["metadata"]["wta_kwargs"] == '{"num_candidates": 64}'
    rows = data["rows"]
    assert [r["method"] for r in rows] == ["wta-per-example", "wta-shared"], out
    for row in rows:
        assert row["steps_done"] > 0 and 0 <= row["final_P@1"] <= 1
        assert 0 <= row["recall@1"] <= 1 and 0 <= row["recall@10"] <= 1
        assert 0 < row["partition_share"] <= 1


def test_extreme_classification_fails_on_a_failed_arm(tmp_path):
    env = {**os.environ, "TF_WTA_BENCHMARK_RESULTS": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.path.dirname(os.path.dirname(tf_wta.__file__))}
    result = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, "bench_extreme_classification.py"),
         *TINY_EXTREME, "--structure", "none", "--methods", "wta-shared",
         "--wta-kwargs", '{"num_uniform": -1}'], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "failed runs (their errors are above): wta-shared at 2000 labels (none)" in result.stderr
    assert "num_uniform" in result.stderr


def cached_stand_in_features(tmp_path):
    """Learnable stand-in features in the example's cache (48 per image,
    glyphs/tiny's 40 classes, 8 train and 4 test images each): the
    benchmark only needs glyphs/tiny's metadata and the cached arrays.
    Returns the flags that point the benchmark at them."""
    sys.path.insert(0, os.path.join(os.path.dirname(BENCHMARKS), "examples"))
    from example_data import load_image_splits
    from features import cache_path

    data_dir, cache_dir = str(tmp_path / "tfds"), str(tmp_path / "cache")
    _, info = load_image_splits("glyphs/tiny", ("train", "test"), data_dir)
    rng = np.random.default_rng(0)
    prototypes = rng.standard_normal((40, 48)).astype(np.float32)
    os.makedirs(cache_dir)
    for split, per_class in (("train", 8), ("test", 4)):
        labels = np.repeat(np.arange(40, dtype=np.int32), per_class)
        features = prototypes[labels] + 0.3 * rng.standard_normal((len(labels), 48))
        np.savez(cache_path(cache_dir, "DenseNet121", None, info.full_name, split, 32),
                 features=features.astype(np.float32), labels=labels)
    return ["--dataset", "glyphs/tiny", "--data-dir", data_dir, "--cache-dir", cache_dir]


@pytest.mark.slow
def test_fastfood_dense_benchmark_reads_cached_features(tmp_path):
    out = run_benchmark("bench_fastfood_dense.py", tmp_path, *cached_stand_in_features(tmp_path),
                        "--classes", "20",
                        "--hidden-units", "64", "64", "--epochs", "3", "--batch-size", "16",
                        "--learning-rate", "1e-2",
                        "--methods", "dense", "fastfood", "fastfood-fixed", "linear")
    data = json.loads((tmp_path / "fastfood_dense.json").read_text())
    assert data["metadata"]["train_examples"] == 160 and data["metadata"]["test_examples"] == 80
    rows = {row["method"]: row for row in data["rows"]}
    assert list(rows) == ["dense", "fastfood", "fastfood-fixed", "linear"], out
    output_layer = 64 * 20 + 20
    # FastfoodDense pads 48 features to d = 64: 2 d (G, B) + 64 (S) + 64 (bias).
    assert rows["dense"]["hidden_params"] == 48 * 64 + 64 + 64 * 64 + 64
    assert rows["fastfood"]["hidden_params"] == 2 * (2 * 64 + 64 + 64)
    assert rows["linear"]["hidden_params"] == 0
    assert rows["linear"]["top_params"] == 48 * 20 + 20
    assert rows["fastfood"]["top_params"] == rows["fastfood"]["hidden_params"] + output_layer
    assert rows["fastfood"]["hidden_params_vs_dense"] == f"{7296 / 512:.1f}x fewer"
    assert rows["fastfood-fixed"]["hidden_params"] == 64 + 64  # the biases only
    assert rows["dense"]["mean_abs_S"] is None and rows["linear"]["mean_abs_S"] is None
    for layer in rows["fastfood-fixed"]["mean_abs_S"].split(", "):  # "before->after"
        before, after = layer.split("->")
        assert before == after
    assert rows["fastfood"]["mean_abs_S"].count("->") == 2
    assert rows["dense"]["top1_vs_dense_points"] == 0.0
    for row in rows.values():
        assert row["top1"] > 0.5 and row["top1"] <= row["top5"] <= 1  # chance: 0.05
        assert row["ms_per_step"] > 0 and len(row["curve"]) == 3
    assert "target, fastfood: 14x fewer hidden parameters (met: >= 10x)" in out
    assert (tmp_path / "fastfood_dense.png").exists() and (tmp_path / "fastfood_dense.svg").exists()


@pytest.mark.slow
def test_fastfood_dense_benchmark_with_sgd_diagonal_rate_and_wider_fastfood(tmp_path):
    out = run_benchmark("bench_fastfood_dense.py", tmp_path, *cached_stand_in_features(tmp_path),
                        "--classes", "20", "--hidden-units", "64", "--fastfood-units", "256",
                        "--epochs", "2", "--batch-size", "16", "--optimizer", "sgd",
                        "--learning-rate", "1e-2", "--momentum", "0.5",
                        "--diagonal-learning-rate", "1e-1", "--methods", "dense", "fastfood",
                        "dense-fixed", "--name", "sgd")
    assert "SGD 0.01 (momentum 0.5), diagonals at 0.1" in out
    rows = {row["method"]: row for row in json.loads((tmp_path / "sgd.json").read_text())["rows"]}
    assert rows["dense"]["hidden"] == "1 x 64 Dense"
    assert rows["dense-fixed"]["hidden"] == "1 x 64 Dense (fixed)"
    assert rows["dense-fixed"]["hidden_params"] == 0
    assert rows["dense-fixed"]["top_params"] == 64 * 20 + 20
    # 256 outputs from d = 64: 4 blocks of G and B, S and the bias.
    assert rows["fastfood"]["hidden"] == "1 x 256 FastfoodDense (learned: SGB)"
    assert rows["fastfood"]["hidden_params"] == 2 * 4 * 64 + 256 + 256
    assert rows["fastfood"]["top_params"] == rows["fastfood"]["hidden_params"] + 256 * 20 + 20
    for row in rows.values():
        assert len(row["top1_per_epoch"].split(", ")) == 2
        assert all(0 <= float(a) <= 1 for a in row["train_top1_per_epoch"].split(", "))
    mean_s_before, mean_s_after = rows["fastfood"]["mean_abs_S"].split("->")
    assert mean_s_before != mean_s_after  # S trained, at its own rate


def test_fastfood_dense_benchmark_rejects_a_bad_learning_rate(tmp_path):
    env = {**os.environ, "TF_WTA_BENCHMARK_RESULTS": str(tmp_path)}
    result = subprocess.run([sys.executable, os.path.join(BENCHMARKS, "bench_fastfood_dense.py"),
                             "--diagonal-learning-rate", "0"], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 2
    assert "--diagonal-learning-rate must be > 0, got 0.0" in result.stderr


def test_sparse_hidden_counts_hash_and_candidate_multiplications():
    from bench_sparse_hidden import hash_multiplications, multiplications

    simhash = tf_wta.WTADense(1000, mode="hidden", num_candidates=50, num_tables=100,
                              codes_per_table=6, window_size=8, hash_type="simhash",
                              pool_size=4)
    wta = tf_wta.WTADense(1000, mode="hidden", num_candidates=50, hash_type="wta", pool_size=1)
    assert hash_multiplications(784, simhash) == 196 + 100 * 6 * 8  # pooling + projections
    assert hash_multiplications(784, wta) == 0  # WTA only compares
    dense = multiplications(784, [1000], 10, [1000], [0])
    assert dense == 784 * 1000 + 1000 * 10
    assert multiplications(784, [1000], 10, [50], [5000]) == 784 * 50 + 5000 + 1000 * 10


def test_sparse_hidden_runs_dense_and_sparse_rows(tmp_path):
    run_benchmark("bench_sparse_hidden.py", tmp_path, "--datasets", "rectangles", "--train-size",
                  "256", "--test-size", "128", "--epochs", "1", "--hidden-units", "100",
                  "--fractions", "0.1", "0.2", "--variants", "wta", "--compare-at", "0.1")
    rows = json.loads((tmp_path / "sparse_hidden_rectangles.json").read_text())["rows"]
    assert [(r["model"], r["active"]) for r in rows] == [
        ("Dense", 1.0), ("simhash pool 2", 0.1), ("wta", 0.1), ("simhash pool 2", 0.2)]
    assert rows[0]["mults_rel"] == 1.0 and all(r["mults_rel"] < 0.5 for r in rows[1:])
    assert all(0 <= r["accuracy"] <= 1 and r["epoch_s"] > 0 and r["epoch_cpu_s"] > 0
               for r in rows)
    assert rows[0]["cpu_rel"] == 1.0 and all(r["cpu_rel"] > 0 for r in rows[1:])
    assert (tmp_path / "sparse_hidden_rectangles.png").exists()


def test_sparse_hidden_profile_times_every_stage(tmp_path):
    run_benchmark("profile_sparse_hidden.py", tmp_path, "--units", "200", "--dim", "64",
                  "--batch", "8", "--repeats", "2")
    row = json.loads((tmp_path / "sparse_hidden_profile.json").read_text())["rows"][0]
    assert row["candidates"] == 10
    assert all(row[stage] > 0 for stage in ("dense_step", "sparse_step", "hash_and_query",
                                            "hash", "query", "hashed_matmul", "scatter",
                                            "rehash_all_rows"))


@pytest.mark.slow
def test_shard_costs_measures_every_shard_and_estimates_the_layer(tmp_path):
    out = run_benchmark("bench_shard_costs.py", tmp_path, "--shard-rows", "3000", "6000",
                        "--dim", "32", "--batch", "16", "--num-uniform", "48",
                        "--touched", "8", "64", "--num-candidates", "8", "--num-tables", "4",
                        "--classes", "1000000", "--shard-memory-gb", "0.1", "--workers", "2",
                        "--repeats", "2")
    result = json.loads((tmp_path / "shard_costs.json").read_text())
    assert [r["rows"] for r in result["rows"]] == [3000, 6000]
    for row in result["rows"]:
        assert all(row[key] > 0 for key in ("gather_ms@8", "update_ms@64", "query_ms",
                                            "rebuild_ms", "index_mb"))
    (estimate,) = result["metadata"]["estimate"]
    # 3 x 4 bytes x 10^6 x 32 = 366 MiB of state over 0.1 GiB shards.
    # 64 candidate rows per worker step, 16 of them on each shard, from 2 workers.
    assert estimate["shards"] == 4 and estimate["rows_per_shard_per_step"] == 32
    assert estimate["mb_per_worker_step"] == round(64 * 2 * (4 * 32 + 8) / 2**20, 1)
    # The step is the sum of its parts, each rounded to 0.1 ms as the step is.
    parts = estimate["worker_ms"] + estimate["network_ms"] + estimate["shard_ms"]
    assert estimate["step_ms"] == pytest.approx(parts, abs=0.2)
    again = run_benchmark("bench_shard_costs.py", tmp_path, "--estimate-only", "--dim", "32",
                          "--batch", "16", "--num-uniform", "48", "--classes", "1000000",
                          "--shard-memory-gb", "0.1", "--workers", "2")
    first_row = out.split("Estimate")[1].strip().splitlines()[2]
    assert again.strip().splitlines()[-1].split() == first_row.split()


@pytest.mark.slow
def test_fastfood_end_to_end_trains_both_cnns(tmp_path):
    run_benchmark("bench_fastfood_end_to_end.py", tmp_path, "--dataset", "rectangles",
                  "--train-size", "64", "--test-size", "40", "--conv-filters", "2", "4",
                  "--hidden-units", "64", "64", "--epochs", "2", "--batch-size", "32",
                  "--seeds", "0", "1", "--dropout", "0.5", "--name", "e2e")
    rows = json.loads((tmp_path / "e2e.json").read_text())["rows"]
    assert [(r["method"], r["seed"]) for r in rows] == [
        ("dense", 0), ("fastfood", 0), ("dense", 1), ("fastfood", 1),
        ("dense", "mean"), ("fastfood", "mean")]
    dense, fastfood = rows[:2]
    # Dense pair: 64 x 64 + 64 weights and biases twice; Fastfood: S, G, B and bias
    # per 64-wide block (64 features in) twice. Dropout adds no weights.
    assert dense["hidden_params"] == 2 * (64 * 64 + 64)
    assert fastfood["hidden_params"] == 2 * 4 * 64
    assert dense["points_vs_dense"] == 0 and len(fastfood["top1_per_epoch"]) == 2
    assert all(0 <= r["top1"] <= 1 for r in rows)
    differences = [100 * (rows[i + 1]["top1"] - rows[i]["top1"]) for i in (0, 2)]
    mean = rows[-1]
    assert mean["points_vs_dense"] == pytest.approx(sum(differences) / 2, abs=0.01)
    assert mean["points_vs_dense_sd"] == pytest.approx(abs(differences[0] - differences[1])
                                                       / 2 ** 0.5, abs=0.01)
    assert mean["top1_per_epoch"] == pytest.approx(
        [(a + b) / 2 for a, b in zip(rows[1]["top1_per_epoch"], rows[3]["top1_per_epoch"])],
        abs=1e-4)


def test_fastfood_end_to_end_rejects_a_bad_dropout(tmp_path):
    env = {**os.environ, "TF_WTA_BENCHMARK_RESULTS": str(tmp_path)}
    result = subprocess.run([sys.executable, os.path.join(BENCHMARKS,
                                                          "bench_fastfood_end_to_end.py"),
                             "--dropout", "1"], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "--dropout must be in [0, 1), got 1.0" in result.stderr
