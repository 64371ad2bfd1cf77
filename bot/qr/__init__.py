"""QR codes in and out: decode every code in a member's photo, render a PNG for a short link.

`render` draws a code; `decode` reads them (`image` opens untrusted bytes within limits,
`dewarp` flattens codes printed on curved material, `zbar` is the optional fallback reader);
`payload` says what a code holds. Both directions are CPU-bound and synchronous; callers run
them in `asyncio.to_thread`.
"""

from bot.qr.decode import (
    MAX_CONCURRENT_DECODES,
    decode_greyscale,
    decode_qr_codes,
    fallback_available,
)
from bot.qr.image import MAX_ASPECT, MAX_SIDE, load_greyscale
from bot.qr.payload import DecodedCode, classify_payload, url_in_payload
from bot.qr.render import render_qr_png

__all__ = [
    "MAX_ASPECT",
    "MAX_CONCURRENT_DECODES",
    "MAX_SIDE",
    "DecodedCode",
    "classify_payload",
    "decode_greyscale",
    "decode_qr_codes",
    "fallback_available",
    "load_greyscale",
    "render_qr_png",
    "url_in_payload",
]
