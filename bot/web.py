"""The web page as a member of a group: signed, expiring `/?g=` links and the `web` chat command.

`WebLinks` signs and checks the tokens (HMAC-SHA256 with the server secret); the redirector's
page (redirector/web.py) makes links in the token's group, under that group's rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.clock import Clock, local_time
from bot.commands import Commands, Router, Words, command, helps
from bot.context import Context
from bot.model import Reply
from bot.tokens import SignedTokens

log = logging.getLogger(__name__)

DEFAULT_VALIDITY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class WebPass:
    """What a genuine web token vouches for: a member of a group, until `expires_at` (epoch
    seconds). Never an admin: the link is posted where the whole chat can copy it."""

    group_id: int
    member_id: int
    expires_at: int


class WebLinks:
    """Signed links to the web page for a member of a group (`bot.tokens`); a dashboard
    token never passes for one. No secret, no tokens (neither made nor accepted)."""

    def __init__(
        self, secret: str, public_url: str, *, valid_for: timedelta = DEFAULT_VALIDITY
    ) -> None:
        self._tokens = SignedTokens(secret, "web", 2, valid_for)
        self.public_url = public_url.rstrip("/")

    def __repr__(self) -> str:
        return f"WebLinks(public_url={self.public_url!r}, enabled={self.enabled})"

    @property
    def enabled(self) -> bool:
        return self._tokens.enabled

    def expires_at(self, now: datetime) -> int:
        return self._tokens.expires_at(now)

    def sign(self, group_id: int, member_id: int, now: datetime) -> str:
        return self._tokens.sign([group_id, member_id], now)

    def verify(self, token: str, now: datetime) -> WebPass | None:
        """What a genuine, unexpired token names; None for anything else."""
        verified = self._tokens.verify(token, now)
        if verified is None:
            return None
        (group_id, member_id), expires_at = verified
        return WebPass(group_id, member_id, expires_at)

    def url_for(self, group_id: int, member_id: int, now: datetime) -> str:
        return f"{self.public_url}/?g={self.sign(group_id, member_id, now)}"


class WebReplies(Commands):
    """`web`: a link to the web page that makes this group's links as the member who asked."""

    def __init__(self, links: WebLinks, clock: Clock, *, page_enabled: bool = True) -> None:
        self._links = links
        self._clock = clock
        self._page_enabled = page_enabled

    def router(self) -> Router:
        # /web always answers (saying when the page is off); help and menus list it only
        # where the page is on.
        return Router.of(self, listed=self._page_enabled)

    @command("web", "网页", menu=Words("网页版", "the web page"))
    @helps(
        "/web 在网页上为本群生成短链接、识别二维码",
        "/web make this group's links and read QR photos on a web page",
    )
    async def web_command(self, ctx: Context, args: str) -> list[Reply]:
        if not self._page_enabled:
            return [Reply(ctx.t("web_disabled"))]
        if not self._links.enabled:
            return [Reply(ctx.t("web_no_secret"))]
        now = self._clock()
        # The reply is seen by the whole chat and the link can be copied: it grants a member's
        # rights only, never an admin's (admins set one link's rules with /short in chat).
        url = self._links.url_for(ctx.group.id, ctx.sharer_id, now)
        expires = datetime.fromtimestamp(self._links.expires_at(now), UTC)
        log.info(
            "web link issued platform=%s chat=%s group=%d",
            ctx.message.platform,
            ctx.message.chat_id,
            ctx.group.id,
        )
        return [Reply(ctx.t("web_link", url=url, expires=local_time(expires, ctx.group.tz)))]
