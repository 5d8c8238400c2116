"""Fashion-MNIST from Debian's `dataset-fashion-mnist` package (benchmarks only:
installing it needs root and apt, `apt-get install dataset-fashion-mnist`)."""
import gzip
import os

import numpy as np

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _idx(path, header_bytes):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=header_bytes)


def load(split, directory=DEBIAN_DIR):
    """One split of Fashion-MNIST, pixels scaled to [0, 1].

    Args:
      split: "train" (60,000 images) or "test" (10,000).
      directory: where the package's idx .gz files are.
    Returns:
      (images, labels): float32 [n, 784], int32 [n] in [0, 10).
    Raises:
      FileNotFoundError naming the package to install when the files are absent.
    """
    if split not in _FILES:
        raise ValueError(f"split must be one of {sorted(_FILES)}, got {split!r}")
    images_file, labels_file = (os.path.join(directory, name) for name in _FILES[split])
    for path in (images_file, labels_file):
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{path} not found: Fashion-MNIST comes from Debian's dataset-fashion-mnist "
                f"package (as root: apt-get install -y dataset-fashion-mnist)")
    images = _idx(images_file, 16).reshape(-1, 784).astype(np.float32) / 255.0
    labels = _idx(labels_file, 8).astype(np.int32)
    if len(images) != len(labels):
        raise ValueError(f"{images_file} has {len(images)} images but {labels_file} "
                         f"{len(labels)} labels")
    return images, labels
