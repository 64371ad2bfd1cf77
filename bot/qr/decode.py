"""Reading QR codes: every distinct code in an image, in reading order, with zxing-cpp (retried
harder only while a located code stays unread) and pyzbar as the fallback; at most
`MAX_CONCURRENT_DECODES` decodes at once per process."""

from __future__ import annotations

import atexit
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence

import zxingcpp
from PIL import Image

from bot.qr import dewarp
from bot.qr.image import MEGABYTE, load_greyscale
from bot.qr.located import Candidate, Found, Quad, centre, inside, merge
from bot.qr.payload import DecodedCode, classify_payload
from bot.qr.zbar import decode_with_zbar, zbar_decoder

MAX_CONCURRENT_DECODES = max(1, min(4, os.cpu_count() or 1))
_DECODE_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_DECODES)


def decode_qr_codes(
    data: bytes, *, max_bytes: int = 20 * MEGABYTE, max_pixels: int = 40_000_000
) -> list[DecodedCode]:
    """Decode every distinct QR code in an image file, in reading order.

    Returns an empty list when the image holds no readable code. Raises `UserError`
    (`image_too_large`, `image_too_many_pixels`, `image_bad_shape`, `image_unreadable`) for
    files the bot should refuse with an explanation. At most `MAX_CONCURRENT_DECODES` run at
    once in a process (each may hold a few hundred megabytes); the others wait their turn.
    """
    with _DECODE_SLOTS:
        image = load_greyscale(data, max_bytes=max_bytes, max_pixels=max_pixels)
        return decode_greyscale(image)


def fallback_available() -> bool:
    """Whether the pyzbar fallback can run here (pyzbar installed and libzbar loadable)."""
    return zbar_decoder() is not None


def decode_greyscale(image: Image.Image, *, use_fallback: bool = True) -> list[DecodedCode]:
    """Decode every QR code in a greyscale image: zxing-cpp first, pyzbar only if it finds none.

    `use_fallback=False` measures zxing-cpp alone (the benchmark compares both).
    """
    found = _decode_with_zxing(image)
    if not found and use_fallback:
        zbar = zbar_decoder()
        if zbar is not None:
            found = decode_with_zbar(image, zbar)
    return [DecodedCode(text, classify_payload(text)) for text in _in_reading_order(found)]


def _qr_formats() -> zxingcpp.BarcodeFormats:
    # zxing-cpp 3 already counts Model 1, Micro QR and rMQR as QR codes; naming them keeps
    # that explicit should the grouping change.
    names = ("QRCode", "QRCodeModel1", "MicroQRCode", "RMQRCode")
    wanted = [
        getattr(zxingcpp.BarcodeFormat, n) for n in names if hasattr(zxingcpp.BarcodeFormat, n)
    ]
    return zxingcpp.BarcodeFormats(wanted)


_QR_FORMATS = _qr_formats()
_REGULAR_QR = zxingcpp.BarcodeFormat.QRCode


@atexit.register
def _drop_zxing_objects() -> None:
    """Release the module's zxing-cpp objects before interpreter teardown: held until then,
    nanobind prints a page of "leaked instance" warnings when the process exits."""
    global _QR_FORMATS
    del _QR_FORMATS


# Larger images gain nothing from upscaling (zxing-cpp already searches a pyramid of
# downscaled copies) and would cost tens of milliseconds per attempt.
_UPSCALE_UP_TO = 1000
_MAX_DEWARPED_CANDIDATES = 3


def _zxing_read(
    image: Image.Image, binarizer: zxingcpp.Binarizer, *, scale: float = 1.0
) -> tuple[list[Found], list[Candidate]]:
    """One zxing-cpp pass; positions are mapped back by `scale` to the original image."""
    found: list[Found] = []
    failed: list[Candidate] = []
    barcodes = zxingcpp.read_barcodes(
        image,
        formats=_QR_FORMATS,
        text_mode=zxingcpp.TextMode.Plain,
        binarizer=binarizer,
        return_errors=True,
    )
    for barcode in barcodes:
        quad = _quad_of(barcode.position, scale)
        if barcode.valid:
            found.append(Found(barcode.text, quad))
        elif barcode.format == _REGULAR_QR:
            modules = _modules_of(barcode)
            if modules:
                failed.append(Candidate(quad, modules))
    return found, failed


