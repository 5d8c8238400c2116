"""Extreme classification, time to accuracy: Dense, sampled softmax and WTADense heads.

    python benchmarks/bench_extreme_classification.py          # 100k labels, both structures
    python benchmarks/bench_extreme_classification.py --labels 1000000 --structure clusters
    python benchmarks/bench_extreme_classification.py --methods wta-shared dense \\
        --wta-kwargs '{"num_uniform": 2048, "num_candidates": 256}'

The task (xml_task.py) is shaped like the Extreme Classification
Repository's data: sparse tf-idf-like bags of `--features` features, Zipf
label frequencies (label id = frequency rank), one label per point, and with
`--structure clusters` clusters of confusable sibling labels whose points
share features (hard negatives); `none` is the same task without them. The
model is `sparse input -> --hidden relu units -> output layer`, the first
layer a `SparseLinear` (embedding lookup, sparse kernel gradient, the same in
every arm), trained jointly with `model.fit`, batch `--batch`,
`tf_wta.LazyAdam(--learning-rate)`. The arms (`--methods`; a family name
expands to its sizes, or name one arm, e.g. `uniform-512`):
  dense              keras.layers.Dense(labels), full softmax cross-entropy.
  uniform-N          tf.nn.sampled_softmax_loss, N negatives shared by the batch
                     from tf.random.uniform_candidate_sampler (N in --uniform-sizes).
  loguniform-N       the same with tf.random.log_uniform_candidate_sampler, which
                     matches Zipf frequencies when ids are frequency ranks
                     (N = --loguniform-size).
  wta-per-example    tf_wta.WTADense(candidates="per_example") in tf_wta.WTAModel.
  wta-shared         tf_wta.WTADense(candidates="shared") in tf_wta.WTAModel, the
                     layer's defaults: the batch's labels and 2,048 uniform draws.
  wta-shared-hashed  the same plus the union of each example's 8 best hashed
                     classes (num_candidates=8): what the hash adds.
`--wta-kwargs` (JSON) passes more WTADense arguments to both WTA arms.

Each arm trains in its own process (its own peak memory) for `--budget-s`
seconds of training time, which excludes the first step (tracing) and the
evaluations. Evaluations run at training times budget * 2**(k/2) and at the
end: P@1 and P@5 of the exact logits on the test split (one label per point:
P@1 is top-1 accuracy, P@5 = [label in top 5] / 5), and for the WTA arms the
quality of the candidate set on 256 test points by `tf_wta.CandidateQuality`
(recall of the exact top-1 and top-10 classes among the classes the layer
would score for them, labels not included, and the share of the softmax
partition function they cover; with candidates="shared" a measurement draws
the layer's uniform classes, so it shifts the later training draws).

Reported per arm: ms per step, steps done, P@1/P@5 at 60 s, 120 s and at the
budget (the first evaluation at or after), the final P@1/P@5, the training
seconds to reach 90% of Dense's final P@1, peak resident memory (training and
evaluation, weights included) and the final candidate quality. Writes
results/<--name>.json, .png and .svg: P@1 against training seconds, one
panel per (labels, structure).
"""
import argparse
import json
import os
import re
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import common  # noqa: E402
import tf_wta  # noqa: E402
import xml_task  # noqa: E402
from bench_time_to_accuracy import ProgressTracker, at_budget, time_to_reach  # noqa: E402

FAMILIES = ("dense", "uniform", "loguniform", "wta-per-example", "wta-shared",
            "wta-shared-hashed")
SAMPLERS = {"uniform": tf.random.uniform_candidate_sampler,
            "loguniform": tf.random.log_uniform_candidate_sampler}
WTA_CANDIDATES = {"wta-per-example": "per_example", "wta-shared": "shared",
                  "wta-shared-hashed": "shared"}
# The hashed classes per example of the wta-shared-hashed arm (unless
# --wta-kwargs sets num_candidates).
SHARED_HASHED_CANDIDATES = 8
REPORT_SECONDS = (60, 120)
QUALITY_POINTS = 256
# Rows of exact logits evaluated at once: [chunk, labels] float32 stays <= 128 MB.
EVAL_LOGITS = 2**25


