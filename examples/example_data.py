"""Loads TFDS image-classification datasets for the examples, failing fast offline."""
import socket

import tensorflow as tf
import tensorflow_datasets as tfds

import glyphs  # noqa: F401  (registers the offline "glyphs" dataset)

# Datasets this project generates locally: they never need the network.
LOCAL_DATASETS = ("glyphs",)


def is_online(host="storage.googleapis.com", port=443, timeout=2.0):
    """True when `host:port` (where TFDS and Keras download from) answers within
    `timeout` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def load_image_splits(name, splits, data_dir=None):
    """Prepares a TFDS dataset (download or local generation) and returns splits.

    Args:
      name: TFDS name, e.g. "glyphs", "glyphs/tiny", "caltech101", "imagenet2012".
      splits: split names, e.g. ("train", "test").
      data_dir: TFDS data dir (None: TFDS's default, ~/tensorflow_datasets).
    Returns:
      (datasets, info): a dict split -> tf.data.Dataset of (image uint8
      [H, W, C], label int64 []) pairs, and the tfds.core.DatasetInfo.
    Raises:
      SystemExit: the dataset is neither prepared nor local and the download
        host cannot be reached (instead of TFDS's minutes of retries).
    """
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        if builder.name not in LOCAL_DATASETS and not is_online():
            raise SystemExit(
                f"dataset {name!r} is not prepared in {builder.data_dir} and the network is "
                f"unreachable; use the offline dataset 'glyphs' or prepare {name!r} first")
        builder.download_and_prepare()
    datasets = {split: builder.as_dataset(split=split, as_supervised=True) for split in splits}
    return datasets, builder.info


def resized_rgb(dataset, image_size):
    """Maps (image uint8 [H, W, 1 or 3], label) to (float32 [S, S, 3] in 0..255,
    int32 label), S = image_size, grayscale repeated to RGB."""
    def convert(image, label):
        if image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size))
        return image, tf.cast(label, tf.int32)
    return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE)
