"""Renders Unicode glyphs from the DejaVu fonts that matplotlib ships.

Pure numpy/Pillow, no TensorFlow: the `glyphs` dataset builder uses it to
make one class per code point, each example a randomly shifted, rotated,
scaled, noisy rendering of the glyph in one of the faces that cover it
(the DejaVu Sans faces, or every text face matplotlib ships).
"""
import hashlib
import os
import unicodedata

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# The faces an example is drawn in (when the face covers its code point).
FACES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf")
# Every text face matplotlib ships that draws real glyphs (not the
# LastResort placeholder boxes, the one-size math variants or the 127-glyph
# Computer Modern subsets): about 6,500 distinct glyphs in all.
ALL_FACES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
             "DejaVuSans-BoldOblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
             "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf", "DejaVuSansMono.ttf",
             "DejaVuSansMono-Bold.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
             "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf")
# Unicode categories that do not render as a glyph of their own: marks,
# separators, control, format, private use, unassigned.
_SKIPPED_CATEGORIES = ("M", "Z", "C")
# Glyphs are drawn at this multiple of the image size, then resampled.
_OVERSAMPLE = 2


def font_dir():
    """Directory of matplotlib's bundled TrueType fonts."""
    import matplotlib

    return os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")


def _covered_code_points(path):
    from matplotlib.ft2font import FT2Font

    return set(FT2Font(path).get_charmap())


def _draw(font, char, canvas):
    """The glyph centred on a canvas x canvas uint8 image (ink 255), shrunk to
    fit when too large; None when it draws nothing."""
    big = Image.new("L", (3 * canvas, 3 * canvas), 0)
    ImageDraw.Draw(big).text((canvas, canvas), char, fill=255, font=font)
    box = big.getbbox()
    if box is None:
        return None
    glyph = big.crop(box)
    limit = int(0.9 * canvas)
    if max(glyph.size) > limit:
        ratio = limit / max(glyph.size)
        glyph = glyph.resize((max(1, round(glyph.width * ratio)),
                              max(1, round(glyph.height * ratio))), Image.BILINEAR)
    image = Image.new("L", (canvas, canvas), 0)
    image.paste(glyph, ((canvas - glyph.width) // 2, (canvas - glyph.height) // 2))
    return image


class GlyphRenderer:
    """Renders `num_classes` distinct glyphs at `image_size` x `image_size`.

    Classes are code points that the first face covers (with
    classes_from_all_faces: any of `faces`) and that draw something, minus
    those whose clean rendering (in the first face that covers them)
    duplicates an earlier one (e.g. Latin and Cyrillic "A"), taken evenly
    spaced over the code-point order so every script contributes. Each
    example is drawn in a random one of the faces that cover its code point.
    Raises ValueError when fewer are available.
    """

    def __init__(self, num_classes, image_size, faces=FACES, classes_from_all_faces=False):
        self.image_size = image_size
        canvas = _OVERSAMPLE * image_size
        fonts = [ImageFont.truetype(os.path.join(font_dir(), face), int(0.7 * canvas))
                 for face in faces]
        coverage = [_covered_code_points(os.path.join(font_dir(), face)) for face in faces]
        class_code_points = set().union(*coverage) if classes_from_all_faces else coverage[0]
        renders, seen = {}, set()
        for code_point in sorted(class_code_points):
            char = chr(code_point)
            if unicodedata.category(char)[0] in _SKIPPED_CATEGORIES:
                continue
            first = next(i for i, covered in enumerate(coverage) if code_point in covered)
            clean = _draw(fonts[first], char, canvas)
            if clean is None:
                continue
            digest = hashlib.sha1(clean.resize((image_size, image_size)).tobytes()).digest()
            if digest in seen:
                continue
            seen.add(digest)
            renders[code_point] = [clean] + [
                _draw(font, char, canvas)
                for font, covered in zip(fonts[first + 1:], coverage[first + 1:])
                if code_point in covered]
        available = sorted(renders)
        if num_classes > len(available):
            raise ValueError(f"num_classes={num_classes}: the fonts hold only "
                             f"{len(available)} distinct glyphs")
        picks = np.linspace(0, len(available) - 1, num_classes).round().astype(int)
        self.code_points = [available[i] for i in picks]
        self._faces = [[face for face in renders[cp] if face is not None]
                       for cp in self.code_points]

    def class_names(self):
        """One name per class, e.g. "U+0041 LATIN CAPITAL LETTER A"."""
        return [f"U+{cp:04X} {unicodedata.name(chr(cp), '')}".strip()
                for cp in self.code_points]

    def render(self, label, rng):
        """One random rendering of class `label`.

        Random face, rotation (+-12 degrees), scale (0.8-1.15), shift (+-12%
        of the size), ink intensity and Gaussian noise.
        Returns:
          uint8 [image_size, image_size, 1], ink bright on a dark background.
        """
        faces = self._faces[label]
        glyph = faces[rng.integers(len(faces))]
        canvas = glyph.width
        angle = np.deg2rad(rng.uniform(-12, 12))
        scale = rng.uniform(0.8, 1.15)
        shift = rng.uniform(-0.12, 0.12, 2) * canvas
        # Inverse affine map: output pixel -> input pixel, about the centre.
        cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
        centre = canvas / 2
        offset_x = centre - cos * (centre + shift[0]) - sin * (centre + shift[1])
        offset_y = centre + sin * (centre + shift[0]) - cos * (centre + shift[1])
        moved = glyph.transform(glyph.size, Image.AFFINE,
                                (cos, sin, offset_x, -sin, cos, offset_y), Image.BILINEAR)
        small = moved.resize((self.image_size, self.image_size), Image.BILINEAR)
        pixels = np.asarray(small, np.float32) * rng.uniform(0.6, 1.0)
        pixels += rng.normal(0.0, 8.0, pixels.shape)
        return np.clip(pixels, 0, 255).astype(np.uint8)[:, :, None]
