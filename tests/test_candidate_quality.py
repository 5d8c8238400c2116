"""candidate_quality against numpy brute force, and the CandidateQuality callback."""
import numpy as np
import pytest

import tf_wta
from model_helpers import compile_for_classes, dataset, output_model, prototype_data


def brute_force(inputs, kernel, bias, candidates, ks):
    logits = inputs.astype(np.float64) @ kernel.T.astype(np.float64) + bias
    order = np.argsort(-logits, axis=1, kind="stable")
    rows = candidates if candidates.ndim == 2 else np.broadcast_to(candidates,
                                                                    (len(inputs),) + candidates.shape)
    quality = {}
    for k in ks:
        quality[f"recall@{k}"] = np.mean([np.isin(order[b, :k], rows[b]).mean()
                                          for b in range(len(inputs))])
    shares = []
    for b, row in enumerate(rows):
        ids = np.unique(row[row >= 0])
        shares.append(np.exp(logits[b, ids]).sum() / np.exp(logits[b]).sum())
    quality["partition_share"] = np.mean(shares)
    return quality


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("chunk_units", [7, 1000])
def test_matches_brute_force(shared, chunk_units):
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((9, 6)).astype(np.float32)
    kernel = rng.standard_normal((50, 6)).astype(np.float32)
    bias = rng.standard_normal(50).astype(np.float32)
    shape = (20,) if shared else (9, 12)
    candidates = rng.integers(-1, 50, shape).astype(np.int32)  # -1 slots and repeats
    got = tf_wta.candidate_quality(inputs, kernel, bias, candidates, ks=(1, 3, 10),
                                   chunk_units=chunk_units)
    expected = brute_force(inputs, kernel, bias, candidates, (1, 3, 10))
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == pytest.approx(expected[name], rel=1e-5), name


def test_all_classes_as_candidates_cover_everything():
    rng = np.random.default_rng(1)
    inputs = rng.standard_normal((4, 5)).astype(np.float32)
    kernel = rng.standard_normal((30, 5)).astype(np.float32)
    quality = tf_wta.candidate_quality(inputs, kernel, None, np.arange(30, dtype=np.int32))
    assert quality == pytest.approx({"recall@1": 1.0, "recall@10": 1.0, "partition_share": 1.0})


@pytest.mark.parametrize("candidates", ["shared", "per_example"])
def test_callback_logs_candidate_quality_during_fit(candidates):
    x, y = prototype_data(400, 16, 1024, seed=5)
    model = compile_for_classes(output_model(400, 16, candidates=candidates, num_candidates=16,
                                             rebuild_every=4,
                                             **({"num_uniform": 16} if candidates == "shared"
                                                else {})),
                                tf_wta.LazyAdam(0.01))
    callback = tf_wta.CandidateQuality(x[:64], every_n_steps=10)
    history = model.fit(dataset(x, y), epochs=2, verbose=0, callbacks=[callback])
    for name in ("candidate_recall@1", "candidate_recall@10", "candidate_partition_share"):
        assert len(history.history[name]) == 2
        assert all(0.0 <= value <= 1.0 for value in history.history[name])
    steps = [step for step, _ in callback.measurements]
    assert steps == [10, 16, 20, 30, 32]  # every 10 steps and at the epoch ends (16 steps each)
    if candidates == "per_example":
        # Far better than 16 random classes (0.04): the hash finds top classes.
        assert history.history["candidate_recall@10"][-1] > 2 * 16 / 400
