"""The `glyphs` TFDS dataset: thousands of classes, generated offline.

Importing this module registers the builder, so `tfds.load("glyphs")` (or
`"glyphs/tiny"`) works with no network: each class is one Unicode code point
that the fonts shipped with matplotlib draw, and each example a 32x32
grayscale rendering of it with a random face, shift, rotation, scale, ink
intensity and noise (`glyph_render`). Configs: "3k" (3,000 classes, DejaVu
Sans regular/bold/oblique only; what "glyphs" alone means), "6k"
(retrain_top's default: 6,000 classes from every text face matplotlib ships,
DejaVu Sans/Serif/Mono and STIX in their styles; about 30 s to generate),
"tiny" (40 classes, for tests). Generation is deterministic.
"""
import dataclasses
import functools

import numpy as np
import tensorflow_datasets as tfds

from glyph_render import ALL_FACES, FACES, GlyphRenderer


@dataclasses.dataclass
class GlyphsConfig(tfds.core.BuilderConfig):
    """Size of a glyphs dataset: classes, examples per class and split, pixels,
    and the font faces drawn from (classes from the first face's code points,
    or from any face's)."""
    num_classes: int = 3000
    train_per_class: int = 12
    test_per_class: int = 4
    image_size: int = 32
    faces: tuple = FACES
    classes_from_all_faces: bool = False


@functools.lru_cache(maxsize=2)
def _cached_renderer(num_classes, image_size, faces, classes_from_all_faces):
    return GlyphRenderer(num_classes, image_size, faces, classes_from_all_faces)


def _renderer(config):
    return _cached_renderer(config.num_classes, config.image_size, tuple(config.faces),
                            config.classes_from_all_faces)


class Glyphs(tfds.core.GeneratorBasedBuilder):
    """Glyph images, one class per Unicode code point (see the module doc)."""

    VERSION = tfds.core.Version("1.0.0")
    # "glyphs" alone stays "glyphs/3k" (the first config), as before "6k" existed.
    BUILDER_CONFIGS = [
        GlyphsConfig(name="3k", description="3,000 classes, 12 train + 4 test images each"),
        GlyphsConfig(name="6k", description="6,000 classes from every text face matplotlib "
                     "ships, 10 train + 2 test images each",
                     num_classes=6000, train_per_class=10, test_per_class=2,
                     faces=ALL_FACES, classes_from_all_faces=True),
        GlyphsConfig(name="tiny", description="40 classes, 8 train + 4 test images each (tests)",
                     num_classes=40, train_per_class=8, test_per_class=4),
    ]

    def _info(self):
        size = self.builder_config.image_size
        names = _renderer(self.builder_config).class_names()
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
        renderer = _renderer(config)
        split_seed = {"train": 0, "test": 1}[split]
        for label in range(config.num_classes):
            rng = np.random.default_rng([split_seed, label])
            for i in range(per_class):
                yield f"{label}_{i}", {"image": renderer.render(label, rng), "label": label}
