"""Kernel rescaling against training at full resolution from scratch (glyphs, 2 CPUs).

    python benchmarks/bench_kernel_rescaling.py                 # ~6 min on 2 cores
    python benchmarks/bench_kernel_rescaling.py --classes 100 --train-per-class 60 --full-epochs 3

Both arms train the same CNN (examples/kernel_rescaling.py: three conv blocks,
kernels 6x6 at 32x32, global pooling, Dense head) on the same offline-rendered
glyphs, side by side in one process, with Adam and a cosine decay:

  baseline:  `--epochs` epochs at 32x32 from scratch;
  rescaled:  `--low-epochs` epochs at 16x16 with 3x3 kernels, `tf_wta.rescale_kernels`,
             then `--full-epochs` epochs at 32x32 (`tf_wta.fit_with_kernel_rescaling`).

Training time excludes the per-epoch test evaluations (tracing included, so the
rescaled arm pays it twice). Reported: final test accuracy, training time, and
the training time each arm needs to reach the baseline's final test accuracy
(first epoch at or above it, and linearly interpolated between epochs); the
saving is 1 - rescaled / baseline. Writes
results/kernel_rescaling.json and .png (test accuracy against training time).
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))

import common  # noqa: E402
from markdown_table import markdown_table  # noqa: E402

COLUMNS = ["arm", "epochs", "train_s", "final_top1", "time_to_baseline_s", "saving",
           "interpolated_s", "interpolated_saving"]


def time_to_reach(points, target, interpolate=False):
    """Cumulative training time at which the accuracy first reaches `target`:
    the first evaluation at or above it, or (interpolate=True) linearly
    interpolated between that evaluation and the one before; None if never."""
    previous = (0.0, 0.0)
    for seconds, accuracy, _ in points:
        if accuracy >= target - 1e-9:
            if not interpolate or accuracy == previous[1]:
                return seconds
            fraction = (target - previous[1]) / (accuracy - previous[1])
            return previous[0] + max(0.0, fraction) * (seconds - previous[0])
        previous = (seconds, accuracy)
    return None


def summary_rows(curves, epochs):
    """Table rows: final accuracy, time to the baseline's final accuracy, saving."""
    target = curves["baseline"][-1][1]
    rows = []
    for name, points in curves.items():
        row = {"arm": name, "epochs": epochs.get(name), "train_s": round(points[-1][0], 1),
               "final_top1": round(points[-1][1], 4)}
        for key, saving, interpolate in (("time_to_baseline_s", "saving", False),
                                         ("interpolated_s", "interpolated_saving", True)):
            reach = time_to_reach(points, target, interpolate)
            base = time_to_reach(curves["baseline"], target, interpolate)
            row[key] = None if reach is None else round(reach, 1)
            row[saving] = None if reach is None else f"{1 - reach / base:.1%}"
        rows.append(row)
    return rows


def run_arm(name, args, train_data, test_data, steps_per_epoch):
    import keras

    import kernel_rescaling as example
    import tf_wta

    keras.utils.set_random_seed(0)
    clock = example.TrainingClock(test_data.__getitem__)
    build = lambda r: example.build_cnn(r, args.classes, args.width)  # noqa: E731
    if name == "baseline":
        model = build(32)
        model.compile(**example.compile_kwargs(args.epochs * steps_per_epoch, args.lr))
        model.fit(train_data, epochs=args.epochs, callbacks=[clock.callback], verbose=2)
        epochs = f"{args.epochs} x 32"
    else:
        total = args.low_epochs + args.full_epochs
        tf_wta.fit_with_kernel_rescaling(
            build, train_data, 16, 32, epochs=total, low_epochs=args.low_epochs,
            compile_kwargs=example.compile_kwargs(total * steps_per_epoch, args.lr),
            callbacks=[clock.callback], verbose=2)
        epochs = f"{args.low_epochs} x 16 + {args.full_epochs} x 32"
    return clock.points, epochs


def plot(curves, path):
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
    from plotting import plot_curves

    return plot_curves({k: [(s, a) for s, a, _ in v] for k, v in curves.items()}, path,
                       "glyphs 32x32: from scratch vs 16x16 + kernel rescaling")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--train-per-class", type=int, default=30)
    parser.add_argument("--test-per-class", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--low-epochs", type=int, default=4)
    parser.add_argument("--full-epochs", type=int, default=4)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--order", default="baseline,rescaled")
    args = parser.parse_args(argv)

    import numpy as np

    import kernel_rescaling as example
    from tf_wta.kernel_rescaling_schedule import resize_images

    train = example.glyph_arrays(args.classes, args.train_per_class, seed=0)
    test = example.glyph_arrays(args.classes, args.test_per_class, seed=1)
    train_data = example.dataset(*train, args.batch_size, shuffle=True)
    test_full = example.dataset(*test, 256)
    test_data = {32: test_full, 16: resize_images(test_full, 16)}
    steps = int(np.ceil(len(train[1]) / args.batch_size))
    curves, epochs = {}, {}
    for name in args.order.split(","):
        curves[name], epochs[name] = run_arm(name, args, train_data, test_data, steps)
    rows = summary_rows(curves, epochs)
    common.print_table(rows, COLUMNS)
    print("\n".join(markdown_table(rows, COLUMNS)))
    path = common.write_json("kernel_rescaling", rows, curves=curves, args=vars(args))
    print(f"wrote {path} and {plot(curves, common.plot_path('kernel_rescaling'))}")
    return rows


if __name__ == "__main__":
    main()
