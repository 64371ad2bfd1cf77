"""Signed, expiring tokens for links the bot hands out (dashboards, the web page).

`base64url(payload).base64url(HMAC-SHA256(secret, payload))`, payload
`{version}:{purpose}:{field}:...:{expiry}` with whole-number fields; no secret, no tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

TOKEN_VERSION = 1
_B64URL = re.compile(r"[A-Za-z0-9_-]{1,128}")
_MAX_TOKEN = 300  # well above a real token (~100 characters): longer is refused unread


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Only the canonical unpadded base64url form of some bytes, else None."""
    if _B64URL.fullmatch(text) is None:
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    # Unused trailing bits could spell the same bytes another way; only one spelling is valid.
    return data if _b64encode(data) == text else None


class SignedTokens:
    """Tokens for one `purpose` carrying `fields` non-negative numbers. Version and purpose are
    signed with the rest: a token made for one purpose (same secret, same form) never passes
    for another, and a new format can coexist with this one."""

    def __init__(self, secret: str, purpose: str, fields: int, valid_for: timedelta) -> None:
        self._key = secret.encode("utf-8")
        self._purpose = purpose
        self.valid_for = valid_for
        numbers = b":".join([rb"([0-9]{1,18})"] * fields)
        self._payload = re.compile(
            rb"([0-9]{1,3}):" + re.escape(purpose.encode()) + rb":" + numbers + rb":([0-9]{1,12})"
        )

    @property
    def enabled(self) -> bool:
        return bool(self._key)

    def expires_at(self, now: datetime) -> int:
        """Epoch seconds when a token made at `now` stops working."""
        return int(now.timestamp() + self.valid_for.total_seconds())

    def _signature(self, payload: bytes) -> str:
        return _b64encode(hmac.new(self._key, payload, hashlib.sha256).digest())

    def sign(self, fields: Sequence[int], now: datetime) -> str:
        if not self.enabled:
            raise ValueError(f"{self._purpose} links need server.secret (SUO_SECRET) to be set")
        if any(f < 0 for f in fields):
            raise ValueError("token fields are not negative")
        parts = [str(TOKEN_VERSION), self._purpose, *map(str, fields), str(self.expires_at(now))]
        payload = ":".join(parts).encode("ascii")
        return f"{_b64encode(payload)}.{self._signature(payload)}"

    def verify(self, token: str, now: datetime) -> tuple[list[int], int] | None:
        """(fields, expiry) of a genuine, unexpired token; None for anything else."""
        if not self.enabled or len(token) > _MAX_TOKEN:
            return None
        encoded, dot, signature = token.partition(".")
        payload = _b64decode(encoded) if dot else None
        if payload is None or _B64URL.fullmatch(signature) is None:
            return None
        # The signature is checked before anything in the payload is believed.
        if not hmac.compare_digest(self._signature(payload), signature):
            return None
        found = self._payload.fullmatch(payload)
        if found is None or int(found[1]) != TOKEN_VERSION:
            return None
        *fields, expires_at = (int(g) for g in found.groups()[1:])
        if now.timestamp() >= expires_at:
            return None
        return fields, expires_at
