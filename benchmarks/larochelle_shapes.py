"""Rectangles and Convex, the shape tasks of Larochelle et al. (ICML 2007),
generated as the paper describes them (its files are not shipped offline).

Rectangles: the white outline of one rectangle on a black 28x28 image; its
height and width are drawn uniformly, pairs whose difference is under 3
pixels rejected; its top-left corner is drawn uniformly among the places
where it fits. Label 1 when it is taller than wide, else 0.

Convex: a white region that is convex (label 1) or not (label 0). A convex
region is the intersection of k half-planes, k ~ Geometric(0.195), each
through a uniform point of the image with a uniform orientation, kept if it
has at least 19 pixels. A non-convex one is the union of 2 to 4 (uniform)
such regions with k ~ Geometric(0.07) and at least 10 pixels each, kept if
its convex hull holds a pixel outside it. Half the images of a set are
convex, in random order.

The paper's splits: Rectangles 1,000 training (+200 validation) and 50,000
test images; Convex 6,000 (+2,000) and 50,000.
"""
import numpy as np

SIDE = 28
_CENTERS = np.stack(np.meshgrid(np.arange(SIDE) + 0.5, np.arange(SIDE) + 0.5,
                                indexing="ij"), axis=-1).reshape(-1, 2)  # (row, col) of pixels


def rectangles(num_images, seed):
    """Rectangle outlines labelled tall (1) or wide (0).

    Args:
      num_images: int n >= 1.
      seed: int, the numpy generator's seed.
    Returns:
      (images, labels): float32 [n, 784] in {0, 1}, int32 [n].
    """
    rng = np.random.default_rng(seed)
    images = np.zeros((num_images, SIDE, SIDE), np.float32)
    labels = np.zeros(num_images, np.int32)
    for i in range(num_images):
        height, width = rng.integers(1, SIDE + 1, size=2)
        while abs(int(height) - int(width)) < 3:
            height, width = rng.integers(1, SIDE + 1, size=2)
        top, left = rng.integers(0, SIDE - height + 1), rng.integers(0, SIDE - width + 1)
        bottom, right = top + height - 1, left + width - 1
        images[i, top, left:right + 1] = images[i, bottom, left:right + 1] = 1.0
        images[i, top:bottom + 1, left] = images[i, top:bottom + 1, right] = 1.0
        labels[i] = int(height > width)
    return images.reshape(num_images, -1), labels


def _half_plane_region(rng, success_probability, min_pixels):
    """bool [784]: pixels inside an intersection of random half-planes."""
    while True:
        num_planes = rng.geometric(success_probability)
        points = rng.uniform(0, SIDE, size=(num_planes, 2))
        angles = rng.uniform(0, 2 * np.pi, size=num_planes)
        normals = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
        inside = np.all(_CENTERS @ normals.T >= np.sum(points * normals, axis=1), axis=1)
        if inside.sum() >= min_pixels:
            return inside


def _turn(a, b, c):
    """Cross product of b - a and c - a: > 0 for a counter-clockwise turn."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _hull(points):
    """Convex hull of 2-D points (Andrew's monotone chain): float [h, 2],
    counter-clockwise, collinear points dropped."""
    points = sorted(map(tuple, points))
    if len(points) < 3:
        return np.array(points, float)

    def half(sequence):
        chain = []
        for p in sequence:
            while len(chain) >= 2 and _turn(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain[:-1]

    return np.array(half(points) + half(reversed(points)), float)


def is_convex(region):
    """Whether a pixel region has no pixel missing from its convex hull.

    Args:
      region: bool [784] (or [28, 28]).
    Returns:
      bool; True for an empty region.
    """
    region = np.asarray(region, bool).reshape(-1)
    grid = region.reshape(SIDE, SIDE)
    rows = np.flatnonzero(grid.any(axis=1))
    # The hull of a row's first and last pixels is the hull of the region.
    ends = np.concatenate([[(r, np.argmax(grid[r])), (r, SIDE - 1 - np.argmax(grid[r, ::-1]))]
                           for r in rows]) + 0.5 if len(rows) else np.zeros((0, 2))
    hull = _hull(ends)
    if len(hull) < 3:  # a point or a segment: every pixel on it is in the region
        return True
    edges = np.roll(hull, -1, axis=0) - hull
    offsets = _CENTERS[:, None, :] - hull[None]
    cross = edges[None, :, 0] * offsets[..., 1] - edges[None, :, 1] * offsets[..., 0]
    in_hull = np.all(cross >= -1e-9, axis=1)
    return not np.any(in_hull & ~region)


def convex(num_images, seed):
    """White regions labelled convex (1) or not (0), half of each.

    Args:
      num_images: int n >= 1.
      seed: int, the numpy generator's seed.
    Returns:
      (images, labels): float32 [n, 784] in {0, 1}, int32 [n].
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_images) % 2).astype(np.int32)
    images = np.zeros((num_images, SIDE * SIDE), np.float32)
    for i, label in enumerate(labels):
        if label:
            region = _half_plane_region(rng, 0.195, 19)
        else:
            region = np.zeros(SIDE * SIDE, bool)
            while is_convex(region):
                region = np.any([_half_plane_region(rng, 0.07, 10)
                                 for _ in range(rng.integers(2, 5))], axis=0)
        images[i] = region
    return images, labels


GENERATORS = {"rectangles": rectangles, "convex": convex}
