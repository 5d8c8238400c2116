"""The `glyphs` TFDS dataset: thousands of classes, generated offline.

Importing this module registers the builder, so `tfds.load("glyphs")` (or
`"glyphs/tiny"`) works with no network: each class is one Unicode code point
that the DejaVu Sans font shipped with matplotlib draws, and each example a
32x32 grayscale rendering of it with a random face (regular, bold,
oblique), shift, rotation, scale, ink intensity and noise (`glyph_render`).
Generation is deterministic and takes about 30 s for the default config.
"""
import dataclasses
import functools

import numpy as np
import tensorflow_datasets as tfds

from glyph_render import GlyphRenderer


@dataclasses.dataclass
class GlyphsConfig(tfds.core.BuilderConfig):
    """Size of a glyphs dataset: classes, examples per class and split, pixels."""
    num_classes: int = 3000
    train_per_class: int = 12
    test_per_class: int = 4
    image_size: int = 32


@functools.lru_cache(maxsize=2)
def _renderer(num_classes, image_size):
    return GlyphRenderer(num_classes, image_size)


class Glyphs(tfds.core.GeneratorBasedBuilder):
    """Glyph images, one class per Unicode code point (see the module doc)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [
        GlyphsConfig(name="3k", description="3,000 classes, 12 train + 4 test images each"),
        GlyphsConfig(name="tiny", description="40 classes, 8 train + 4 test images each (tests)",
                     num_classes=40, train_per_class=8, test_per_class=4),
    ]

    def _info(self):
        size = self.builder_config.image_size
        names = _renderer(self.builder_config.num_classes, size).class_names()
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(size, size, 1)),
                "label": tfds.features.ClassLabel(names=names),
            }),
            supervised_keys=("image", "label"),
            description=__doc__,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        config = self.builder_config
        return {"train": self._generate_examples("train", config.train_per_class),
                "test": self._generate_examples("test", config.test_per_class)}

    def _generate_examples(self, split, per_class):
        config = self.builder_config
        renderer = _renderer(config.num_classes, config.image_size)
        split_seed = {"train": 0, "test": 1}[split]
        for label in range(config.num_classes):
            rng = np.random.default_rng([split_seed, label])
            for i in range(per_class):
                yield f"{label}_{i}", {"image": renderer.render(label, rng), "label": label}
