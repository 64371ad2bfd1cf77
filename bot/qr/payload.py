"""What a decoded QR code holds: its kind (URL, Wi-Fi, vCard, payment...) and the web address,
if any, that the bot may shorten."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.purposes import Purpose, url_purpose

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
