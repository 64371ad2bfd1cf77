"""The pyzbar fallback reader, for photos zxing-cpp finds no code in: optional (pyzbar and
libzbar may be missing), size-capped, and trusted only where its charset guess is unambiguous."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from PIL import Image

from bot.qr.located import Found, merge

log = logging.getLogger(__name__)

ZbarRead = Callable[[Image.Image], list[Any]]

# zbar takes half a second on a 12-megapixel photo, and reads big, noisy codes better at a
# modest size anyway: it sees at most this many pixels a side, then half that.
_ZBAR_MAX_SIDE = 1200

# Charsets libzbar may have guessed when it turned a QR code's bytes into text, and the ones
# those bytes were really written in. zbar happily reads GBK or Shift_JIS bytes as Big5.
_ZBAR_GUESSES = ("utf-8", "shift_jis", "big5", "latin-1")
_QR_CHARSETS = ("utf-8", "shift_jis", "big5", "gbk")


@functools.cache
def zbar_decoder() -> ZbarRead | None:
    """A QR-only pyzbar reader, or None when pyzbar or the libzbar it wraps is missing."""
    try:
        from pyzbar import pyzbar
    except (ImportError, OSError) as exc:
        log.info("qr: pyzbar fallback unavailable (%s)", type(exc).__name__)
        return None

    def read(image: Image.Image) -> list[Any]:
        return list(pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE]))

    return read


def decode_with_zbar(grey: Image.Image, read: ZbarRead) -> list[Found]:
    """The codes `read` finds in `grey` at a capped size, then at half that if none."""
    first = _fit_within(grey, _ZBAR_MAX_SIDE)
    for attempt, image in enumerate((first, _fit_within(first, max(first.size) // 2))):
        try:
            symbols = read(image)
        except Exception:  # a fallback must never take the primary result down with it
            log.warning("qr: pyzbar failed on a %dx%d image", *image.size, exc_info=True)
            return []
        scale = image.width / grey.width
        found: list[Found] = []
        for symbol in symbols:
            text = trusted_zbar_text(symbol.data)
            if text is None:
                log.info("qr: dropped an ambiguous pyzbar result (attempt %d)", attempt)
                continue
            left, top = symbol.rect.left / scale, symbol.rect.top / scale
            right, bottom = left + symbol.rect.width / scale, top + symbol.rect.height / scale
            quad = ((left, top), (right, top), (right, bottom), (left, bottom))
            found = merge(found, [Found(text, quad)])
        if found:
            return found
    return []


def _fit_within(image: Image.Image, longest: int) -> Image.Image:
    factor = longest / max(image.size)
    if factor >= 1:
        return image
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BOX)


def trusted_zbar_text(data: bytes) -> str | None:
    """zbar's text if it can only mean one thing, else None.

    libzbar hands back UTF-8 it transcoded from a guessed charset, and guesses wrong for GBK
    and some Japanese. Plain ASCII is unambiguous. Otherwise we rebuild every byte string zbar
    could have started from and accept the text only if no charset reads those bytes as
    something else: a missed code is better than a wrong link.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.isascii():
        return text
    for guess in _ZBAR_GUESSES:
        try:
            raw = text.encode(guess)
        except UnicodeEncodeError:
            continue
        for charset in _QR_CHARSETS:
            try:
                if raw.decode(charset) != text:
                    return None
            except UnicodeDecodeError:
                continue
    return text
