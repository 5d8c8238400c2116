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
    assert [r["method"] for r in rows] == ["Dense", "sampled softmax", "WTADense"], out
    for row in rows:
        assert row["steps_done"] >= 12 and row["top1@steps"] is not None
        assert 0 <= row["top1@steps"] <= row["top5@steps"] <= 1
    assert (tmp_path / "time_to_accuracy.png").exists()


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
