"""A group's web dashboard behind a signed, expiring link, and the `dashboard` chat command.

`DashboardLinks` signs and checks the tokens (HMAC-SHA256 with the server secret); the
redirector's `/dashboard/{token}` page (redirector/dashboard.py) shows what the token names.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from bot.clock import Clock, local_time
from bot.commands import Commands, Words, command, helps
from bot.context import Context
from bot.errors import UserError
from bot.model import Period, Reply
from bot.stats import parse_period
from bot.storage import StatsReader
from bot.tokens import SignedTokens

log = logging.getLogger(__name__)

DEFAULT_VALIDITY = timedelta(days=7)


class DashboardLinks:
    """Signed links naming a group, valid for `valid_for` (`bot.tokens`); no secret, no
    tokens (neither made nor accepted)."""

    def __init__(
        self, secret: str, public_url: str, *, valid_for: timedelta = DEFAULT_VALIDITY
    ) -> None:
        self._tokens = SignedTokens(secret, "dashboard", 1, valid_for)
        self.public_url = public_url.rstrip("/")

    def __repr__(self) -> str:
        return f"DashboardLinks(public_url={self.public_url!r}, enabled={self.enabled})"

    @property
    def enabled(self) -> bool:
        return self._tokens.enabled

    def expires_at(self, now: datetime) -> int:
        """Epoch seconds when a token made at `now` stops working."""
        return self._tokens.expires_at(now)

    def sign(self, group_id: int, now: datetime) -> str:
        return self._tokens.sign([group_id], now)

    def verify(self, token: str, now: datetime) -> int | None:
        """The group id a genuine, unexpired token names; None for anything else."""
        verified = self._tokens.verify(token, now)
        return None if verified is None else verified[0][0]

    def url_for(self, group_id: int, now: datetime) -> str:
        return f"{self.public_url}/dashboard/{self.sign(group_id, now)}"


class DashboardReplies(Commands):
    def __init__(self, store: StatsReader, links: DashboardLinks, clock: Clock) -> None:
        self._store = store
        self._links = links
        self._clock = clock

    @command("dashboard", "看板", menu=Words("群看板", "group dashboard"))
    @helps("/dashboard 本群的网页看板", "/dashboard the group's web dashboard")
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
