"""QR codes in and out: decode every code in a member's photo, render a PNG for a short link.

Both directions are CPU-bound and synchronous; callers run them in `asyncio.to_thread`.
"""

from __future__ import annotations

import atexit
import functools
import io
import itertools
import logging
import math
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import qrcode
import zxingcpp
from PIL import Image, ImageOps, UnidentifiedImageError
from qrcode.image.pil import PilImage

from bot.errors import UserError
from bot.purposes import Purpose, url_purpose

log = logging.getLogger(__name__)

_MEGABYTE = 1024 * 1024

# Formats a chat photo or image document realistically arrives in. Keeping the list short keeps
# Pillow's rarer (and historically buggier) parsers away from untrusted bytes.
_IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")  # JPEG includes MPO

# `warnings.catch_warnings` swaps process-wide state; this lock keeps our own threads from
# interleaving their swaps (which could leave our filter installed after we leave).
_PILLOW_WARNINGS_LOCK = threading.Lock()

MAX_SIDE = 30_000  # pixels; a 200-megapixel phone photo is 16,320 wide
MAX_ASPECT = 25  # long side / short side; panoramas stay well inside it
MAX_CONCURRENT_DECODES = max(1, min(4, os.cpu_count() or 1))
_DECODE_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_DECODES)

_PAYLOAD_KINDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("http://", "https://"), "url"),
    (("wifi:",), "wifi"),
    (("begin:vcard",), "vcard"),
    (("mecard:",), "mecard"),
    (("mebkm:",), "bookmark"),
    (("mailto:", "matmsg:"), "email"),
    (("tel:",), "phone"),
    (("sms:", "smsto:"), "sms"),
    (("geo:",), "geo"),
)

Point = tuple[float, float]
Quad = tuple[Point, Point, Point, Point]  # top-left, top-right, bottom-right, bottom-left


@dataclass(frozen=True, slots=True)
class DecodedCode:
    """One QR code found in an image: its payload exactly as encoded, and what kind it is."""

    text: str
    kind: str


def classify_payload(text: str) -> str:
    """Name the kind of a QR payload: url, wifi, vcard, mecard, bookmark, email, phone, sms,
    geo or text; or what it does, when a scanning app acts on it: payment, invite, contact,
    miniprogram (see `bot.purposes`)."""
    # Schemes are case-insensitive, and QR generators often upper-case URLs to fit the denser
    # alphanumeric mode ("HTTPS://SUO.RUN/AB").
    head = text.lstrip("\ufeff \t\r\n").lower()
    purpose = url_purpose(head)
    if purpose is not None:
        return purpose.value
    for prefixes, kind in _PAYLOAD_KINDS:
        if head.startswith(prefixes):
            return kind
    return "text"


_SHORTENABLE_PURPOSES = frozenset({Purpose.INVITE, Purpose.CONTACT, Purpose.MINIPROGRAM})
_MECARD_FIELD = re.compile(r"(?i)(?:^MEBKM:|;)URL:((?:\\.|[^;\\])*)")
_MECARD_ESCAPE = re.compile(r"\\(.)")


def url_in_payload(text: str, kind: str) -> str | None:
    """The web address a payload leads to: a URL itself (an invite, a contact card or a
    mini-program's web link too), or a bookmark's URL field. Never a payment code: shortening
    one would spread it further."""
    if kind == "url" or (
        kind in _SHORTENABLE_PURPOSES and text.strip().lower().startswith("http")
    ):
        return text.strip()
    if kind == "bookmark":
        match = _MECARD_FIELD.search(text)
        if match:
            url = _MECARD_ESCAPE.sub(r"\1", match.group(1)).strip()
            return url if classify_payload(url) == "url" else None
    return None


