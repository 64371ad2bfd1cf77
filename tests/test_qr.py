"""QR in and out: real photos decode, rendered codes round-trip, bad files get clear errors.

The photo test reads ../shared/qr-photos (or $SUO_QR_PHOTOS) and is skipped where it is absent.
"""

from __future__ import annotations

import io
import os
import random
import struct
import sys
import time
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image

from bot.errors import UserError
from bot.qr import (
    DecodedCode,
    classify_payload,
    decode_qr_codes,
    fallback_available,
    render_qr_png,
    url_in_payload,
    zbar,
)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def photo_folder() -> Path:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "qr-photos"
    return Path(os.environ.get("SUO_QR_PHOTOS", default))


def normalise(text: str) -> str:
    """As ../shared/qr-photos/README.md prescribes: CRLF to LF, no trailing whitespace."""
    return text.replace("\r\n", "\n").rstrip()


def texts_of(codes: list[DecodedCode]) -> list[str]:
    return [code.text for code in codes]


def encoded(image: Image.Image, image_format: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format)
    return out.getvalue()


def qr_image(text: str, *, box_size: int = 6) -> Image.Image:
    return Image.open(io.BytesIO(render_qr_png(text, box_size=box_size))).convert("L")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` but carries no pixel data: costs nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


# --- real photos --------------------------------------------------------------------------


def test_public_qr_photos_decode_with_no_wrong_results() -> None:
    folder = photo_folder()
    if not folder.is_dir():
        pytest.skip(f"no QR photo folder at {folder} (set SUO_QR_PHOTOS to point at one)")
    images = sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES and path.with_suffix(".txt").is_file()
    )
    if not images:
        pytest.skip(f"{folder} holds no image with an expected-text file")

    decoded, wrong, missed, millis = 0, [], [], []
    for image in images:
        expected = normalise(image.with_suffix(".txt").read_text(encoding="utf-8"))
        started = time.perf_counter()
        texts = texts_of(decode_qr_codes(image.read_bytes()))
        millis.append((time.perf_counter() - started) * 1000)
        if any(normalise(text) == expected for text in texts):
            decoded += 1
        elif texts:
            wrong.append(f"{image.relative_to(folder)}: {texts!r}")
        else:
            missed.append(str(image.relative_to(folder)))

    millis.sort()
    rate = decoded / len(images)
    print(
        f"\nQR photos: {decoded}/{len(images)} decoded ({rate:.1%}), {len(wrong)} wrong, "
        f"{len(missed)} not found; median {millis[len(millis) // 2]:.1f} ms, "
        f"p95 {millis[round(0.95 * (len(millis) - 1))]:.1f} ms per image"
        f"\nnot found: {missed}"
    )
    assert wrong == []
    assert rate >= 0.95, f"only {decoded}/{len(images)} decoded; not found: {missed}"


# --- rendering and round trips ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "https://suo.run/Ab3dE",
        "https://example.com/search?q=%E4%B8%AD%E6%96%87&lang=zh-CN#top",
        "日本語のテキスト、カタカナとひらがな",
        "快缩短网址：扫码加入社群",
        "  leading and trailing spaces, a tab\tand\r\nCRLF  ",
    ],
)
def test_rendered_code_decodes_back_exactly(text: str) -> None:
    png = render_qr_png(text)

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode_qr_codes(png) == [DecodedCode(text, classify_payload(text))]


def test_render_honours_box_size_and_border() -> None:
    small = Image.open(io.BytesIO(render_qr_png("https://suo.run/x", box_size=2, border=1)))
    large = Image.open(io.BytesIO(render_qr_png("https://suo.run/x", box_size=10, border=4)))

    assert (small.width - 2 * 2) * 5 == large.width - 2 * 4 * 10  # same modules, 5x the box


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ("https://suo.run/abc", "url"),
        ("http://example.com", "url"),
        ("HTTPS://SUO.RUN/ABC", "url"),
        ("WIFI:S:office;T:WPA;P:secret;;", "wifi"),
        ("BEGIN:VCARD\nVERSION:3.0\nFN:Li Lei\nEND:VCARD", "vcard"),
        ("MECARD:N:測試;;", "mecard"),
        ("mailto:ops@suo.run", "email"),
        ("MATMSG:TO:ops@suo.run;SUB:hi;BODY:hello;;", "email"),
        ("tel:+8610123456", "phone"),
        ("sms:+8610123456", "sms"),
        ("SMSTO:+8610123456:hello", "sms"),
        ("geo:39.9042,116.4074", "geo"),
        ("MEBKM:URL:http\\://en.wikipedia.org;;", "bookmark"),
        ("httpx://not-a-url", "text"),
        ("加群请扫码", "text"),
        ("", "text"),
    ],
)
def test_classify_payload(payload: str, kind: str) -> None:
    assert classify_payload(payload) == kind


def test_two_codes_side_by_side_are_both_decoded_left_to_right() -> None:
    left, right = qr_image("https://suo.run/left"), qr_image("WIFI:S:guest;T:nopass;;")
    canvas = Image.new("L", (left.width + right.width + 40, max(left.height, right.height)), 255)
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + 40, 0))

    assert decode_qr_codes(encoded(canvas)) == [
        DecodedCode("https://suo.run/left", "url"),
        DecodedCode("WIFI:S:guest;T:nopass;;", "wifi"),
    ]


def test_grid_of_codes_comes_back_in_reading_order_without_duplicates() -> None:
    texts = ["first", "second", "third", "first"]
    tiles = [qr_image(text) for text in texts]
    size = max(tile.width for tile in tiles)
    canvas = Image.new("L", (2 * size + 30, 2 * size + 30), 255)
    for index, tile in enumerate(tiles):
        # Nudge the right column down a little, as a hand-made collage would be.
        canvas.paste(
            tile, ((index % 2) * (size + 30), (index // 2) * (size + 30) + 8 * (index % 2))
        )

    assert texts_of(decode_qr_codes(encoded(canvas))) == ["first", "second", "third"]


def test_transparent_png_is_read_as_dark_on_white() -> None:
    modules = qr_image("https://suo.run/clear")
    rgba = Image.new("RGBA", modules.size, (0, 0, 0, 0))
    # Only the dark modules are painted; everything else is fully transparent black.
    rgba.putalpha(modules.point(lambda value: 255 if value < 128 else 0))

    assert texts_of(decode_qr_codes(encoded(rgba))) == ["https://suo.run/clear"]


def test_photo_without_a_code_gives_an_empty_list() -> None:
    noise = Image.effect_noise((640, 480), 40)
    gradient = Image.linear_gradient("L").resize((640, 480))
    picture = Image.blend(noise, gradient, 0.5)

    assert decode_qr_codes(encoded(picture)) == []


def test_rotated_jpeg_photo_of_a_code_decodes() -> None:
    code = qr_image("https://suo.run/photo", box_size=8)
    photo = Image.new("L", (code.width + 200, code.height + 120), 90)
    photo.paste(code, (100, 60))
    out = io.BytesIO()
    photo.rotate(17, expand=True, fillcolor=90).convert("RGB").save(out, format="JPEG", quality=70)

    assert texts_of(decode_qr_codes(out.getvalue())) == ["https://suo.run/photo"]


# --- refusing bad input ------------------------------------------------------------------


def assert_user_error(error: pytest.ExceptionInfo[UserError], code: str, **params: object) -> None:
    assert error.value.code == code
    assert error.value.message_key == code
    assert error.value.params == params


def test_truncated_png_is_unreadable() -> None:
    png = render_qr_png("https://suo.run/truncated")

    with pytest.raises(UserError) as error:
        decode_qr_codes(png[: len(png) // 2])
    assert_user_error(error, "image_unreadable")


@pytest.mark.parametrize(
    "data",
    [
        "这不是图片，只是一段文字。\nnot an image either\n".encode(),
        b"",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"GIF89a" + b"\xff" * 20,
    ],
    ids=["text-file", "empty", "png-signature-only", "garbage-gif"],
)
def test_non_image_bytes_are_unreadable(data: bytes) -> None:
    with pytest.raises(UserError) as error:
        decode_qr_codes(data)
    assert_user_error(error, "image_unreadable")


@pytest.mark.parametrize(
    ("width", "height"),
    [(7_000, 7_000), (10_000, 10_000), (30_000, 30_000)],
    ids=["49MP-over-our-limit", "100MP-over-pillow-warning", "900MP-over-pillow-error"],
)
def test_too_many_pixels_is_refused_before_decoding(width: int, height: int) -> None:
    data = png_header_only(width, height)

    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        with pytest.raises(UserError) as error:
            decode_qr_codes(data)

    assert_user_error(error, "image_too_many_pixels", limit_mp=40)
    assert [warning.category.__name__ for warning in leaked] == []


def one_bit_png(width: int, height: int) -> bytes:
    """A real, complete all-white 1-bit PNG: tiny on disk whatever its size in pixels."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    pixels = zlib.compress(row * height, 9)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height"),
    [(70_000, 1), (1, 40_000_000), (39_000, 1_000), (4_000, 100)],
    ids=["side-over-65535", "1x40M-strip", "side-over-30000", "aspect-40"],
)
def test_images_no_code_can_fit_are_refused_before_decoding(width: int, height: int) -> None:
    data = one_bit_png(width, height)
    assert len(data) < 100_000  # what a hostile upload costs to send
    with pytest.raises(UserError) as error:
        decode_qr_codes(data)
    assert_user_error(error, "image_bad_shape", width=width, height=height)


def test_a_wide_but_ordinary_banner_is_still_read() -> None:
    banner = Image.new("L", (2_000, 200), 255)
    banner.paste(
        Image.open(io.BytesIO(render_qr_png("https://example.com/banner")))
        .convert("L")
        .resize((180, 180)),
        (1_700, 10),
    )
    buf = io.BytesIO()
    banner.save(buf, "PNG")
    assert [c.text for c in decode_qr_codes(buf.getvalue())] == ["https://example.com/banner"]


def test_damaged_files_only_ever_raise_unreadable() -> None:
    code = qr_image("https://suo.run/fuzz", box_size=3).convert("RGB")
    originals = [encoded(code, image_format) for image_format in ("PNG", "JPEG", "GIF", "WEBP")]
    rng = random.Random(20261123)
    for _ in range(120):
        data = bytearray(rng.choice(originals))
        damage = rng.choice(["truncate", "flip", "splice"])
        if damage == "truncate":
            del data[rng.randrange(1, len(data)) :]
        elif damage == "flip":
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            start = rng.randrange(len(data))
            data[start : start + 16] = rng.randbytes(16)
        try:
            codes = decode_qr_codes(bytes(data))
        except UserError as error:
            assert error.code in ("image_unreadable", "image_too_many_pixels"), (damage, error)
        else:
            assert texts_of(codes) in ([], ["https://suo.run/fuzz"]), damage


def test_sixteen_bit_greyscale_png_decodes() -> None:
    # Both levels sit above 255: clipping to 8 bits instead of scaling would blank the code.
    levels = qr_image("https://suo.run/deep").convert("I")
    deep = levels.point(lambda value: 10_000 + value * 118)  # 10000 dark, ~40000 light

    assert texts_of(decode_qr_codes(encoded(deep.convert("I;16")))) == ["https://suo.run/deep"]


def test_oversized_file_is_refused_without_opening_it() -> None:
    with pytest.raises(UserError) as error:
        decode_qr_codes(b"\x89PNG" + b"\x00" * (20 * 1024 * 1024))
    assert_user_error(error, "image_too_large", limit_mb=20)


def test_limits_are_configurable() -> None:
    png = render_qr_png("https://suo.run/limits")

    with pytest.raises(UserError) as error:
        decode_qr_codes(png, max_bytes=100)
    assert error.value.code == "image_too_large"
    with pytest.raises(UserError) as error:
        decode_qr_codes(png, max_pixels=100)
    assert error.value.code == "image_too_many_pixels"


# --- the pyzbar fallback -----------------------------------------------------------------


def test_decoding_works_without_pyzbar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyzbar", None)
    monkeypatch.setitem(sys.modules, "pyzbar.pyzbar", None)
    zbar.zbar_decoder.cache_clear()
    try:
        assert not fallback_available()
        assert texts_of(decode_qr_codes(render_qr_png("no zbar"))) == ["no zbar"]
        assert decode_qr_codes(encoded(Image.new("L", (200, 200), 255))) == []
    finally:
        zbar.zbar_decoder.cache_clear()


@pytest.mark.parametrize(
    ("zbar_output", "trusted"),
    [
        (b"https://suo.run/ok", True),
        (b"MEBKM:URL:http\\://en.wikipedia.org;;", True),
        # GBK bytes that libzbar read as Big5: the Big5 text round-trips to bytes GBK reads too.
        ("快缩短网址".encode("gbk").decode("big5", errors="strict").encode(), False),
        # GBK bytes that libzbar read as Shift_JIS (half-width katakana come out).
        ("中文".encode("gbk").decode("shift_jis").encode(), False),
        # Correct UTF-8 Chinese is dropped too: the same bytes are valid GBK.
        ("中文".encode(), False),
        (b"\xff\xfe not utf-8", False),
    ],
    ids=["ascii-url", "ascii-bookmark", "gbk-as-big5", "gbk-as-sjis", "utf8-cjk", "invalid-utf8"],
)
def test_pyzbar_text_is_trusted_only_when_unambiguous(zbar_output: bytes, trusted: bool) -> None:
    text = zbar.trusted_zbar_text(zbar_output)

    assert (text is not None) is trusted
    if trusted:
        assert text == zbar_output.decode()


def test_pyzbar_fallback_reads_a_code_when_available() -> None:
    decode = zbar.zbar_decoder()
    if decode is None:
        pytest.skip("pyzbar or libzbar is not installed here")
    grey = qr_image("https://suo.run/zbar")

    assert [found.text for found in zbar.decode_with_zbar(grey, decode)] == [
        "https://suo.run/zbar"
    ]


@pytest.mark.parametrize(
    ("payload", "url"),
    [
        ("https://example.com/a", "https://example.com/a"),
        (
            "MEBKM:URL:http\\://en.wikipedia.org/wiki/Main_Page;;",
            "http://en.wikipedia.org/wiki/Main_Page",
        ),
        ("MEBKM:TITLE:a\\;b;URL:https\\://a.example/p?q=1\\;2;;", "https://a.example/p?q=1;2"),
        ("MEBKM:TITLE:no address;;", None),
        ("MEBKM:URL:javascript\\:alert(1);;", None),
        ("WIFI:T:WPA;S:x;P:https://not-a-link;;", None),
    ],
)
def test_url_in_payload(payload: str, url: str | None) -> None:
    assert url_in_payload(payload, classify_payload(payload)) == url
