"""A short seeded fuzz of every op (tests/fuzzing.py; the long run is
scripts/fuzz_ops.py). One long-lived worker process runs every case, so a
crash or a hang fails the test with its reproducer instead of killing pytest."""
import pytest

import fuzzing

CASES_PER_OP = 25
SEED = 20261205
# Cases the long fuzz (scripts/fuzz_ops.py --seed 0) failed once, now fixed.
REGRESSIONS = [("wta_buckets", 0, 1249), ("wta_buckets", 0, 1377), ("wta_buckets", 0, 1788)]


@pytest.fixture(scope="module")
def outcomes():
    jobs = [(op, SEED, i) for i in range(CASES_PER_OP) for op in fuzzing.OPS]
    with fuzzing.Runner(workers=1, timeout=60.0) as runner:
        results = runner.run(jobs)
    return {op: [o for o in results if o.op == op] for op in fuzzing.OPS}


@pytest.mark.parametrize("op", fuzzing.OPS)
def test_fuzz(outcomes, op):
    results = outcomes[op]
    assert len(results) == CASES_PER_OP
    failures = [o for o in results if o.status == fuzzing.FAILURE]
    assert not failures, "\n".join(
        f"scripts/fuzz_ops.py {o.reproducer()}: {o.description}\n  {o.detail[:1500]}"
        for o in failures)
    # The generators reach both sides of the contract.
    statuses = {o.status for o in results}
    assert fuzzing.PASS in statuses, f"no valid case of {op} in {CASES_PER_OP}"


def test_reproducer_is_deterministic():
    a = fuzzing.GENERATORS["query_index"](fuzzing._rng("query_index", 3, 7)).description
    b = fuzzing.GENERATORS["query_index"](fuzzing._rng("query_index", 3, 7)).description
    assert a == b


def test_runner_reports_a_crash(monkeypatch):
    """A case that kills its worker is a failure with its reproducer, and a
    fresh worker runs the next case."""
    with fuzzing.Runner(workers=1, timeout=60.0) as runner:
        outcomes = runner.run([("wta_hash", SEED, fuzzing.CRASH_CASE_ID),
                               ("wta_hash", SEED, 0)])
    crash = [o for o in outcomes if o.case_id == fuzzing.CRASH_CASE_ID][0]
    assert crash.status == fuzzing.FAILURE and "crash" in crash.detail
    assert "--case" in crash.reproducer()
    assert [o for o in outcomes if o.case_id == 0][0].status != fuzzing.FAILURE


def test_runner_reports_a_hang():
    """A case that spins is a hang once it has used `timeout` seconds of CPU
    time (wall time is not used here: idle_factor is huge), and a fresh
    worker runs the next case."""
    with fuzzing.Runner(workers=1, timeout=1.0, idle_factor=1000.0) as runner:
        outcomes = runner.run([("wta_hash", SEED, fuzzing.HANG_CASE_ID),
                               ("wta_hash", SEED, 0)])
    hang = [o for o in outcomes if o.case_id == fuzzing.HANG_CASE_ID][0]
    assert hang.status == fuzzing.FAILURE and "of CPU time" in hang.detail
    assert [o for o in outcomes if o.case_id == 0][0].status != fuzzing.FAILURE


def test_regressions_from_the_long_fuzz():
    with fuzzing.Runner(workers=1, timeout=60.0) as runner:
        outcomes = runner.run(REGRESSIONS)
    failures = [o for o in outcomes if o.status == fuzzing.FAILURE]
    assert len(outcomes) == len(REGRESSIONS) and not failures, "\n".join(
        f"{o.reproducer()}: {o.description}\n  {o.detail[:1500]}" for o in failures)