def _quad_of(position: zxingcpp.Position, scale: float) -> Quad:
    corners = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    tl, tr, br, bl = ((p.x / scale, p.y / scale) for p in corners)
    return (tl, tr, br, bl)


def _modules_of(barcode: zxingcpp.Barcode) -> int | None:
    extra = barcode.extra
    version = extra.get("Version", "") if isinstance(extra, dict) else ""
    return 17 + 4 * int(version) if str(version).isdigit() else None


def _decode_with_zxing(grey: Image.Image) -> list[Found]:
    """Read with zxing-cpp, retrying harder only while something is left unread.

    Each retry runs when nothing was decoded yet, or when zxing-cpp located a QR code it
    could not read, so a clean photo costs one pass. A retry's result still has to pass
    zxing-cpp's Reed-Solomon check, which keeps extra attempts from adding wrong answers.
    """
    found, failed = _zxing_read(grey, zxingcpp.Binarizer.LocalAverage)
    for attempt in _retries(grey):
        unread = _unread(failed, found)
        if found and not unread:
            break
        more_found, more_failed = attempt(unread)
        found = merge(found, more_found)
        failed = _merge_candidates(failed, more_failed)
    return found


_Attempt = Callable[[list[Candidate]], tuple[list[Found], list[Candidate]]]


def _retries(grey: Image.Image) -> Iterator[_Attempt]:
    """Retry strategies, cheapest and most often useful first."""

    def global_histogram(_: list[Candidate]) -> tuple[list[Found], list[Candidate]]:
        # A single global threshold keeps modules whole where local averaging fragments
        # them on unevenly textured prints (it alone reads two of the T-shirt photos).
        return _zxing_read(grey, zxingcpp.Binarizer.GlobalHistogram)

    def dewarped(unread: list[Candidate]) -> tuple[list[Found], list[Candidate]]:
        found: list[Found] = []
        for candidate in unread[:_MAX_DEWARPED_CANDIDATES]:
            found.extend(_read_dewarped(grey, candidate))
        return found, []

    def upscaled(_: list[Candidate]) -> tuple[list[Found], list[Candidate]]:
        # Modules one or two pixels wide (thumbnails, far-away codes) defeat the binarizer;
        # at twice the size they have edges it can find.
        bigger = grey.resize((grey.width * 2, grey.height * 2), Image.Resampling.BICUBIC)
        return _zxing_read(bigger, zxingcpp.Binarizer.LocalAverage, scale=2.0)

    yield global_histogram
    yield dewarped
    if max(grey.size) <= _UPSCALE_UP_TO:
        yield upscaled


def _unread(failed: list[Candidate], found: list[Found]) -> list[Candidate]:
    return [c for c in failed if not any(inside(centre(c.quad), f.quad) for f in found)]


def _merge_candidates(failed: list[Candidate], more: list[Candidate]) -> list[Candidate]:
    merged = list(failed)
    for c in more:
        if not any(inside(centre(c.quad), m.quad) for m in merged):
            merged.append(c)
    return merged


def _in_reading_order(found: Sequence[Found]) -> list[str]:
    """Texts top to bottom, then left to right within a row; each payload once."""
    rows: list[list[Found]] = []
    row_bottom = -math.inf
    for code in sorted(found, key=lambda f: centre(f.quad)[1]):
        # A code whose centre lies above the bottom of the row's first code joins that row.
        if rows and centre(code.quad)[1] <= row_bottom:
            rows[-1].append(code)
        else:
            rows.append([code])
            row_bottom = max(y for _, y in code.quad)
    texts: list[str] = []
    for row in rows:
        for code in sorted(row, key=lambda f: centre(f.quad)[0]):
            if code.text not in texts:
                texts.append(code.text)
    return texts


def _read_dewarped(grey: Image.Image, candidate: Candidate) -> list[Found]:
    """Read a located code again after flattening the curved material it is printed on."""
    for flat in dewarp.flattened(grey, candidate):
        for binarizer in (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram):
            barcodes = zxingcpp.read_barcodes(
                flat, formats=_QR_FORMATS, text_mode=zxingcpp.TextMode.Plain, binarizer=binarizer
            )
            # Only a regular QR code can be what we flattened; a Micro QR "found" here would be
            # a finder pattern read on its own.
            texts = [b.text for b in barcodes if b.valid and b.format == _REGULAR_QR]
            if texts:
                return [Found(text, candidate.quad) for text in texts]
    return []
