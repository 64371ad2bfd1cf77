"""Fuzz: photos whose headers are mutated (sizes, chunk lengths, markers, cut short) in every
format a chat delivers. Opening one gives an upright greyscale image within the limits or one
of the answers a member is shown (too large, too many pixels, bad shape, unreadable): never
another exception, and never the memory a forged size asks for.
"""

from __future__ import annotations

import io
import resource
import struct

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bot.errors import UserError
from bot.qr.image import MAX_SIDE, load_greyscale

MEGABYTE = 1024 * 1024
MAX_PIXELS = 4_000_000  # a tenth of the default: a decode within it costs tens of megabytes
ANSWERS = {"image_too_large", "image_too_many_pixels", "image_bad_shape", "image_unreadable"}
# RSS may grow by this much over the whole run: a forged size let through costs gigabytes.
RSS_GROWTH_LIMIT = 512 * MEGABYTE


def _encoded(fmt: str, mode: str, **params: object) -> bytes:
    colour = 128 if mode in ("L", "P", "I;16") else (0, 90, 200, 0)[: len(mode)]
    out = io.BytesIO()
    Image.new(mode, (24, 16), colour).save(out, fmt, **params)
    return out.getvalue()


SEEDS = (
    _encoded("PNG", "L"),
    _encoded("PNG", "RGBA"),
    _encoded("PNG", "P", transparency=0),
    _encoded("PNG", "I;16"),
    _encoded("JPEG", "RGB", quality=80),
    _encoded("JPEG", "L", progressive=True),
    _encoded("GIF", "P"),
    _encoded("WEBP", "RGB", lossless=True),
    _encoded("WEBP", "RGBA", quality=50),
    _encoded("BMP", "RGB"),
)
# Where a header's width, height or a length sits, per format (offset, struct format): the
# fields a forged file sets to ask for a huge allocation.
_SIZE_FIELDS = {
    b"\x89PNG": ((16, ">I"), (20, ">I"), (8, ">I")),
    b"\xff\xd8": (),  # found by scanning for the SOF marker below
    b"GIF8": ((6, "<H"), (8, "<H")),
    b"RIFF": ((4, "<I"), (26, "<H"), (28, "<H")),
    b"BM": ((18, "<i"), (22, "<i"), (2, "<I")),
}
_BIG_VALUES = (0, 1, 0x7FFF, 0xFFFF, 65_536, 30_001, 0x7FFFFFFF, 0xFFFFFFFF, 40_000_000)


def _size_fields(data: bytes) -> tuple[tuple[int, str], ...]:
    for magic, fields in _SIZE_FIELDS.items():
        if data.startswith(magic):
            if magic == b"\xff\xd8":
                sof = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
                return ((sof + 5, ">H"), (sof + 7, ">H")) if sof > 0 else ()
            return fields
    return ()


def _mutated_image(plan: int, seed: int) -> bytes:
    """SEEDS[seed] with a size field set to a big value, bytes of its first 64 overwritten,
    and perhaps cut short: `plan`'s digits choose which."""
    data = bytearray(SEEDS[seed % len(SEEDS)])
    plan, field_choice = divmod(plan, 8)
    fields = _size_fields(bytes(data))
    if fields and field_choice < len(fields):
        offset, fmt = fields[field_choice]
        plan, value = divmod(plan, len(_BIG_VALUES))
        limit = 2 ** (8 * struct.calcsize(fmt) - (1 if fmt.endswith("i") else 0))
        data[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, _BIG_VALUES[value] % limit)
    for _ in range(plan % 4):
        plan, position = divmod(plan // 4, 64)
        plan, value = divmod(plan, 256)
        if position < len(data):
            data[position] = value
    plan, cut = divmod(plan, 3)
    if cut == 0:
        del data[plan % len(data) :]
    return bytes(data)


@given(st.builds(_mutated_image, st.integers(0, 2**128), st.integers(0, len(SEEDS) - 1)))
def test_a_mutated_photo_opens_within_limits_or_gets_a_clear_answer(data: bytes) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        image = load_greyscale(data, max_bytes=20 * MEGABYTE, max_pixels=MAX_PIXELS)
    except UserError as e:
        assert e.code in ANSWERS
    else:
        assert image.mode == "L"
        assert image.width * image.height <= MAX_PIXELS and max(image.size) <= MAX_SIDE
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert grown < RSS_GROWTH_LIMIT
