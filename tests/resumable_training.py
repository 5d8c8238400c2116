"""One role of the fault-tolerance test (tests/test_fault_tolerance.py),
run in its own process:

    python tests/resumable_training.py ROLE WORKDIR

A small WTAModel (a hidden and an output WTADense, index rebuilt on a
growing schedule) trains EPOCHS epochs of STEPS_PER_EPOCH steps on a fixed,
unshuffled dataset, with LazyAdam (moment slots to restore too). Roles:

- uninterrupted: trains to the end; saves the model state after the steps
  in RECORDED_STEPS and at the end, then writes a checkpoint
  (`model.save_weights`), the inputs and the outputs (predictions, top_k)
  a reader should reproduce.
- interrupted: trains with two keras.callbacks.BackupAndRestore (one saving
  each epoch, one every BACKUP_EVERY steps) and SIGKILLs itself after
  KILL_AT_STEP steps, mid-epoch.
- resume-epoch / resume-steps: a fresh process that resumes from one of
  those backups; saves the state right after the restore, and at the end.
- load-checkpoint: loads the uninterrupted run's checkpoint into a freshly
  built model; saves its outputs on the same inputs.

Each role writes WORKDIR/ROLE-*.npz: states (every model and optimizer
variable by path, plus "accuracy" on held-out data at the end) and outputs.
"""
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tf_wta  # noqa: E402
from model_helpers import prototype_data  # noqa: E402

CLASSES, DIM, BATCH = 200, 16, 32
STEPS_PER_EPOCH, EPOCHS = 8, 3
BACKUP_EVERY = 5  # steps: backups after steps 5 and 10
KILL_AT_STEP = 13  # in epoch 1, after the step-10 backup and a rebuild at step 12
RECORDED_STEPS = (STEPS_PER_EPOCH, 10)  # the states the two backups restore
TOP_K = 5


def build_model():
    """The model, compiled, with every random choice seeded."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((DIM,))
    hidden = tf_wta.WTADense(64, activation="relu", mode="hidden", num_candidates=16,
                             num_tables=8, rebuild_every=4, seed=1)(inputs)
    outputs = tf_wta.WTADense(CLASSES, mode="output", num_candidates=32, num_tables=8,
                              rebuild_every=3, rebuild_growth=1.5, seed=0)(hidden)
    model = tf_wta.WTAModel(inputs, outputs)
    model.compile(tf_wta.LazyAdam(0.02),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def training_data():
    x, y = prototype_data(CLASSES, DIM, STEPS_PER_EPOCH * BATCH, seed=3)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)


def held_out_data():
    return prototype_data(CLASSES, DIM, 512, seed=3, sample_seed=1)


def state(model):
    """{variable path: value} of every model and optimizer variable."""
    variables = list(model.variables) + list(model.optimizer.variables)
    return {variable.path: np.asarray(variable.numpy()) for variable in variables}


def save_state(model, path, accuracy=None):
    values = state(model)
    if accuracy is not None:
        values["accuracy"] = np.float64(accuracy)
    np.savez(path, **values)


class RecordState(keras.callbacks.Callback):
    """Saves the state as `PREFIX-restored.npz` at the start of training
    (after any restore) and as `PREFIX-stepN.npz` after each optimizer step
    N in `steps`."""

    def __init__(self, prefix, steps=()):
        super().__init__()
        self.prefix, self.steps = prefix, steps

    def on_train_begin(self, logs=None):
        save_state(self.model, f"{self.prefix}-restored.npz")

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step in self.steps:
            save_state(self.model, f"{self.prefix}-step{step}.npz")


class KillAtStep(keras.callbacks.Callback):
    """SIGKILLs this process after `step` optimizer steps: no cleanup, no
    final save, as in a preempted or crashed job."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def backup(workdir, kind):
    save_freq = "epoch" if kind == "epoch" else BACKUP_EVERY
    return keras.callbacks.BackupAndRestore(os.path.join(workdir, f"backup-{kind}"),
                                            save_freq=save_freq, delete_checkpoint=False)


def train(model, prefix, callbacks):
    """Fits EPOCHS epochs; saves the final state and held-out accuracy as
    `PREFIX-final.npz`."""
    model.fit(training_data(), epochs=EPOCHS, callbacks=callbacks, verbose=0)
    x, y = held_out_data()
    accuracy = model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"]
    save_state(model, f"{prefix}-final.npz", accuracy)


def outputs(model, x):
    """Predictions and hashed top-k ids and scores of the output layer."""
    hidden = model.layers[1](x)
    scores, ids = model.layers[-1].top_k(hidden, TOP_K)
    return {"predictions": model.predict(x, verbose=0), "top_k_scores": scores.numpy(),
            "top_k_ids": ids.numpy()}


def main(role, workdir):
    model = build_model()
    prefix = os.path.join(workdir, role)
    if role == "uninterrupted":
        train(model, prefix, [RecordState(prefix, RECORDED_STEPS)])
        model.save_weights(os.path.join(workdir, "checkpoint.weights.h5"))
        x = held_out_data()[0][:64]
        np.save(os.path.join(workdir, "inputs.npy"), x)
        np.savez(f"{prefix}-outputs.npz", **outputs(model, x))
    elif role == "interrupted":
        train(model, prefix, [backup(workdir, "epoch"), backup(workdir, "steps"),
                              KillAtStep(KILL_AT_STEP)])
    elif role in ("resume-epoch", "resume-steps"):
        kind = role.split("-")[1]
        train(model, prefix, [backup(workdir, kind), RecordState(prefix)])
    elif role == "load-checkpoint":
        model.load_weights(os.path.join(workdir, "checkpoint.weights.h5"))
        x = np.load(os.path.join(workdir, "inputs.npy"))
        np.savez(f"{prefix}-outputs.npz", **outputs(model, x))
        save_state(model, f"{prefix}-loaded.npz")
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
