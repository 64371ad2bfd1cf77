"""The web page as a member of a group: signed, expiring `/?g=` links and the `web` chat command.

`WebLinks` signs and checks the tokens (HMAC-SHA256 with the server secret); the redirector's
page (redirector/web.py) makes links in the token's group, under that group's rules.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.clock import Clock, local_time
from bot.context import Context
from bot.model import Reply

log = logging.getLogger(__name__)

DEFAULT_VALIDITY = timedelta(days=1)
TOKEN_VERSION = 1
# Version and purpose are signed with the rest: a dashboard token (same secret, same form) can
# never pass as a web token, nor the other way round.
_PAYLOAD = re.compile(
    rb"(?P<version>[0-9]{1,3}):web:(?P<group>[0-9]{1,18}):(?P<member>[0-9]{1,18})"
    rb":(?P<admin>[01]):(?P<exp>[0-9]{1,12})"
)
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
    return data if _b64encode(data) == text else None


@dataclass(frozen=True, slots=True)
class WebPass:
    """What a genuine web token vouches for: a member of a group, admin or not when it was
    issued, until `expires_at` (epoch seconds)."""

    group_id: int
    member_id: int
    is_admin: bool
    expires_at: int


class WebLinks:
    """Tokens `base64url(payload).base64url(HMAC-SHA256(secret, payload))`; no secret, no
    tokens (neither made nor accepted)."""

    def __init__(
        self, secret: str, public_url: str, *, valid_for: timedelta = DEFAULT_VALIDITY
    ) -> None:
        self._key = secret.encode("utf-8")
        self.public_url = public_url.rstrip("/")
        self.valid_for = valid_for

    def __repr__(self) -> str:
        return f"WebLinks(public_url={self.public_url!r}, enabled={self.enabled})"

    @property
    def enabled(self) -> bool:
        return bool(self._key)

    def _signature(self, payload: bytes) -> str:
        return _b64encode(hmac.new(self._key, payload, hashlib.sha256).digest())

    def expires_at(self, now: datetime) -> int:
        return int(now.timestamp() + self.valid_for.total_seconds())

    def sign(self, group_id: int, member_id: int, is_admin: bool, now: datetime) -> str:
        if not self.enabled:
            raise ValueError("web links need server.secret (SUO_SECRET) to be set")
        if group_id < 0 or member_id < 0:
            raise ValueError("group and member ids are not negative")
        payload = (
            f"{TOKEN_VERSION}:web:{group_id}:{member_id}:{int(is_admin)}:{self.expires_at(now)}"
        ).encode("ascii")
        return f"{_b64encode(payload)}.{self._signature(payload)}"

    def verify(self, token: str, now: datetime) -> WebPass | None:
        """What a genuine, unexpired token names; None for anything else."""
        if not self.enabled or len(token) > _MAX_TOKEN:
            return None
        encoded, dot, signature = token.partition(".")
        payload = _b64decode(encoded) if dot else None
        if payload is None or _B64URL.fullmatch(signature) is None:
            return None
        # The signature is checked before anything in the payload is believed.
        if not hmac.compare_digest(self._signature(payload), signature):
            return None
        fields = _PAYLOAD.fullmatch(payload)
        if fields is None or int(fields["version"]) != TOKEN_VERSION:
            return None
        expires_at = int(fields["exp"])
        if now.timestamp() >= expires_at:
            return None
        return WebPass(
            int(fields["group"]), int(fields["member"]), fields["admin"] == b"1", expires_at
        )

    def url_for(self, group_id: int, member_id: int, is_admin: bool, now: datetime) -> str:
        return f"{self.public_url}/?g={self.sign(group_id, member_id, is_admin, now)}"


class WebReplies:
    """`web`: a link to the web page that makes this group's links as the member who asked."""

    def __init__(self, links: WebLinks, clock: Clock, *, page_enabled: bool = True) -> None:
        self._links = links
        self._clock = clock
        self._page_enabled = page_enabled

    async def web_command(self, ctx: Context, args: str) -> list[Reply]:
        if not self._page_enabled:
            return [Reply(ctx.t("web_disabled"))]
        if not self._links.enabled:
            return [Reply(ctx.t("web_no_secret"))]
        now = self._clock()
        # The reply is seen by the whole chat and the link can be copied: it grants a member's
        # rights only, never an admin's (admins set one link's rules with /short in chat).
        url = self._links.url_for(ctx.group.id, ctx.sharer_id, False, now)
        expires = datetime.fromtimestamp(self._links.expires_at(now), UTC)
        log.info(
            "web link issued platform=%s chat=%s group=%d admin=%s",
            ctx.message.platform,
            ctx.message.chat_id,
            ctx.group.id,
            ctx.is_admin,
        )
        return [Reply(ctx.t("web_link", url=url, expires=local_time(expires, ctx.group.tz)))]
