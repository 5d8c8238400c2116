"""Time to accuracy: Dense, sampled softmax and WTADense output layers, 10k to 1M units.

    python benchmarks/bench_time_to_accuracy.py                       # synthetic, 10k/100k/1M
    python benchmarks/bench_time_to_accuracy.py --units 10000 --steps 300 --budget-s 20
    python benchmarks/bench_time_to_accuracy.py --features-train TRAIN.npz --features-test TEST.npz

Each (units, method) trains in its own process (its own peak memory) with
`model.fit`, batch 256, `tf_wta.SparseSGD` (see output_heads.py for the three
output layers) until it has done `--steps` steps AND trained for `--budget-s`
seconds (one value for every size, or one per `--units` entry). Dense above `--few-dense-steps-above` units stops after
`--dense-steps` steps (it does not converge in any affordable time there).
Training time excludes the first step (tracing) and the evaluations, which
run at training times `budget * 2**(k/2)` and at step `--steps`: exact top-1
and top-5 of the full `[n, units]` logits on a fixed test set.

Reported per row: ms per step (training time / steps, rebuilds included),
speedup over Dense, peak resident memory (training and evaluation, weights
included), top-1/top-5 after `--steps` steps and at the time budget, and the
training time to reach 90% of Dense's final top-1 (linearly interpolated
between evaluations). Tasks: the synthetic confusable-prototype task
(synthetic_task.py, whose Bayes-optimal top-1 is printed as `oracle_top1`)
and, given --features-*, cached CNN features of an example (the .npz files
examples/retrain_top.py caches), standardised. Writes results/time_to_accuracy.json and
.png (accuracy against training time per size; step time against units).
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import common  # noqa: E402

METHODS = ("dense", "sampled", "wta", "wta-shared")
LABELS = {"dense": "Dense", "sampled": "sampled softmax", "wta": "WTADense",
          "wta-shared": "WTADense (shared set)"}


def eval_schedule(budget_s):
    """Training times (s) at which to evaluate: budget * 2**(k/2), k >= -6."""
    return [budget_s * 2 ** (k / 2) for k in range(-6, 40)]


class ProgressTracker:
    """Keras callback: training clock, evaluations on a schedule, stopping rule.

    The clock starts after the first step (tracing and the first index build)
    and pauses while `evaluate()` -> (top1, top5) runs.
    """

    def __init__(self, evaluate, steps, budget_s):
        import keras

        tracker = self
        self.points, self.step_seconds = [], []
        self.clock, self.step = 0.0, 0

        class _Callback(keras.callbacks.Callback):
            def on_train_batch_begin(cb, batch, logs=None):
                tracker.started = time.perf_counter()

            def on_train_batch_end(cb, batch, logs=None):
                tracker.step += 1
                seconds = time.perf_counter() - tracker.started
                if tracker.step == 1:
                    return
                tracker.step_seconds.append(seconds)
                tracker.clock += seconds
                schedule = tracker.schedule
                if tracker.step == steps or (schedule and tracker.clock >= schedule[0]):
                    while schedule and tracker.clock >= schedule[0]:
                        schedule.pop(0)
                    tracker.points.append([tracker.step, tracker.clock, *evaluate()])
                if tracker.step >= steps and tracker.clock >= budget_s:
                    cb.model.stop_training = True

        self.schedule = eval_schedule(budget_s)
        self.callback = _Callback()


def exact_evaluator(model, x, y, chunk):
    """() -> (top1, top5) of the model's exact logits on x [n, D], y [n]."""
    import numpy as np
    import tensorflow as tf

    @tf.function(jit_compile=False)
    def top5(features):
        return tf.math.top_k(model(features, training=False), 5).indices

    def evaluate():
        ids = np.concatenate([top5(tf.constant(x[i:i + chunk])).numpy()
                              for i in range(0, len(x), chunk)])
        return float(np.mean(ids[:, 0] == y)), float(np.mean((ids == y[:, None]).any(axis=1)))

    return evaluate


