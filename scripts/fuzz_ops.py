"""Long fuzz of every tf_wta op (see tests/fuzzing.py for the contract).

    python scripts/fuzz_ops.py --cases 10000 --seed 0 --workers 2
    python scripts/fuzz_ops.py --op query_index --seed 0 --case 123   # one reproducer
    python scripts/fuzz_ops.py --cases 10000 --workers 4 --time-budget 3600   # what fits

Prints a table per op: cases, passed, clean errors, failures, and each
failure with its reproducer (--op/--seed/--case) and description. Exits 1
when any case failed.
"""
import argparse
import collections
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import fuzzing  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="cases per op")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="child processes")
    parser.add_argument("--op", action="append", choices=fuzzing.OPS,
                        help="fuzz only this op (repeatable)")
    parser.add_argument("--case", type=int, action="append",
                        help="run only this case id (repeatable), e.g. a reproducer")
    parser.add_argument("--first-case", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="CPU seconds per case before it counts as a hang (wall time: "
                             "10x this)")
    parser.add_argument("--show", type=int, default=10, help="failures listed per op")
    parser.add_argument("--time-budget", type=float, default=None,
                        help="seconds: start no case after this, and report the cases run")
    args = parser.parse_args()
    # A plain `kill` then stops the workers too (the runner's exit path).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ops = args.op or list(fuzzing.OPS)
    case_ids = args.case or range(args.first_case, args.first_case + args.cases)
    # Interleave the ops so that a slow op does not hold up the others.
    jobs = [(op, args.seed, i) for i in case_ids for op in ops]
    counts = {op: collections.Counter() for op in ops}
    failures = collections.defaultdict(list)
    started = time.monotonic()
    done = [0]

    def progress(outcome):
        counts[outcome.op][outcome.status] += 1
        if outcome.status == fuzzing.FAILURE:
            failures[outcome.op].append(outcome)
            print(f"FAILURE {outcome.reproducer()}: {outcome.description}\n    "
                  f"{outcome.detail.strip()[:1500]}", flush=True)
        done[0] += 1
        if done[0] % 1000 == 0:
            print(f"... {done[0]}/{len(jobs)} cases, {time.monotonic() - started:.0f} s",
                  flush=True)

    with fuzzing.Runner(workers=args.workers, timeout=args.timeout) as runner:
        runner.run(jobs, on_outcome=progress,
                   deadline=None if args.time_budget is None else started + args.time_budget)
    elapsed = time.monotonic() - started
    ran = sum(sum(c.values()) for c in counts.values())
    cut = f" (time budget reached: {ran} of {len(jobs)} run)" if ran < len(jobs) else ""
    print(f"\nseed {args.seed}, {ran} cases in {elapsed:.0f} s, {args.workers} workers{cut}\n")
    print("| op | cases | passed | clean errors | failures |")
    print("|---|---:|---:|---:|---:|")
    for op in ops:
        c = counts[op]
        total = sum(c.values())
        print(f"| {op} | {total} | {c[fuzzing.PASS]} | {c[fuzzing.CLEAN_ERROR]} | "
              f"{c[fuzzing.FAILURE]} |")
    if any(failures.values()):
        print("\nfailures (reproduce with python scripts/fuzz_ops.py REPRODUCER):")
        for op in ops:
            for outcome in failures[op][:args.show]:
                print(f"  {outcome.reproducer()}: {outcome.description}\n    "
                      f"{outcome.detail.strip().splitlines()[0][:300]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
