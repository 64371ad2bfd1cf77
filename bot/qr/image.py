"""Opening an untrusted image for decoding: the formats, byte, pixel and shape limits a chat
photo must stay within, and its conversion to upright greyscale on white."""

from __future__ import annotations

import io
import logging
import threading
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from bot.errors import UserError

log = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024

# Formats a chat photo or image document realistically arrives in. Keeping the list short keeps
# Pillow's rarer (and historically buggier) parsers away from untrusted bytes.
_IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")  # JPEG includes MPO

# `warnings.catch_warnings` swaps process-wide state; this lock keeps our own threads from
# interleaving their swaps (which could leave our filter installed after we leave).
_PILLOW_WARNINGS_LOCK = threading.Lock()

MAX_SIDE = 30_000  # pixels; a 200-megapixel phone photo is 16,320 wide
MAX_ASPECT = 25  # long side / short side; panoramas stay well inside it


def load_greyscale(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Open untrusted image bytes as an upright greyscale image, enforcing the size limits."""
    if len(data) > max_bytes:
        raise UserError("image_too_large", "image_too_large", limit_mb=max_bytes // MEGABYTE)
    too_many_pixels = UserError(
        "image_too_many_pixels", "image_too_many_pixels", limit_mp=max_pixels // 1_000_000
    )
    unreadable = UserError("image_unreadable", "image_unreadable")
    try:
        # Pillow only parses the header here; its own decompression-bomb check runs now, so
        # its warning is turned into an error we answer instead of a line on stderr.
        with _PILLOW_WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many_pixels from None
    except UnidentifiedImageError:
        raise unreadable from None
    except Exception as exc:  # Pillow's parsers fail in many ways on hostile bytes
        log.info("qr: image header unreadable (%s)", type(exc).__name__)
        raise unreadable from None
    width, height = image.size
    if width * height > max_pixels:
        raise too_many_pixels
    if max(width, height) > MAX_SIDE or max(width, height) > MAX_ASPECT * max(
        1, min(width, height)
    ):
        # A 1 x 40,000,000 strip passes the pixel count yet costs a gigabyte to scan, and no
        # decoder takes a side over 65,535: neither shape can hold a readable QR code.
        raise UserError("image_bad_shape", "image_bad_shape", width=width, height=height)
    if image.format in ("JPEG", "MPO"):
        # Let libjpeg emit greyscale directly: no colour conversion, a third of the memory.
        image.draft("L", image.size)
    try:
        image.load()
        return _greyscale_on_white(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError:
        raise too_many_pixels from None
    except Exception as exc:  # truncated or corrupt pixel data, broken EXIF
        log.info("qr: %s image unreadable (%s)", image.format, type(exc).__name__)
        raise unreadable from None


def _greyscale_on_white(image: Image.Image) -> Image.Image:
    """Convert to 8-bit greyscale, compositing any transparency onto white.

    Exported codes often have dark modules on a transparent background; dropping the alpha
    would leave them black on black.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale PNGs: keep the top byte, as a plain convert("L") would clip.
        image = image.point(lambda value: value / 256).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    if not has_alpha:
        return image.convert("L")
    rgba = image.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    canvas.alpha_composite(rgba)
    return canvas.convert("L")
