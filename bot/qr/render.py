"""Drawing a QR code: the PNG a short link (or `/qr` text) is sent with."""

from __future__ import annotations

import io

import qrcode
from qrcode.image.pil import PilImage


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
