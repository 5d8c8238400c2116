"""The sparse-hidden benchmark's data: generated Rectangles and Convex
(Larochelle et al. 2007) and the Fashion-MNIST loader's error."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))

import fashion_mnist  # noqa: E402
import larochelle_shapes  # noqa: E402


def test_rectangles_are_balanced_outlines_labelled_by_height_against_width():
    images, labels = larochelle_shapes.rectangles(400, seed=3)
    assert images.shape == (400, 784) and images.dtype == np.float32
    assert labels.shape == (400,) and labels.dtype == np.int32
    assert set(np.unique(images)) <= {0.0, 1.0}
    assert 0.4 < labels.mean() < 0.6
    for image, label in zip(images.reshape(-1, 28, 28)[:50], labels[:50]):
        rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert abs(height - width) >= 3 and label == (height > width)
        # An outline: the box's border is lit, its interior dark.
        box = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        assert box[0].all() and box[-1].all() and box[:, 0].all() and box[:, -1].all()
        assert not box[1:-1, 1:-1].any()


def test_rectangles_are_seeded():
    first, second = larochelle_shapes.rectangles(20, seed=1), larochelle_shapes.rectangles(20, 1)
    np.testing.assert_array_equal(first[0], second[0])
    assert not np.array_equal(first[0], larochelle_shapes.rectangles(20, seed=2)[0])


def test_convex_images_are_half_convex_and_labelled_by_convexity():
    images, labels = larochelle_shapes.convex(120, seed=5)
    assert images.shape == (120, 784) and images.dtype == np.float32 and labels.dtype == np.int32
    assert labels.sum() == 60
    assert all(larochelle_shapes.is_convex(image) == bool(label)
               for image, label in zip(images, labels))
    assert images[labels == 1].sum(1).min() >= 19
    np.testing.assert_array_equal(images, larochelle_shapes.convex(120, seed=5)[0])


def test_is_convex_finds_a_notch():
    square = np.zeros((28, 28), bool)
    square[5:15, 5:15] = True
    assert larochelle_shapes.is_convex(square)
    notched = square.copy()
    notched[9:11, 5:9] = False  # a notch cut into the left side
    assert not larochelle_shapes.is_convex(notched)
    two_blobs = np.zeros((28, 28), bool)
    two_blobs[2:5, 2:5] = two_blobs[20:24, 20:24] = True
    assert not larochelle_shapes.is_convex(two_blobs)


def test_fashion_mnist_names_the_package_when_absent(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        fashion_mnist.load("train", directory=str(tmp_path))
    with pytest.raises(ValueError, match="split"):
        fashion_mnist.load("validation", directory=str(tmp_path))
