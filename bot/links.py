"""Shortening: turn a URL posted in a group into that group's short link (and the `short`
and `qr` commands that ask for one). `Shortener` is the one gate (validation, risks, creation
limits) for chat, QR photos, 活码 targets and the web page.

The same URL in the same group keeps one code so its clicks add up; our own short links
are recognised and never shortened again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import SplitResult, urlsplit

from bot.admission import Risk, assess, risk_label
from bot.clock import Clock
from bot.commands import Commands, Words, command, helps
from bot.config import LinksConfig
from bot.context import Context
from bot.errors import UserError
from bot.limits import CreationLimiter
from bot.model import Group, Link, LinkRules, Reply, ReplyImage
from bot.purposes import Purpose, url_purpose
from bot.qr import render_qr_png
from bot.settings import LinkOptions, describe_rules, parse_link_options
from bot.storage import CodeTaken, Links
from bot.urls import host_of, link_in_argument, location_header, normalize_url

log = logging.getLogger(__name__)

CODE_ALPHABET = string.ascii_letters + string.digits
_CODE_PATH = re.compile(r"/([A-Za-z0-9]{4,32})(?:\+|\.png)?/?")
_MAX_CODE_DRAWS = 8
_MAX_QR_TEXT = 1000
_SECRET_WEBHOOK = re.compile(r"/cgi-bin/webhook/send\?(?:.*&)?key=", re.IGNORECASE)


_DEFAULT_PORTS = (80, 443)
_SLASHES = re.compile(r"/{2,}")


def _origin(parts: SplitResult) -> tuple[str, int]:
    """(host, port) as a browser connects: lower-case, no trailing dot, default ports filled."""
    host = (parts.hostname or "").rstrip(".")
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return host, port


@dataclass(frozen=True, slots=True)
class ShortLink:
    link: Link
    short_url: str
    reused: bool
    risks: tuple[Risk, ...] = ()


def new_code(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


class Shortener:
    def __init__(
        self,
        store: Links,
        config: LinksConfig,
        public_url: str,
        clock: Clock,
        *,
        on_rules_changed: Callable[[str | None], None] = lambda code: None,
    ) -> None:
        self._store = store
        self._config = config
        self._public_url = public_url.rstrip("/")
        self._public = urlsplit(self._public_url)
        self._clock = clock
        self._on_rules_changed = on_rules_changed
        self._limiter = CreationLimiter(
            clock,
            per_member=config.member_limit,
            per_group=config.group_limit,
            window=timedelta(seconds=config.limit_window_seconds),
        )

    def blocked_domains(self, group: Group) -> tuple[str, ...]:
        return (*self._config.blocked_domains, *group.settings.blocked)

    @property
    def max_url_length(self) -> int:
        return self._config.max_url_length

    def short_url(self, code: str) -> str:
        return f"{self._public_url}/{code}"

    def is_own_short_link(self, url: str) -> bool:
        """True for a link to one of our codes, however it is spelled: http or https, with
        or without the default port, a trailing dot on the host, doubled slashes."""
        try:
            parts = urlsplit(url)
            host, port = _origin(parts)
        except ValueError:
            return False
        public_host, public_port = _origin(self._public)
        same_port = port == public_port or (
            port in _DEFAULT_PORTS and public_port in _DEFAULT_PORTS
        )
        if host != public_host or not same_port:
            return False
        base_path = _SLASHES.sub("/", self._public.path).rstrip("/")
        path = _SLASHES.sub("/", parts.path)
        if not path.startswith(base_path):
            return False
        return _CODE_PATH.fullmatch(path[len(base_path) :]) is not None

    def admit(
        self, group: Group, raw_url: str, *, admin_request: bool = False
    ) -> tuple[str, tuple[Risk, ...]]:
        """The URL as it will be stored and its risk labels, or the UserError saying why the
        group may not point a link at it. One gate for short links and 活码 targets alike."""
        url = normalize_url(raw_url, max_length=self._config.max_url_length)
        if url_purpose(url) is Purpose.PAYMENT and not admin_request:
            raise UserError("url_payment", "url_payment")
        try:
            location_header(url)  # what the redirect will send: refuse now what it can't
        except ValueError as e:
            raise UserError("url_invalid", "url_invalid") from e
        if self.is_own_short_link(url):
            raise UserError("already_short", "already_short", url=url)
        if _SECRET_WEBHOOK.search(url):
            # A group robot's URL carries its key: shortening would publish the secret.
            raise UserError("url_secret", "url_secret")
        refused, found = assess(url, self.blocked_domains(group))
        if refused is not None:
            raise refused
        return url, found

    async def shorten_in_group(
        self,
        group: Group,
        sharer_id: int | None,
        raw_url: str,
        options: LinkOptions | None = None,
        *,
        admin_request: bool = False,
        member_key: object = None,
        rules_on_existing: bool = True,
    ) -> ShortLink:
        """The group's short link for `raw_url`, created on first use.

        `options` (admins only, checked by the caller) set the link's own rules, also on a
        link the group already has. Creating counts against the member's and the group's
        rate limits; reusing does not. Payment codes are shortened only on an admin's
        explicit request (`admin_request`, checked by the caller). `member_key` stands for
        the sharer in the member's rate limit when there is no sharer (the web page's reader
        address). `rules_on_existing=False` refuses `options` for a link that already exists.
        """
        url, found = self.admit(group, raw_url, admin_request=admin_request)
        now = self._clock()
        # Reading first spares a reuse the rate limit; the store's create_link then decides
        # reuse-or-create in one transaction, so a race between two shortenings of the same
        # URL ends in one code either way.
        existing = await self._store.link_for_url(group.id, url)
        if existing is None:
            member = sharer_id if sharer_id is not None or member_key is None else member_key
            link, created = await self._create(group, member, sharer_id, url, options, now)
            if created:
                return ShortLink(link, self.short_url(link.code), False, found)
            existing = link  # another message shortened it first: reuse it like any other
        link = await self._reuse(existing, group, options, now, rules_on_existing)
        return ShortLink(link, self.short_url(link.code), True, found)

    async def _reuse(
        self,
        existing: Link,
        group: Group,
        options: LinkOptions | None,
        now: datetime,
        rules_on_existing: bool,
    ) -> Link:
        """The group's existing link for a URL shared again, its rules brought up to date."""
        if existing.disabled:
            # Removed by an admin: sharing it again must not bring it back.
            raise UserError("link_removed", "link_removed", url=existing.url)
        expires_at = existing.rules.expires_at
        if expires_at is not None and expires_at <= now and not (options and options.set):
            # Posted again after it expired: the link lives again for the group's period.
            seconds = group.settings.expiry_seconds
            renewed = None if seconds is None else now + timedelta(seconds=seconds)
            existing = replace(existing, rules=replace(existing.rules, expires_at=renewed))
            await self._store.set_link_rules(existing.code, existing.rules)
            self._on_rules_changed(existing.code)
        if options is not None and options.set and not rules_on_existing:
            # Someone else's link (the web page's readers share one group): its rules
            # are not a stranger's to change.
            raise UserError(
                "rules_existing_link",
                "rules_existing_link",
                short=self.short_url(existing.code),
            )
        if options is not None and options.set:
            rules = options.apply(existing.rules, now)
            await self._store.set_link_rules(existing.code, rules)
            existing = replace(existing, rules=rules)
            self._on_rules_changed(existing.code)
        return existing

    async def _create(
        self,
        group: Group,
        member: object,
        sharer_id: int | None,
        url: str,
        options: LinkOptions | None,
        now: datetime,
    ) -> tuple[Link, bool]:
        """A new link under a fresh code (within the rate limits), or the one another
        shortening of `url` stored first: (link, created)."""
        limited = self._limiter.check(group.id, (group.id, member))
        if limited is not None:
            raise limited.as_user_error()
        rules = LinkRules()
        if group.settings.expiry_seconds is not None:
            rules = replace(
                rules, expires_at=now + timedelta(seconds=group.settings.expiry_seconds)
            )
        if options is not None:
            rules = options.apply(rules, now)
        for _ in range(_MAX_CODE_DRAWS):
            code = new_code(self._config.code_length)
            try:
                link, created = await self._store.create_link(
                    code, url, group.id, sharer_id, now, rules
                )
            except CodeTaken:
                log.info("code collision, drawing again (group=%s)", group.id)
                continue
            if created:
                log.info(
                    "link created platform=%s chat=%s code=%s",
                    group.platform,
                    group.chat_id,
                    link.code,
                )
            return link, created
        raise RuntimeError(f"no free code after {_MAX_CODE_DRAWS} draws; raise code_length")


