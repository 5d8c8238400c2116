"""Frozen Keras Applications backbones and on-disk caches of their features."""
import hashlib
import os
import re

import keras
import numpy as np

from example_data import is_online

# Backbones whose preprocess_input lives in a module that does not export the
# constructor under the same name.
_PREPROCESS_MODULES = {"MobileNetV3Small": "mobilenet_v3", "MobileNetV3Large": "mobilenet_v3"}


def preprocess_function(backbone):
    """The `preprocess_input` of a `keras.applications` backbone, by name."""
    module_name = _PREPROCESS_MODULES.get(backbone)
    if module_name is None:
        modules = [name for name in dir(keras.applications) if name.islower()]
        module_name = next((name for name in modules
                            if hasattr(getattr(keras.applications, name), backbone)), None)
    if module_name is None:
        raise SystemExit(f"no keras.applications module has preprocess_input for {backbone!r}")
    return getattr(keras.applications, module_name).preprocess_input


def resolve_weights(weights):
    """Turns the --weights argument into (Keras `weights` value, description).

    "auto": "imagenet" when the download host answers, else None (random).
    "imagenet", "none", or the path of a local weights file are taken as is.
    """
    if weights == "auto":
        weights = "imagenet" if is_online() else "none"
        if weights == "none":
            return None, ("none: RANDOM initialisation (offline, so no ImageNet weights; "
                          "pass --weights FILE to use a local weights file)")
    if weights == "none":
        return None, "none: RANDOM initialisation (--weights none)"
    if weights == "imagenet":
        return "imagenet", "imagenet (downloaded by Keras, cached in ~/.keras/models)"
    if not os.path.isfile(weights):
        raise SystemExit(f"--weights {weights!r}: no such file (or use auto, imagenet, none)")
    return weights, f"local file {weights}"


# Seed of a randomly initialised backbone: the features cached by one run and
# the backbone exported by a later run must be the same network.
RANDOM_BACKBONE_SEED = 0


def load_backbone(backbone, weights, image_size):
    """A frozen `keras.applications` backbone without its top, average-pooled.

    Args:
      backbone: constructor name, e.g. "VGG16", "MobileNetV3Small", "ResNet50".
      weights: "imagenet", a weights file path, or None (random, drawn with
        RANDOM_BACKBONE_SEED so every run builds the same network).
      image_size: int S; the model takes float32 [B, S, S, 3] preprocessed images.
    Returns:
      a keras.Model, [B, S, S, 3] -> float32 [B, D], trainable=False.
    """
    constructor = getattr(keras.applications, backbone, None)
    if constructor is None:
        raise SystemExit(f"--backbone {backbone!r} is not in keras.applications")
    if weights is None:
        keras.utils.set_random_seed(RANDOM_BACKBONE_SEED)
    model = constructor(include_top=False, weights=weights, pooling="avg",
                        input_shape=(image_size, image_size, 3))
    model.trainable = False
    return model


def cache_path(cache_dir, backbone, weights, dataset, split, image_size):
    """The cache file of one (backbone, weights, dataset, split, size) combination.

    A weights file is keyed by its path, size and modification time.
    """
    if weights is None:
        weights_key = f"none-seed{RANDOM_BACKBONE_SEED}"
    elif weights == "imagenet":
        weights_key = "imagenet"
    else:
        stat = os.stat(weights)
        digest = hashlib.sha1(f"{os.path.abspath(weights)}:{stat.st_size}:{stat.st_mtime}"
                              .encode()).hexdigest()[:10]
        weights_key = f"file{digest}"
    key = f"{backbone}_{weights_key}_{dataset}_{split}_{image_size}"
    return os.path.join(cache_dir, re.sub(r"[^A-Za-z0-9_.-]", "-", key) + ".npz")


def cached_features(path, backbone_model, preprocess, images, batch_size=256, verbose=1):
    """Backbone features of a dataset, computed once and then read from `path`.

    Args:
      path: the .npz cache file (see `cache_path`).
      backbone_model: from `load_backbone`.
      preprocess: the backbone's `preprocess_input`.
      images: tf.data.Dataset of (float32 [S, S, 3] RGB in 0..255, int32 label).
      batch_size: images per backbone call.
      verbose: 1 shows a Keras progress bar, 0 nothing.
    Returns:
      (features float32 [N, D], labels int32 [N], seconds spent computing them,
      0.0 when read from the cache).
    """
    if os.path.exists(path):
        with np.load(path) as cached:
            return cached["features"], cached["labels"], 0.0
    import time

    import tensorflow as tf

    @tf.function
    def embed(batch):
        return backbone_model(preprocess(batch), training=False)

    start = time.perf_counter()
    features, labels = [], []
    batches = images.batch(batch_size).prefetch(2)
    num_batches = int(batches.cardinality())
    progress = keras.utils.Progbar(num_batches if num_batches > 0 else None, unit_name="batch",
                                   verbose=verbose)
    for batch_images, batch_labels in batches:
        features.append(embed(batch_images).numpy())
        labels.append(batch_labels.numpy())
        progress.add(1)
    features = np.concatenate(features).astype(np.float32)
    labels = np.concatenate(labels).astype(np.int32)
    seconds = time.perf_counter() - start
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    np.savez(path + ".tmp.npz", features=features, labels=labels)
    os.replace(path + ".tmp.npz", path)
    return features, labels, seconds