def load_task(args):
    """(train dataset, x_test, y_test, units, dim, task) for args.task."""
    import numpy as np
    import tensorflow as tf

    if args.task == "synthetic":
        from synthetic_task import ConfusablePrototypes

        task = ConfusablePrototypes(args.units, args.dim, noise=args.noise,
                                    nuisance=args.nuisance,
                                    within_group_cosine=args.within_group_cosine)
        x_test, y_test = task.sample(args.test_examples)
        return task.dataset(args.batch), x_test, y_test, args.units, args.dim, task
    splits = []
    for path in (args.features_train, args.features_test):
        with np.load(path) as data:
            splits.append((data["features"].astype(np.float32), data["labels"].astype(np.int32)))
    (x_train, y_train), (x_test, y_test) = splits
    # Standardised with the training split's statistics, as retrain_top.py does.
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    units = int(max(y_train.max(), y_test.max())) + 1
    train = (tf.data.Dataset.from_tensor_slices((x_train, y_train)).repeat()
             .shuffle(10_000, seed=0).batch(args.batch).prefetch(tf.data.AUTOTUNE))
    return train, x_test, y_test, units, x_train.shape[1], None


def worker(args):
    """Trains one method on one task; returns its curve and costs."""
    import output_heads

    train, x_test, y_test, units, dim, task = load_task(args)
    if args.worker == "oracle":
        return {"oracle_top1": task.oracle_top1(x_test, y_test)}
    model = output_heads.build(args.worker, units, dim, args.learning_rate,
                               num_candidates=args.num_candidates, num_sampled=args.num_sampled,
                               num_uniform=args.num_uniform)
    tracker = ProgressTracker(exact_evaluator(model, x_test, y_test, args.eval_chunk),
                              args.steps[0], args.budget_s[0])
    common.reset_peak_memory()
    model.fit(train, epochs=1, steps_per_epoch=10**9, verbose=0, callbacks=[tracker.callback])
    return {"units": units, "points": tracker.points, "steps": tracker.step,
            "ms_per_step": tracker.clock / (tracker.step - 1) * 1e3,
            "median_step_ms": statistics.median(tracker.step_seconds) * 1e3,
            "peak_mb": common.peak_memory_mb()}


def at_steps(points, steps):
    """The (top1, top5) evaluated at `steps` steps, or (None, None)."""
    return next(((round(p[2], 3), round(p[3], 3)) for p in points if p[0] == steps),
                (None, None))


def at_budget(points, budget_s):
    """The (top1, top5) of the first evaluation at or after `budget_s`."""
    return next(((round(p[2], 3), round(p[3], 3)) for p in points if p[1] >= budget_s),
                (None, None))


def time_to_reach(points, top1):
    """Training seconds at which top-1 first reaches `top1`, interpolated
    linearly between evaluations (the first one from time 0 and chance), or None."""
    previous_seconds, previous_top1 = 0.0, 0.0
    for _, seconds, accuracy, _ in points:
        if accuracy >= top1:
            fraction = (top1 - previous_top1) / max(accuracy - previous_top1, 1e-12)
            return previous_seconds + fraction * (seconds - previous_seconds)
        previous_seconds, previous_top1 = seconds, accuracy
    return None


def summarise(units, results, steps, budget_s, oracle):
    """Table rows for one task size from the workers' results (method -> dict)."""
    dense = results.get("dense")
    dense_final = dense["points"][-1][2] if dense and dense["points"] else None
    rows = []
    for method, result in results.items():
        if result is None:
            rows.append({"units": units, "method": LABELS[method], "status": "failed"})
            continue
        top1_steps, top5_steps = at_steps(result["points"], steps)
        top1_budget, top5_budget = at_budget(result["points"], budget_s)
        row = {"units": units, "method": LABELS[method], "steps_done": result["steps"],
               "ms_per_step": round(result["ms_per_step"], 1),
               "speedup": (round(dense["ms_per_step"] / result["ms_per_step"], 1)
                           if dense else None),
               "peak_mb": round(result["peak_mb"]),
               "steps": steps, "top1@steps": top1_steps, "top5@steps": top5_steps,
               "budget_s": budget_s, "top1@budget": top1_budget, "top5@budget": top5_budget,
               "final_top1": round(result["points"][-1][2], 3) if result["points"] else None}
        if dense_final:
            reached = time_to_reach(result["points"], 0.9 * dense_final)
            row["s_to_90%_dense"] = round(reached, 1) if reached is not None else None
        if oracle is not None:
            row["oracle_top1"] = oracle
        rows.append(row)
    return rows