def render_qr_png(text: str, *, box_size: int = 10, border: int = 4) -> bytes:
    """Render `text` as a black-on-white QR code (error correction M) and return PNG bytes."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=box_size,
        border=border,
        image_factory=PilImage,
    )
    code.add_data(text)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out, format="PNG")
    return out.getvalue()


def decode_qr_codes(
    data: bytes, *, max_bytes: int = 20 * _MEGABYTE, max_pixels: int = 40_000_000
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


def load_greyscale(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Open untrusted image bytes as an upright greyscale image, enforcing the size limits."""
    if len(data) > max_bytes:
        raise UserError("image_too_large", "image_too_large", limit_mb=max_bytes // _MEGABYTE)
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


def fallback_available() -> bool:
    """Whether the pyzbar fallback can run here (pyzbar installed and libzbar loadable)."""
    return _zbar_decoder() is not None


def decode_greyscale(image: Image.Image, *, use_fallback: bool = True) -> list[DecodedCode]:
    """Decode every QR code in a greyscale image: zxing-cpp first, pyzbar only if it finds none.

    `use_fallback=False` measures zxing-cpp alone (the benchmark compares both).
    """
    found = _decode_with_zxing(image)
    if not found and use_fallback:
        zbar = _zbar_decoder()
        if zbar is not None:
            found = _decode_with_zbar(image, zbar)
    return [DecodedCode(text, classify_payload(text)) for text in _in_reading_order(found)]


# --- image preparation -------------------------------------------------------------------


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


# --- zxing-cpp ----------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class _Found:
    text: str
    quad: Quad


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A QR code zxing-cpp located but could not read (usually a checksum failure)."""

    quad: Quad
    modules: int  # symbol width in modules (21 for version 1)


def _zxing_read(
    image: Image.Image, binarizer: zxingcpp.Binarizer, *, scale: float = 1.0
) -> tuple[list[_Found], list[_Candidate]]:
    """One zxing-cpp pass; positions are mapped back by `scale` to the original image."""
    found: list[_Found] = []
    failed: list[_Candidate] = []
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
            found.append(_Found(barcode.text, quad))
        elif barcode.format == _REGULAR_QR:
            modules = _modules_of(barcode)
            if modules:
                failed.append(_Candidate(quad, modules))
    return found, failed


def _quad_of(position: zxingcpp.Position, scale: float) -> Quad:
    corners = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    tl, tr, br, bl = ((p.x / scale, p.y / scale) for p in corners)
    return (tl, tr, br, bl)


def _modules_of(barcode: zxingcpp.Barcode) -> int | None:
    extra = barcode.extra
    version = extra.get("Version", "") if isinstance(extra, dict) else ""
    return 17 + 4 * int(version) if str(version).isdigit() else None


def _decode_with_zxing(grey: Image.Image) -> list[_Found]:
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
        found = _merge(found, more_found)
        failed = _merge_candidates(failed, more_failed)
    return found


_Attempt = Callable[[list[_Candidate]], tuple[list[_Found], list[_Candidate]]]


def _retries(grey: Image.Image) -> Iterator[_Attempt]:
    """Retry strategies, cheapest and most often useful first."""

    def global_histogram(_: list[_Candidate]) -> tuple[list[_Found], list[_Candidate]]:
        # A single global threshold keeps modules whole where local averaging fragments
        # them on unevenly textured prints (it alone reads two of the T-shirt photos).
        return _zxing_read(grey, zxingcpp.Binarizer.GlobalHistogram)

    def dewarped(unread: list[_Candidate]) -> tuple[list[_Found], list[_Candidate]]:
        found: list[_Found] = []
        for candidate in unread[:_MAX_DEWARPED_CANDIDATES]:
            found.extend(_read_dewarped(grey, candidate))
        return found, []

    def upscaled(_: list[_Candidate]) -> tuple[list[_Found], list[_Candidate]]:
        # Modules one or two pixels wide (thumbnails, far-away codes) defeat the binarizer;
        # at twice the size they have edges it can find.
        bigger = grey.resize((grey.width * 2, grey.height * 2), Image.Resampling.BICUBIC)
        return _zxing_read(bigger, zxingcpp.Binarizer.LocalAverage, scale=2.0)

    yield global_histogram
    yield dewarped
    if max(grey.size) <= _UPSCALE_UP_TO:
        yield upscaled


def _unread(failed: list[_Candidate], found: list[_Found]) -> list[_Candidate]:
    return [c for c in failed if not any(_inside(_centre(c.quad), f.quad) for f in found)]


def _merge(found: list[_Found], more: list[_Found]) -> list[_Found]:
    texts = {f.text for f in found}
    merged = list(found)
    for f in more:
        if f.text not in texts:
            texts.add(f.text)
            merged.append(f)
    return merged


def _merge_candidates(failed: list[_Candidate], more: list[_Candidate]) -> list[_Candidate]:
    merged = list(failed)
    for c in more:
        if not any(_inside(_centre(c.quad), m.quad) for m in merged):
            merged.append(c)
    return merged


def _centre(quad: Quad) -> Point:
    return (sum(p[0] for p in quad) / 4, sum(p[1] for p in quad) / 4)


def _inside(point: Point, quad: Quad) -> bool:
    """Whether `point` lies inside the convex quadrilateral `quad` (either winding)."""
    signs = set()
    for (ax, ay), (bx, by) in zip(quad, (*quad[1:], quad[0]), strict=True):
        cross = (bx - ax) * (point[1] - ay) - (by - ay) * (point[0] - ax)
        if cross:
            signs.add(cross > 0)
    return len(signs) <= 1


def _in_reading_order(found: Sequence[_Found]) -> list[str]:
    """Texts top to bottom, then left to right within a row; each payload once."""
    rows: list[list[_Found]] = []
    row_bottom = -math.inf
    for code in sorted(found, key=lambda f: _centre(f.quad)[1]):
        # A code whose centre lies above the bottom of the row's first code joins that row.
        if rows and _centre(code.quad)[1] <= row_bottom:
            rows[-1].append(code)
        else:
            rows.append([code])
            row_bottom = max(y for _, y in code.quad)
    texts: list[str] = []
    for row in rows:
        for code in sorted(row, key=lambda f: _centre(f.quad)[0]):
            if code.text not in texts:
                texts.append(code.text)
    return texts


# --- dewarping codes printed on curved or creased material --------------------------------
#
# zxing-cpp models a code as a flat plane seen in perspective. A code printed on a T-shirt or a
# bag follows the fabric, so its grid drifts away from any perspective fit and the read fails
# the checksum even though every module is visible. Such codes usually sit on a light patch
# (the print's quiet zone) against darker material; that patch's outline bends exactly as the
# code does. We trace the outline along rays from the code's centre, treat its four sides as
# the boundary curves of a Coons patch, and resample the patch onto a flat square.

_DEWARP_RAYS = 180
_DEWARP_GRIDS = (8, 16)
_EDGE_RUN_MODULES = 2.5  # dark run (in modules) that marks the end of the light patch


def _read_dewarped(grey: Image.Image, candidate: _Candidate) -> list[_Found]:
    outline = _trace_light_patch(grey, candidate)
    if outline is None:
        return []
    for grid in _DEWARP_GRIDS:
        flat = _flatten_patch(grey, outline, grid)
        for binarizer in (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram):
            barcodes = zxingcpp.read_barcodes(
                flat, formats=_QR_FORMATS, text_mode=zxingcpp.TextMode.Plain, binarizer=binarizer
            )
            # Only a regular QR code can be what we flattened; a Micro QR "found" here would be
            # a finder pattern read on its own.
            texts = [b.text for b in barcodes if b.valid and b.format == _REGULAR_QR]
            if texts:
                return [_Found(text, candidate.quad) for text in texts]
    return []


@dataclass(frozen=True, slots=True)
class _Outline:
    """The light patch's four sides, each from one corner to the next, clockwise."""

    top: list[Point]
    right: list[Point]
    bottom: list[Point]
    left: list[Point]
    size: int


def _trace_light_patch(grey: Image.Image, candidate: _Candidate) -> _Outline | None:
    quad = candidate.quad
    cx, cy = _centre(quad)
    side = sum(math.dist(quad[i], quad[(i + 1) % 4]) for i in range(4)) / 4
    module = side / candidate.modules
    threshold = _otsu_threshold(grey)
    pixels = grey.tobytes()
    width, height = grey.size

    def is_dark(x: float, y: float) -> bool:
        xi, yi = round(x), round(y)
        return not (0 <= xi < width and 0 <= yi < height) or pixels[yi * width + xi] <= threshold

    boundary: list[Point] = []
    for i in range(_DEWARP_RAYS):
        angle = 2 * math.pi * i / _DEWARP_RAYS
        dx, dy = math.cos(angle), math.sin(angle)
        edge = _ray_exit(quad, (cx, cy), (dx, dy))
        if edge is None:
            return None
        # Walk outward from just inside the code's edge; the patch ends where a dark run
        # longer than any stretch of modules begins.
        r = edge - module
        run_start: float | None = None
        while r < edge + side / 2:
            if is_dark(cx + dx * r, cy + dy * r):
                if run_start is None:
                    run_start = r
                elif r - run_start >= _EDGE_RUN_MODULES * module:
                    break
            else:
                run_start = None
            r += 0.5
        stop = run_start if run_start is not None else r
        boundary.append((cx + dx * stop, cy + dy * stop))

    # The patch's corners: the outline points furthest out towards each of the code's corners.
    def furthest_towards(corner: Point) -> int:
        ux, uy = corner[0] - cx, corner[1] - cy
        return max(
            range(_DEWARP_RAYS),
            key=lambda i: (boundary[i][0] - cx) * ux + (boundary[i][1] - cy) * uy,
        )

    corners = [furthest_towards(corner) for corner in quad]

    def side_between(start: int, end: int) -> list[Point]:
        points = [boundary[start]]
        i = start
        while i != end:
            i = (i + 1) % _DEWARP_RAYS
            points.append(boundary[i])
        return points

    # Ray angles grow clockwise on screen, the same way round as the code's corners.
    tl, tr, br, bl = corners
    sides = [
        side_between(tl, tr),
        side_between(tr, br),
        side_between(br, bl),
        side_between(bl, tl),
    ]
    if any(len(s) < 2 for s in sides):
        return None
    top, right, bottom, left = sides
    return _Outline(top, right, bottom[::-1], left[::-1], size=max(200, round(side * 1.4)))


def _flatten_patch(grey: Image.Image, outline: _Outline, grid: int) -> Image.Image:
    """Map the outlined patch onto a square (bilinear Coons patch) on a white margin."""
    top = _resample(outline.top, grid + 1)
    bottom = _resample(outline.bottom, grid + 1)
    left = _resample(outline.left, grid + 1)
    right = _resample(outline.right, grid + 1)
    corners = (top[0], top[-1], bottom[-1], bottom[0])

    def surface(iu: int, iv: int) -> Point:
        return _coons_point(
            iu / grid, iv / grid, (top[iu], bottom[iu], left[iv], right[iv]), corners
        )

    size = outline.size
    cell = size / grid
    mesh = []
    for iu in range(grid):
        for iv in range(grid):
            box = (
                round(iu * cell),
                round(iv * cell),
                round((iu + 1) * cell),
                round((iv + 1) * cell),
            )
            nw, sw, se, ne = (
                surface(iu, iv),
                surface(iu, iv + 1),
                surface(iu + 1, iv + 1),
                surface(iu + 1, iv),
            )
            mesh.append((box, (*nw, *sw, *se, *ne)))
    flat = grey.transform(
        (size, size), Image.Transform.MESH, mesh, Image.Resampling.BILINEAR, fillcolor=255
    )
    margin = size // 12
    framed = Image.new("L", (size + 2 * margin, size + 2 * margin), 255)
    framed.paste(flat, (margin, margin))
    return framed


def _coons_point(
    u: float, v: float, sides: tuple[Point, Point, Point, Point], corners: Quad
) -> Point:
    """The bilinear Coons patch at (u, v): both pairs of opposite sides blended, less the
    corners' bilinear blend (counted twice otherwise). `sides` are top, bottom, left, right."""
    top, bottom, left, right = sides
    tl, tr, br, bl = corners

    def blend(k: int) -> float:
        ruled = (1 - v) * top[k] + v * bottom[k] + (1 - u) * left[k] + u * right[k]
        bilinear = (
            (1 - u) * (1 - v) * tl[k] + u * (1 - v) * tr[k] + u * v * br[k] + (1 - u) * v * bl[k]
        )
        return ruled - bilinear

    return (blend(0), blend(1))


def _resample(points: list[Point], count: int) -> list[Point]:
    """`count` points evenly spaced by arc length along a polyline."""
    lengths = [0.0]
    for a, b in itertools.pairwise(points):
        lengths.append(lengths[-1] + math.dist(a, b))
    total = lengths[-1]
    out: list[Point] = []
    j = 0
    for i in range(count):
        target = total * i / (count - 1)
        while j < len(points) - 2 and lengths[j + 1] < target:
            j += 1
        span = lengths[j + 1] - lengths[j]
        t = (target - lengths[j]) / span if span else 0.0
        (ax, ay), (bx, by) = points[j], points[j + 1]
        out.append((ax + (bx - ax) * t, ay + (by - ay) * t))
    return out


def _ray_exit(quad: Quad, origin: Point, direction: Point) -> float | None:
    """Distance along the ray from `origin` (inside `quad`) to where it leaves the quad."""
    nearest: float | None = None
    ox, oy = origin
    dx, dy = direction
    for (ax, ay), (bx, by) in zip(quad, (*quad[1:], quad[0]), strict=True):
        ex, ey = bx - ax, by - ay
        denominator = dx * ey - dy * ex
        if abs(denominator) < 1e-9:
            continue
        t = ((ax - ox) * ey - (ay - oy) * ex) / denominator
        s = ((ax - ox) * dy - (ay - oy) * dx) / denominator
        if t > 0 and -1e-6 <= s <= 1 + 1e-6 and (nearest is None or t < nearest):
            nearest = t
    return nearest


def _otsu_threshold(grey: Image.Image) -> int:
    """The grey level that best splits the histogram into dark and light (Otsu's method)."""
    histogram = grey.histogram()
    total = sum(histogram)
    weighted_total = sum(level * count for level, count in enumerate(histogram))
    below = weighted_below = 0
    best_level, best_spread = 0, -1.0
    for level, count in enumerate(histogram):
        below += count
        if below == 0:
            continue
        above = total - below
        if above == 0:
            break
        weighted_below += level * count
        spread = (
            below
            * above
            * (weighted_below / below - (weighted_total - weighted_below) / above) ** 2
        )
        if spread > best_spread:
            best_level, best_spread = level, spread
    return best_level


# --- pyzbar fallback ----------------------------------------------------------------------

_ZbarRead = Callable[[Image.Image], list[Any]]

# zbar takes half a second on a 12-megapixel photo, and reads big, noisy codes better at a
# modest size anyway: it sees at most this many pixels a side, then half that.
_ZBAR_MAX_SIDE = 1200

# Charsets libzbar may have guessed when it turned a QR code's bytes into text, and the ones
# those bytes were really written in. zbar happily reads GBK or Shift_JIS bytes as Big5.
_ZBAR_GUESSES = ("utf-8", "shift_jis", "big5", "latin-1")
_QR_CHARSETS = ("utf-8", "shift_jis", "big5", "gbk")


@functools.cache
def _zbar_decoder() -> _ZbarRead | None:
    """A QR-only pyzbar reader, or None when pyzbar or the libzbar it wraps is missing."""
    try:
        from pyzbar import pyzbar
    except (ImportError, OSError) as exc:
        log.info("qr: pyzbar fallback unavailable (%s)", type(exc).__name__)
        return None

    def read(image: Image.Image) -> list[Any]:
        return list(pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE]))

    return read


def _decode_with_zbar(grey: Image.Image, read: _ZbarRead) -> list[_Found]:
    first = _fit_within(grey, _ZBAR_MAX_SIDE)
    for attempt, image in enumerate((first, _fit_within(first, max(first.size) // 2))):
        try:
            symbols = read(image)
        except Exception:  # a fallback must never take the primary result down with it
            log.warning("qr: pyzbar failed on a %dx%d image", *image.size, exc_info=True)
            return []
        scale = image.width / grey.width
        found: list[_Found] = []
        for symbol in symbols:
            text = _trusted_zbar_text(symbol.data)
            if text is None:
                log.info("qr: dropped an ambiguous pyzbar result (attempt %d)", attempt)
                continue
            left, top = symbol.rect.left / scale, symbol.rect.top / scale
            right, bottom = left + symbol.rect.width / scale, top + symbol.rect.height / scale
            quad = ((left, top), (right, top), (right, bottom), (left, bottom))
            found = _merge(found, [_Found(text, quad)])
        if found:
            return found
    return []


def _fit_within(image: Image.Image, longest: int) -> Image.Image:
    factor = longest / max(image.size)
    if factor >= 1:
        return image
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BOX)


def _trusted_zbar_text(data: bytes) -> str | None:
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
