"""Reading image files as the user sees them (docs/images.md).

Every image read from a file goes through `read_image`: EXIF orientation applied; the first frame of
an animated GIF or multi-page TIFF; transparency (alpha, LA, palette or colour-key tRNS) composited
on the dataset's `background` (white by default) rather than dropped; 16-bit images scaled by 65535;
float images read only when their values lie in [0, 1], refused with a message naming the file
otherwise. The result is an 8-bit greyscale ("L") or RGB image, the two modes the encoders take.

Names of files are printed with `display_name`: a name that is not valid UTF-8 (Linux allows any
bytes) must never make a log line or an error message fail.
"""

from __future__ import annotations

import contextlib
import os
import re

import numpy as np

COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "gray": (128, 128, 128)}
BACKGROUND_PATTERN = "^(white|black|grey|gray|#[0-9a-fA-F]{6})$"
BACKGROUND_OPTION = {
    "background": {
        "type": "string",
        "pattern": BACKGROUND_PATTERN,
        "default": "white",
        "description": "Colour transparent pixels are composited on (white, black, grey or #rrggbb), for encoders and raw pixels "
        "alike; image files are also turned by their EXIF orientation, 16-bit ones scaled by 65535, float ones read only "
        "in [0, 1] (docs/images.md).",
    }
}
SIXTEEN_BIT = 65535
# Pillow's modes with an alpha channel (premultiplied ones included).
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class ImageRefused(ValueError):
    """An image whose pixels cannot be read faithfully as 8 bits (the message says why)."""


def display_name(path) -> str:
    """`path` as printable text: bytes that are not UTF-8 become \\xNN escapes (never an encoding error)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def background_rgb(background: str) -> tuple[int, int, int]:
    if background in COLOURS:
        return COLOURS[background]
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", background):
        raise ValueError(f"background {background!r}: expected white, black, grey or #rrggbb")
    return tuple(int(background[i : i + 2], 16) for i in (1, 3, 5))


@contextlib.contextmanager
def no_pixel_limit():
    """Pillow's decompression-bomb guard off: image sizes are checked against max_image_pixels
    instead (clip-art collections hold genuine images above Pillow's warning limit)."""
    from PIL import Image

    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def has_transparency(image) -> bool:
    return image.mode in ALPHA_MODES or (image.mode in ("P", "L", "RGB") and "transparency" in image.info)


def to_rgb_or_grey(image, background: str = "white"):
    """Any Pillow image as "L" or "RGB": transparency composited on `background`, 16-bit integer
    pixels scaled by 65535, float pixels in [0, 1] scaled by 255 (others refused: ImageRefused),
    palette, bilevel and CMYK-like modes converted."""
    from PIL import Image

    if image.mode in ("L", "RGB") and "transparency" not in image.info:
        return image
    if has_transparency(image):
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", image.size, (*background_rgb(background), 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    if image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        low, high = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 0.0)
        if not (np.isfinite(low) and np.isfinite(high) and low >= 0 and high <= 1):
            raise ImageRefused(
                f"float pixels in [{low:g}, {high:g}]: float images are read only with values in [0, 1]; save it "
                f"with 8 or 16 bits"
            )
        return Image.fromarray(np.round(pixels * 255).astype(np.uint8), mode="L")
    if image.mode.startswith("I"):  # I;16, I;16B, I;16L, I;16N, and I (32-bit, holding 16-bit data)
        pixels = np.asarray(image, dtype=np.float64)
        low, high = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 0.0)
        if low < 0 or high > SIXTEEN_BIT:
            raise ImageRefused(
                f"32-bit integer pixels in [{low:g}, {high:g}]: only 8- and 16-bit images are read; save it with 8 or 16 bits"
            )
        return Image.fromarray(np.round(pixels * (255 / SIXTEEN_BIT)).astype(np.uint8), mode="L")
    return image.convert("L" if image.mode == "1" else "RGB")


def read_image(path, background: str = "white"):
    """An image file as the user sees it, "L" or "RGB" (the rules in the module docstring).
    Sizes are checked when preparing, so Pillow's pixel limit is off here."""
    from PIL import Image, ImageOps

    with no_pixel_limit(), Image.open(path) as image:
        image.load()  # the first frame of an animation or a multi-page file
        upright = ImageOps.exif_transpose(image)
        return to_rgb_or_grey(upright, background)


def check_image(path, min_image_size: int, max_image_pixels: int, background: str = "white") -> tuple[str | None, int]:
    """(why the file cannot be used or None, its number of frames): empty, not an image, unreadable,
    too small, too large, or pixels that cannot be read faithfully. A full decode, so that a truncated
    file is found here and not mid-embedding."""
    from PIL import Image, UnidentifiedImageError

    if os.stat(path).st_size == 0:
        return "empty file", 1
    try:
        with no_pixel_limit(), Image.open(path) as image:
            width, height = image.size
            frames = getattr(image, "n_frames", 1)
            if width * height > max_image_pixels:
                return f"{width}x{height} pixels, more than max_image_pixels ({max_image_pixels})", frames
            if min(width, height) < min_image_size:
                return f"{width}x{height} pixels, smaller than min_image_size ({min_image_size})", frames
        read_image(path, background)
    except UnidentifiedImageError:
        return "not an image", 1
    except ImageRefused as err:
        return str(err), frames
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data
        return f"unreadable ({err})", 1
    return None, frames
