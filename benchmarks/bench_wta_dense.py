"""WTADense against Dense as a many-class output layer trained with model.fit.

    python benchmarks/bench_wta_dense.py [--units 10000 100000] [--dim 256]

Synthetic task: unit-norm class prototypes plus Gaussian noise. Both models
(inputs -> output layer) train for the same steps with Adam (LazyAdam for
WTADense), batch 256; reports test top-1, median step time, speedup and peak
memory (each run in its own process). `--wta-only` skips Dense (e.g. for
--units 1000000 --dim 1280, where it shows WTADense trains in O(batch x
candidates) memory). Writes benchmarks/results/wta_dense.json and .png.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import common  # noqa: E402


class StepTimer:
    """Keras callback recording the wall time of every training batch."""

    def __init__(self):
        import keras

        class _Callback(keras.callbacks.Callback):
            def on_train_batch_begin(cb, batch, logs=None):
                cb.start = time.perf_counter()

            def on_train_batch_end(cb, batch, logs=None):
                self.seconds.append(time.perf_counter() - cb.start)

        self.seconds = []
        self.callback = _Callback()


def worker(args):
    import statistics

    import keras
    import numpy as np

    import tf_wta
    from model_helpers import dataset, prototype_data

    train = prototype_data(args.units, args.dim, args.examples_per_class * args.units,
                           noise=args.noise, seed=1)
    test = prototype_data(args.units, args.dim, 5000, noise=args.noise, seed=1, sample_seed=7)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((args.dim,))
    if args.worker == "wta":
        layer = tf_wta.WTADense(args.units, candidates="per_example", seed=0)
        model, optimizer = tf_wta.WTAModel(inputs, layer(inputs)), tf_wta.LazyAdam(args.lr)
    else:
        model = keras.Model(inputs, keras.layers.Dense(args.units)(inputs))
        optimizer = keras.optimizers.Adam(args.lr)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    timer = StepTimer()
    common.reset_peak_memory()
    start = time.perf_counter()
    model.fit(dataset(*train, batch_size=args.batch).take(args.steps).repeat(), verbose=0,
              epochs=1, steps_per_epoch=args.steps, callbacks=[timer.callback])
    train_seconds = time.perf_counter() - start
    training_peak_mb = common.peak_memory_mb()  # before predict's [5000, units] logits
    logits = model.predict(test[0], batch_size=500, verbose=0)
    top1 = float(np.mean(np.argmax(logits, axis=1) == test[1]))
    return {"top1": top1, "step_ms": statistics.median(timer.seconds[5:] or timer.seconds) * 1e3,
            "train_s": train_seconds,
            "peak_rss_mb": training_peak_mb}


def plot(rows, path):
    plt = common.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for method in ("dense", "wta"):
        points = [(r["units"], r[f"{method}_step_ms"], r[f"{method}_top1"]) for r in rows
                  if r.get(f"{method}_step_ms")]
        if points:
            units, step_ms, top1 = zip(*points)
            left.plot(units, step_ms, marker="o", label=method)
            right.plot(units, top1, marker="o", label=method)
    left.set(xscale="log", yscale="log", xlabel="units", ylabel="median ms per step")
    right.set(xscale="log", xlabel="units", ylabel="test top-1 after the same steps")
    left.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--examples-per-class", type=int, default=2)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--wta-only", action="store_true")
    parser.add_argument("--worker", choices=["dense", "wta"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.units = args.units[0]
        print(json.dumps(worker(args)))
        return
    rows = []
    for units in args.units:
        row = {"units": units}
        for method in (["wta"] if args.wta_only else ["dense", "wta"]):
            result = common.run_worker(os.path.abspath(__file__), args, worker=method,
                                       units=units, wta_only=False) or {}
            for key in ("top1", "step_ms", "peak_rss_mb"):
                if key in result:
                    row[f"{method}_{key.replace('_rss', '')}"] = round(result[key], 3 if key == "top1" else 1)
        if row.get("dense_step_ms") and row.get("wta_step_ms"):
            row["speedup"] = round(row["dense_step_ms"] / row["wta_step_ms"], 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    columns = ["units", "dense_top1", "wta_top1", "dense_step_ms", "wta_step_ms", "speedup",
               "dense_peak_mb", "wta_peak_mb"]
    name = "wta_dense" if not args.wta_only else "wta_dense_only"
    common.report(name, rows, plot, columns,
                  **{k: v for k, v in vars(args).items() if k != "worker"})


if __name__ == "__main__":
    main()
