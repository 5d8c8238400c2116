"""Exports a model's hashed top-k retrieval as a SavedModel serving signature."""
import keras
import tensorflow as tf

from tf_wta._arguments import positive_int
from tf_wta.layers.wta_dense import WTADense


def export_top_k(model, path, k, num_candidates=None, input_signature=None):
    """Writes a SavedModel whose default signature returns the hashed top-k
    classes of `model`, whose output is a `WTADense(mode="output")` (or a
    `ShardedWTADense`).

    The graph holds tf_wta ops (the hash, the index query, the hashed
    matmul): reload it with `tf_wta.load_ops()` before
    `tf.saved_model.load`, and serve it from a TensorFlow Serving binary
    with the op library linked in (docs/layers.md, Serving). The index is
    brought up to date with the weights before export, so serving never
    rebuilds it. `model.export(path)` still serves the exact outputs with
    stock ops only.

    Args:
      model: a built Keras model (functional or Sequential) whose output
        layer is the WTADense.
      path: the SavedModel directory.
      k: int >= 1, classes returned per input.
      num_candidates: int, classes scored per input (default: the layer's,
        see `WTADense.top_k`); more recall, more work.
      input_signature: list of `tf.TensorSpec` of the model's inputs
        (default: from `model.inputs`, batch dimension free).
    Returns:
      The `keras.export.ExportArchive` written.
    Signature `serving_default`: the model's inputs -> {"scores": float32
      [B, k] logits, best first, -inf where a row has fewer than k
      candidates; "ids": int32 [B, k] class ids, -1 there}.
    Raises:
      ValueError: the model's output is not a WTADense(mode="output"), or
        k / num_candidates is not a positive int.
    """
    k = positive_int(k, "k")
    if num_candidates is not None:
        num_candidates = positive_int(num_candidates, "num_candidates")
    layer = model.layers[-1] if model.layers else None
    if not isinstance(layer, WTADense) or layer.mode != "output":
        raise ValueError("export_top_k needs a model whose output layer is a "
                         f"WTADense(mode='output'), got {type(layer).__name__}")
    features = keras.Model(model.inputs, layer.input)
    layer._current_tables(rebuilt_in_training=layer.num_candidates > 0)
    if input_signature is None:
        input_signature = [tf.TensorSpec(tensor.shape, tensor.dtype, name=tensor.name)
                           for tensor in model.inputs]

    def top_k(*inputs):
        scores, ids = layer.top_k(features(list(inputs) if len(inputs) > 1 else inputs[0],
                                           training=False), k, num_candidates)
        return {"scores": scores, "ids": ids}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", top_k, input_signature=input_signature)
    archive.write_out(path, verbose=False)
    return archive