async def short_link_image(short: ShortLink) -> ReplyImage:
    png = await asyncio.to_thread(render_qr_png, short.short_url)
    return ReplyImage(png=png, filename=f"{short.link.code}.png", alt=short.short_url)


class LinkReplies(Commands):
    """The links feature in chat: `/short <url>` and auto-shortening of posted links."""

    def __init__(self, shortener: Shortener) -> None:
        self._shortener = shortener

    async def reply_to_urls(
        self,
        ctx: Context,
        urls: list[str],
        *,
        explicit: bool,
        options: LinkOptions | None = None,
        written: Mapping[str, str] | None = None,
    ) -> list[Reply]:
        """One reply listing a short link per URL, with one QR image each.

        When auto-shortening (`explicit=False`), our own short links pass silently, and
        nothing happens in a group that turned auto-shortening off. `written` maps a URL to
        what the member wrote for it (default: the message's text at the URL's position);
        where the two differ, the reply says which link was shortened.
        """
        if not explicit and not ctx.group.settings.auto_shorten:
            return []
        if written is None:
            message = ctx.message.text
            written = {f.url: message[f.start : f.end] for f in ctx.message.urls}
        lines: list[str] = []
        images: list[ReplyImage] = []
        admin_request = explicit and await ctx.is_admin()
        for url in dict.fromkeys(urls):
            try:
                short = await self._shortener.shorten_in_group(
                    ctx.group, ctx.sharer_id, url, options, admin_request=admin_request
                )
            except UserError as e:
                if explicit or e.code != "already_short":
                    lines.append(ctx.t(e.message_key, **e.params))
                continue
            key = "shortened_reused" if short.reused else "shortened"
            text = ctx.t(key, short=short.short_url, url=short.link.url)
            as_written = written.get(url, url)
            # Only where the member wrote this link differently; link text that hides a URL
            # ("点这里" on Telegram) names no host and needs no note.
            if as_written != url and host_of(url).lower() in as_written.lower():
                text += "\n" + ctx.t("shortened_from", written=_clip(as_written))
            for extra in (
                risk_label(short.risks, ctx.lang),
                describe_rules(short.link, ctx.group, ctx.lang),
            ):
                if extra:
                    text += "\n" + extra
            lines.append(text)
            images.append(await short_link_image(short))
        if not lines:
            return []
        return [Reply(text="\n\n".join(lines), images=tuple(images))]

    @command("short", "s", "短链", menu=Words("缩短链接", "shorten a link"))
    @helps("/short <网址> 生成短链接", "/short <url> make a short link")
    @helps(
        "/short <网址> 平台=微信,手机 有效期=7天 次数=100 （管理员：单个链接的规则）",
        "/short <url> platforms=wechat,mobile expires=7d max=100 (admins: one link's rules)",
    )
    async def short_command(self, ctx: Context, args: str) -> list[Reply]:
        """`/short <url>`: each link the member wrote is shortened whole, as written.

        Only punctuation around a link is left out and a bare domain gets https://; the reply
        says so. A link the chat linkifier would cut (a bad host, text glued to it) is not cut
        here: it is validated as written and refused if it is not a link.
        """
        args, options = parse_link_options(args)
        if options.set and not await ctx.is_admin():
            raise UserError("rules_admin_only", "rules_admin_only")
        written: dict[str, str] = {}
        for word in args.split():
            link = link_in_argument(word)
            if link is not None:
                written.setdefault(link, word)
        if not written:
            raise UserError("short_usage", "short_usage")
        return await self.reply_to_urls(
            ctx, list(written), explicit=True, options=options, written=written
        )

    @command("qr", "二维码", menu=Words("生成二维码", "make a QR code"))
    @helps("/qr <文字或网址> 生成二维码", "/qr <text or url> make a QR code")
    async def qr_command(self, ctx: Context, args: str) -> list[Reply]:
        """`/qr <url>` gives the short link's QR; `/qr <text>` a QR of the text itself."""
        if not args:
            raise UserError("qr_usage", "qr_usage")
        links = (link_in_argument(word) for word in args.split())
        if any(link and link.lower().startswith(("http://", "https://")) for link in links):
            return await self.short_command(ctx, args)
        if len(args) > _MAX_QR_TEXT:
            raise UserError("qr_text_too_long", "qr_text_too_long", limit=_MAX_QR_TEXT)
        png = await asyncio.to_thread(render_qr_png, args)
        image = ReplyImage(png=png, filename="qr.png", alt=args[:100])
        return [Reply(ctx.t("qr_made", text=args), images=(image,))]


def _clip(written: str, limit: int = 80) -> str:
    """What the member wrote, short enough for a reply line."""
    return written if len(written) <= limit else written[: limit - 1] + "…"
