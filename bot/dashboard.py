"""A group's web dashboard behind a signed, expiring link, and the `dashboard` chat command.

`DashboardLinks` signs and checks the tokens (HMAC-SHA256 with the server secret); the
redirector's `/dashboard/{token}` page (redirector/dashboard.py) shows what the token names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
from datetime import UTC, datetime, timedelta

from bot.clock import Clock, local_time
from bot.context import Context
from bot.errors import UserError
from bot.model import Period, Reply
from bot.stats import parse_period
from bot.storage import Store

log = logging.getLogger(__name__)

DEFAULT_VALIDITY = timedelta(days=7)
TOKEN_VERSION = 1
# Version and purpose are signed with the group and expiry: a token for something else signed
# with the same secret can never pass as a dashboard token, and a new format can coexist.
_PAYLOAD = re.compile(
    rb"(?P<version>[0-9]{1,3}):dashboard:(?P<group>[0-9]{1,18}):(?P<exp>[0-9]{1,12})"
)
_B64URL = re.compile(r"[A-Za-z0-9_-]{1,128}")
_MAX_TOKEN = 300  # well above a real token (~85 characters): longer is refused unread


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


class DashboardLinks:
    """Tokens `base64url(payload).base64url(HMAC-SHA256(secret, payload))` naming a group and
    an expiry; no secret, no tokens (neither made nor accepted)."""

    def __init__(
        self, secret: str, public_url: str, *, valid_for: timedelta = DEFAULT_VALIDITY
    ) -> None:
        self._key = secret.encode("utf-8")
        self.public_url = public_url.rstrip("/")
        self.valid_for = valid_for

    def __repr__(self) -> str:
        return f"DashboardLinks(public_url={self.public_url!r}, enabled={self.enabled})"

    @property
    def enabled(self) -> bool:
        return bool(self._key)

    def _signature(self, payload: bytes) -> str:
        return _b64encode(hmac.new(self._key, payload, hashlib.sha256).digest())

    def expires_at(self, now: datetime) -> int:
        """Epoch seconds when a token made at `now` stops working."""
        return int(now.timestamp() + self.valid_for.total_seconds())

    def sign(self, group_id: int, now: datetime) -> str:
        if not self.enabled:
            raise ValueError("dashboard links need server.secret (SUO_SECRET) to be set")
        if group_id < 0:
            raise ValueError("group ids are not negative")
        payload = f"{TOKEN_VERSION}:dashboard:{group_id}:{self.expires_at(now)}".encode("ascii")
        return f"{_b64encode(payload)}.{self._signature(payload)}"

    def verify(self, token: str, now: datetime) -> int | None:
        """The group id a genuine, unexpired token names; None for anything else."""
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
        if now.timestamp() >= int(fields["exp"]):
            return None
        return int(fields["group"])

    def url_for(self, group_id: int, now: datetime) -> str:
        return f"{self.public_url}/dashboard/{self.sign(group_id, now)}"


class DashboardReplies:
    def __init__(self, store: Store, links: DashboardLinks, clock: Clock) -> None:
        self._store = store
        self._links = links
        self._clock = clock

    async def dashboard_command(self, ctx: Context, args: str) -> list[Reply]:
        """Anyone in the group may ask: members see the same numbers `stats` tells them."""
        if not self._links.enabled:
            return [Reply(ctx.t("dashboard_no_secret"))]
        try:
            days = parse_period(args)
        except UserError:
            raise UserError("dashboard_usage", "dashboard_usage") from None
        now = self._clock()
        url = self._links.url_for(ctx.group.id, now)
        if days != 7:
            url += f"?days={days}"
        stats = await self._store.period_stats(ctx.group.id, Period.last_days(days, now), top=0)
        expires = datetime.fromtimestamp(self._links.expires_at(now), UTC)
        log.info(
            "dashboard link issued platform=%s chat=%s group=%d",
            ctx.message.platform,
            ctx.message.chat_id,
            ctx.group.id,
        )
        text = ctx.t(
            "dashboard_link",
            url=url,
            days=days,
            human=stats.human,
            readers=stats.unique_readers,
            expires=local_time(expires, ctx.group.tz),
        )
        return [Reply(text)]