def plot(rows, path, curves):
    plt = common.pyplot()
    sizes = sorted({units for units, _ in curves})
    fig, axes = plt.subplots(1, len(sizes) + 1, figsize=(4.2 * (len(sizes) + 1), 3.6),
                             squeeze=False)
    axes = axes[0]
    for ax, units in zip(axes, sizes):
        for method in METHODS:
            points = curves.get((units, method))
            if points:
                ax.plot([p[1] for p in points], [p[2] for p in points], marker=".",
                        label=LABELS[method])
        ax.set(xscale="log", xlabel="training seconds", ylabel="test top-1",
               title=f"{units:,} classes")
        ax.legend(fontsize=8)
    speed = axes[-1]
    for method in METHODS:
        points = sorted((r["units"], r["ms_per_step"]) for r in rows
                        if r["method"] == LABELS[method] and r.get("ms_per_step"))
        if points:
            speed.plot(*zip(*points), marker="o", label=LABELS[method])
    speed.set(xscale="log", yscale="log", xlabel="output units", ylabel="ms per training step")
    speed.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="*", default=[10_000, 100_000, 1_000_000],
                        help="synthetic task sizes (none: only the --features task)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--steps", type=int, nargs="+", default=[2000, 600, 600],
                        help="the fixed number of steps, per size")
    parser.add_argument("--budget-s", type=float, nargs="+", default=[60.0],
                        help="the fixed training time budget in seconds, per size")
    parser.add_argument("--dense-steps", type=int, default=40,
                        help="Dense's steps above --few-dense-steps-above units")
    parser.add_argument("--few-dense-steps-above", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--learning-rate", type=float, default=20.0)
    parser.add_argument("--num-candidates", type=int, default=128,
                        help="WTADense's candidates per example")
    parser.add_argument("--num-sampled", type=int, default=128,
                        help="sampled softmax's samples per step (default: the same budget)")
    parser.add_argument("--num-uniform", type=int, default=None,
                        help="wta-shared's uniform draws per step (default: the layer's)")
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--nuisance", type=float, default=1.0)
    parser.add_argument("--within-group-cosine", type=float, default=0.5)
    parser.add_argument("--test-examples", type=int, default=2000)
    parser.add_argument("--test-examples-1m", type=int, default=500,
                        help="test examples from 1,000,000 units on (exact evaluation is slow)")
    parser.add_argument("--eval-chunk", type=int, default=128)
    parser.add_argument("--features-train", help="cached features .npz (features, labels)")
    parser.add_argument("--features-test", help="cached features .npz of the test split")
    parser.add_argument("--name", default="time_to_accuracy")
    parser.add_argument("--task", default="synthetic", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=METHODS + ("oracle",), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if args.worker:
        args.units = args.units[0]
        print(json.dumps(worker(args)))
        return

    jobs = [("synthetic", units) for units in args.units if units > 0]
    if args.features_train and args.features_test:
        jobs.append(("features", None))
    rows, curves = [], {}
    for position, (task, units) in enumerate(jobs):
        steps = args.steps[min(position, len(args.steps) - 1)]
        budget_s = args.budget_s[min(position, len(args.budget_s) - 1)]
        overrides = {"task": task, "units": units or 0, "name": None, "methods": None,
                     "budget_s": budget_s}
        if units and units >= 1_000_000:
            overrides["test_examples"] = args.test_examples_1m
        oracle = None
        if task == "synthetic":
            oracle = (common.run_worker(os.path.abspath(__file__), args, worker="oracle",
                                        **overrides) or {}).get("oracle_top1")
        results = {}
        for method in args.methods:
            few = method == "dense" and units and units > args.few_dense_steps_above
            result = common.run_worker(os.path.abspath(__file__), args, worker=method,
                                       **overrides, steps=args.dense_steps if few else steps)
            results[method] = result
            if result:
                units = result["units"]
                curves[(units, method)] = result["points"]
                print(json.dumps({"task": task, "method": method,
                                  **{k: v for k, v in result.items() if k != "points"}}),
                      flush=True)
        for row in summarise(units, results, steps, budget_s, oracle):
            rows.append({"task": task, **row})
    columns = ["task", "units", "method", "steps_done", "ms_per_step", "speedup", "peak_mb",
               "steps", "top1@steps", "top5@steps", "budget_s", "top1@budget", "top5@budget",
               "final_top1", "s_to_90%_dense", "oracle_top1"]
    settings = {k: v for k, v in vars(args).items() if k not in ("worker", "task", "name")}
    common.report(args.name, rows, lambda r, p: plot(r, p, curves), columns,
                  curves={f"{u}/{m}": p for (u, m), p in curves.items()}, **settings)
    failed = [f"{r['method']} at {r['units']}" for r in rows if r.get("status") == "failed"]
    if failed:
        sys.exit(f"failed runs (their errors are above): {', '.join(failed)}")


if __name__ == "__main__":
    main()
