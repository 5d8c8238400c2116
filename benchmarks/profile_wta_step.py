"""Where the time of one WTADense training step goes, op by op.

    python benchmarks/profile_wta_step.py [--units 10000 100000 1000000] [--dim 1280]

For a WTADense output layer in a WTAModel (batch 256, SparseSGD, default
settings), times each stage of the training step as its own tf.function on
the same inputs (median of --repeats calls): hash + query of the batch,
forcing the labels in, the hashed_matmul forward, the loss and the backward
pass (gradient minus forward), the sparse update, and the index rebuild
divided by rebuild_every. The whole step is Keras' `train_on_batch` (median:
a step without a rebuild) plus the amortised rebuild; what the stages do not
explain (Keras' step machinery, label checks, the rebuild schedule's tf.cond)
is `other` (0 when the separately timed stages add up to more than the step). Writes results/wta_step_profile.json and .png.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import common  # noqa: E402

STAGES = ("hash_and_query", "labels_in", "forward", "loss_and_backward", "sparse_update",
          "rebuild_amortised", "other")


def worker(args):
    import keras
    import numpy as np
    import tensorflow as tf

    import tf_wta
    from tf_wta.candidates import candidates_with_labels

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((args.batch, args.dim)), tf.float32)
    labels = tf.constant(rng.integers(0, args.units, args.batch), tf.int32)
    inputs = keras.Input((args.dim,))
    layer = tf_wta.WTADense(args.units, candidates="per_example", seed=0)  # the profiled stages
    model = tf_wta.WTAModel(inputs, layer(inputs))
    optimizer = tf_wta.SparseSGD(0.1)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.train_on_batch(x, labels)  # builds the optimizer and the index

    def loss_of(logits, positions):
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(positions, logits))

    query = tf.function(lambda: layer.query(x), jit_compile=False)
    candidates = query()
    with_labels = tf.function(lambda: candidates_with_labels(candidates, labels),
                              jit_compile=False)
    candidates, positions = with_labels()
    forward = tf.function(lambda: layer._candidate_logits(x, candidates), jit_compile=False)

    @tf.function(jit_compile=False)
    def gradients():
        with tf.GradientTape() as tape:
            loss = loss_of(layer._candidate_logits(x, candidates), positions)
        return tape.gradient(loss, [layer.kernel, layer.bias])

    grads = gradients()
    update = tf.function(lambda: optimizer.apply(grads, [layer.kernel, layer.bias]),
                         jit_compile=False)
    rebuild = tf.function(lambda: layer.index.rebuild(layer.kernel), jit_compile=False)

    def time_ms(fn, repeats=args.repeats):
        return common.median_seconds(lambda: tf.nest.map_structure(
            lambda t: t.numpy() if hasattr(t, "numpy") else t, fn()), repeats) * 1e3

    ms = {"hash_and_query": time_ms(query), "labels_in": time_ms(with_labels),
          "forward": time_ms(forward)}
    ms["loss_and_backward"] = max(time_ms(gradients) - ms["forward"], 0.0)
    ms["sparse_update"] = time_ms(update)
    ms["rebuild_amortised"] = time_ms(rebuild, repeats=3) / layer.index.rebuild_every
    # The median step is one without a rebuild; the rebuild is added amortised.
    step = time_ms(lambda: model.train_on_batch(x, labels))
    ms["other"] = max(step - sum(v for k, v in ms.items() if k != "rebuild_amortised"), 0.0)
    return {"step_ms": step + ms["rebuild_amortised"], **ms,
            "distinct_rows": int(len(np.unique(candidates.numpy())))}


def plot(rows, path):
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    left = [0.0] * len(rows)
    names = [f"{r['units']:,}" for r in rows]
    for stage in STAGES:
        widths = [r[stage] for r in rows]
        ax.barh(names, widths, left=left, label=stage)
        left = [a + b for a, b in zip(left, widths)]
    ax.set(xlabel="ms per training step", ylabel="units")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.units = args.units[0]
        print(json.dumps(worker(args)))
        return
    rows = []
    for units in args.units:
        result = common.run_worker(os.path.abspath(__file__), args, worker=True, units=units)
        if result is None:
            raise SystemExit(f"the {units}-unit run failed (its error is above)")
        row = {"units": units, **{k: round(v, 2) if isinstance(v, float) else v
                                  for k, v in result.items()}}
        for stage in STAGES:
            row[f"{stage}_%"] = round(100 * result[stage] / result["step_ms"])
        rows.append(row)
    columns = ["units", "step_ms", "distinct_rows"] + [c for s in STAGES for c in (s, f"{s}_%")]
    common.report("wta_step_profile", rows, plot, columns,
                  **{k: v for k, v in vars(args).items() if k != "worker"})


if __name__ == "__main__":
    main()