class SparseLinear(keras.layers.Layer):
    """relu(x @ kernel + bias) for a sparse x, with a sparse kernel gradient.

    The product is an embedding lookup of the kernel rows of x's features,
    summed with x's values as weights, so the kernel's gradient is
    `tf.IndexedSlices` over the batch's features and LazyAdam updates only
    those rows.

    Args:
      units: int H.
    Input: tf.SparseTensor float32 [B, F]. Output: float32 [B, H].
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                      initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        ids = tf.SparseTensor(inputs.indices, inputs.indices[:, 1], inputs.dense_shape)
        summed = tf.nn.safe_embedding_lookup_sparse(self.kernel.value, ids, inputs,
                                                     combiner="sum")
        return tf.nn.relu(summed + self.bias)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)


class SampledSoftmaxClassifier(keras.Model):
    """SparseLinear hidden layer, then a linear output layer trained with
    `tf.nn.sampled_softmax_loss` (like output_heads.SampledSoftmaxModel, with
    the hidden layer in front).

    Args:
      num_features: int F; hidden: int H; num_labels: int N.
      num_sampled: int, negatives drawn per step, shared by the batch.
      sampler: a tf.random.*_candidate_sampler, drawing with unique=True.
    Call: tf.SparseTensor float32 [B, F] -> exact logits float32 [B, N].
    """

    def __init__(self, num_features, hidden, num_labels, num_sampled, sampler, **kwargs):
        super().__init__(**kwargs)
        self.num_labels, self.num_sampled, self.sampler = num_labels, num_sampled, sampler
        self.hidden_layer = SparseLinear(hidden)
        self.hidden_layer.build((None, num_features))
        # One row per class, the layout tf.nn.sampled_softmax_loss gathers from.
        self.kernel = self.add_weight(shape=(num_labels, hidden), initializer="glorot_uniform",
                                      name="kernel")
        self.bias = self.add_weight(shape=(num_labels,), initializer="zeros", name="bias")

    def call(self, inputs):
        hidden = self.hidden_layer(inputs)
        return tf.matmul(hidden, self.kernel, transpose_b=True) + self.bias

    def train_step(self, data):
        x, labels = data
        labels = tf.reshape(tf.cast(labels, tf.int64), [-1, 1])
        sampled = self.sampler(labels, num_true=1, num_sampled=self.num_sampled, unique=True,
                               range_max=self.num_labels)
        with tf.GradientTape() as tape:
            hidden = self.hidden_layer(x, training=True)
            loss = tf.reduce_mean(tf.nn.sampled_softmax_loss(
                self.kernel.value, self.bias.value, labels, hidden, self.num_sampled,
                self.num_labels, sampled_values=sampled))
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return {"loss": loss}


def arm_name(text):
    """argparse type of --methods: a family of FAMILIES or one sampled arm
    such as "uniform-512"."""
    if text in FAMILIES or re.fullmatch(r"(log)?uniform-[1-9][0-9]*", text):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r}: expected one of {', '.join(FAMILIES)} or uniform-N / loguniform-N")


def expand_arms(methods, uniform_sizes, loguniform_size):
    """The arms to run, in order: "uniform" becomes uniform-N for each N of
    uniform_sizes, "loguniform" becomes loguniform-<loguniform_size>."""
    arms = []
    for method in methods:
        if method == "uniform":
            arms += [f"uniform-{n}" for n in uniform_sizes]
        elif method == "loguniform":
            arms.append(f"loguniform-{loguniform_size}")
        else:
            arms.append(method)
    return list(dict.fromkeys(arms))


def build_model(arm, num_labels, args):
    """A compiled model for `arm`: tf.SparseTensor float32 [B, F] -> exact
    logits float32 [B, num_labels], trained on int32 labels [B]."""
    keras.utils.set_random_seed(args.seed)
    optimizer = tf_wta.LazyAdam(args.learning_rate)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    family, _, size = arm.partition("-")
    if family in SAMPLERS:
        model = SampledSoftmaxClassifier(args.features, args.hidden, num_labels, int(size),
                                         SAMPLERS[family])
        model.build((None, args.features))
        loss = None
    else:
        inputs = keras.Input((args.features,), sparse=True)
        hidden = SparseLinear(args.hidden)(inputs)
        if arm == "dense":
            model = keras.Model(inputs, keras.layers.Dense(num_labels)(hidden))
        else:
            kwargs = json.loads(args.wta_kwargs)
            if arm == "wta-shared-hashed":
                kwargs.setdefault("num_candidates", SHARED_HASHED_CANDIDATES)
            layer = tf_wta.WTADense(num_labels, candidates=WTA_CANDIDATES[arm], seed=0, **kwargs)
            model = tf_wta.WTAModel(inputs, layer(hidden))
    model.compile(optimizer, loss, jit_compile=False)
    return model


def eval_chunk(num_labels):
    """Test rows per exact evaluation call: [chunk, num_labels] float32 <= 128 MB."""
    return max(8, EVAL_LOGITS // num_labels)


def precision_evaluator(model, split, chunk):
    """() -> (P@1, P@5) of the model's exact logits on `split` (a SparseSplit),
    `chunk` rows at a time."""

    @tf.function(jit_compile=False, reduce_retracing=True)
    def top5(features):
        return tf.math.top_k(model(features, training=False), 5).indices

    def evaluate():
        hits = np.concatenate([top5(x).numpy() == labels[:, None]
                               for x, labels in split.chunks(chunk)])
        return float(hits[:, 0].mean()), float(hits.any(axis=1).mean() / 5)

    return evaluate


def candidate_quality_evaluator(model, split):
    """() -> [recall@1, recall@10, partition_share] of a WTAModel's output
    layer on the first QUALITY_POINTS points of `split` (a SparseSplit), by
    `tf_wta.CandidateQuality`: the classes the layer would score for them in
    training, labels not included, against the exact logits."""
    inputs, _ = next(split.chunks(QUALITY_POINTS))
    quality = tf_wta.CandidateQuality(inputs)
    quality.set_model(model)

    def evaluate():
        measured = quality.measure()
        return [measured["recall@1"], measured["recall@10"], measured["partition_share"]]

    return evaluate


def save_trained_layer(model, split, path):
    """Writes the trained output layer and its inputs on test points to `path`
    (.npz: kernel [N, H], bias [N], features [n, H], labels [n]), for
    bench_candidate_hashing.py."""
    layer = model.layers[-1]
    inputs, labels = next(split.chunks(4 * QUALITY_POINTS))
    features = keras.Model(model.input, layer.input)(inputs, training=False)
    np.savez(path, kernel=layer.kernel.numpy(), bias=layer.bias.numpy(),
             features=np.asarray(features), labels=labels)


def worker(args):
    """Trains one arm on one task; returns its curve, candidate quality and costs."""
    num_labels, structure = args.labels[0], args.structure[0]
    test_points = args.test_points or (2000 if num_labels >= 1_000_000 else 5000)
    task = xml_task.make_task(num_labels, args.features, structure, args.zipf_exponent,
                              args.train_points, test_points, args.seed)
    model = build_model(args.worker, num_labels, args)
    precision = precision_evaluator(model, task.test, eval_chunk(num_labels))
    quality = (candidate_quality_evaluator(model, task.test) if args.worker in WTA_CANDIDATES
               else None)
    quality_points = []

    def evaluate():
        if quality:
            quality_points.append(quality())
        return precision()

    # steps=1: the tracker stops on the time budget alone.
    tracker = ProgressTracker(evaluate, 1, args.budget_s)
    train = xml_task.train_dataset(task.train, args.batch, args.seed)
    common.reset_peak_memory()
    model.fit(train, epochs=1, steps_per_epoch=10**9, verbose=0, callbacks=[tracker.callback])
    if args.save_layer and args.worker in WTA_CANDIDATES:
        save_trained_layer(model, task.test, args.save_layer)
    return {"points": tracker.points, "quality": quality_points, "steps": tracker.step,
            "ms_per_step": tracker.clock / (tracker.step - 1) * 1e3,
            "median_step_ms": statistics.median(tracker.step_seconds) * 1e3,
            "peak_mb": common.peak_memory_mb()}


def summarise(num_labels, structure, results, budget_s):
    """Table rows for one (labels, structure) from the workers' results
    (arm -> dict, or None for a failed arm)."""
    dense = results.get("dense")
    dense_final = dense["points"][-1][2] if dense and dense["points"] else None
    rows = []
    for arm, result in results.items():
        row = {"labels": num_labels, "structure": structure, "method": arm}
        if result is None:
            rows.append({**row, "status": "failed"})
            continue
        points = result["points"]
        row.update(ms_per_step=round(result["ms_per_step"], 1), steps_done=result["steps"])
        for seconds in (*REPORT_SECONDS, budget_s):
            label = "budget" if seconds == budget_s else f"{seconds}s"
            row[f"P@1@{label}"], row[f"P@5@{label}"] = at_budget(points, seconds)
        row["final_P@1"], row["final_P@5"] = (round(points[-1][2], 3), round(points[-1][3], 3))
        if dense_final:
            reached = time_to_reach(points, 0.9 * dense_final)
            row["s_to_90%_dense"] = round(reached, 1) if reached is not None else None
        row["peak_mb"] = round(result["peak_mb"])
        if result["quality"]:
            recall1, recall10, share = result["quality"][-1]
            row.update({"recall@1": round(recall1, 3), "recall@10": round(recall10, 3),
                        "partition_share": round(share, 3)})
        rows.append(row)
    return rows


def plot(rows, path, curves):
    """P@1 against training seconds, one panel per (labels, structure), one
    line per arm; curves: (labels, structure, arm) -> points."""
    plt = common.pyplot()
    panels = list(dict.fromkeys((row["labels"], row["structure"]) for row in rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    for ax, (num_labels, structure) in zip(axes[0], panels):
        for (labels, panel_structure, arm), points in curves.items():
            if (labels, panel_structure) == (num_labels, structure) and points:
                ax.plot([p[1] for p in points], [p[2] for p in points], marker=".", label=arm)
        ax.set(xscale="log", xlabel="training seconds", ylabel="test P@1",
               title=f"{num_labels:,} labels, structure={structure}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[100_000])
    parser.add_argument("--structure", nargs="+", choices=xml_task.STRUCTURES,
                        default=list(xml_task.STRUCTURES))
    parser.add_argument("--budget-s", type=float, default=240.0,
                        help="training seconds per arm")
    parser.add_argument("--methods", type=arm_name, nargs="+", default=list(FAMILIES),
                        help=f"families ({', '.join(FAMILIES)}) or arms such as uniform-512")
    parser.add_argument("--uniform-sizes", type=int, nargs="+", default=[128, 512, 2048, 8192])
    parser.add_argument("--loguniform-size", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--features", type=int, default=50_000)
    parser.add_argument("--zipf-exponent", type=float, default=1.0)
    parser.add_argument("--train-points", type=int,
                        help="default min(10 * labels, 500,000), see xml_task.py")
    parser.add_argument("--test-points", type=int,
                        help="default 5,000, or 2,000 from 1,000,000 labels on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wta-kwargs", default="{}",
                        help='more WTADense arguments as JSON, e.g. \'{"num_uniform": 2048}\'')
    parser.add_argument("--name", default="extreme_classification")
    parser.add_argument("--save-layer", help="write a WTA arm's trained output layer and test "
                        "features to this .npz (for bench_candidate_hashing.py)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not isinstance(json.loads(args.wta_kwargs), dict):
        parser.error("--wta-kwargs must be a JSON object")
    return args


def main():
    args = parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    script = os.path.abspath(__file__)
    arms = expand_arms(args.methods, args.uniform_sizes, args.loguniform_size)
    rows, curves = [], {}
    for num_labels in args.labels:
        for structure in args.structure:
            results = {}
            for arm in arms:
                result = common.run_worker(script, args, worker=arm, labels=[num_labels],
                                           structure=[structure], methods=None, name=None)
                results[arm] = result
                if result:
                    curves[(num_labels, structure, arm)] = result["points"]
                    print(json.dumps({"labels": num_labels, "structure": structure, "method": arm,
                                      **{k: v for k, v in result.items() if k != "points"}}),
                          flush=True)
            rows += summarise(num_labels, structure, results, args.budget_s)
    failed = [f"{r['method']} at {r['labels']} labels ({r['structure']})"
              for r in rows if r.get("status") == "failed"]
    columns = ["labels", "structure", "method", "ms_per_step", "steps_done",
               *[f"P@{k}@{s}s" for s in REPORT_SECONDS for k in (1, 5)],
               "P@1@budget", "P@5@budget", "final_P@1", "final_P@5", "s_to_90%_dense",
               "peak_mb", "recall@1", "recall@10", "partition_share"]
    settings = {k: v for k, v in vars(args).items() if k not in ("worker", "name")}
    common.report(args.name, rows, lambda r, p: plot(r, p, curves),
                  columns + (["status"] if failed else []),
                  curves={f"{n}/{s}/{a}": p for (n, s, a), p in curves.items()}, **settings)
    if failed:
        sys.exit(f"failed runs (their errors are above): {', '.join(failed)}")


if __name__ == "__main__":
    main()
