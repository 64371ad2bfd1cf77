"""The redirector's aiohttp application: `GET /{code}` -> 302 (or the page its rules call for),
`/{code}+` info, `/{code}.png` QR (`/healthz` and `/metrics`: `redirector.metrics`).

The redirect path is a cache lookup and a queue append, answered before aiohttp's router once
the link is cached (`install_fast_path`); storage work happens in the `ClickRecorder`, whose
life is tied to the app's startup and cleanup, as is the link change feed that keeps the cache
honest across processes (`redirector.link_cache`). A link with rules or an opens limit, and a 活码,
needs the reader's class before answering; for the others the recorder's flush classifies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from typing import NamedTuple

from aiohttp import hdrs, web

from bot.clock import Clock, epoch_seconds, utc_now
from bot.live import is_wechat_group_qr
from bot.model import ClickClass, GroupSettings
from bot.policy import LinkPolicy, Outcome, decide, effective_policy, status
from bot.qr import render_qr_png
from bot.storage import Redirects
from bot.urls import location_header
from redirector.classify import classify_user_agent, device_os
from redirector.clicks import ClickRecorder
from redirector.client_ip import ClientAddress
from redirector.link_cache import (
    POLL_SECONDS,
    LinkCache,
    OpenBlocks,
    follow_link_changes,
    put_newest,
)
from redirector.pages import (
    render_closed,
    render_guide,
    render_info,
    render_live_qr,
    render_page,
    render_platform_page,
)

log = logging.getLogger(__name__)

CODE_PATTERN = "[A-Za-z0-9]{1,32}"
_NO_STORE = "private, max-age=0"
# The change feed forgets changed links within a second; the age limit is the backstop.
_CACHE_SECONDS = 30.0
_LIVE_QR_CACHE_MAX = 256
_GROUPS_MAX = 10_000


class CachedLink(NamedTuple):
    """A looked-up link as the redirect path needs it; expiry is checked per request.

    A NamedTuple, not a frozen dataclass, for the reason `redirector.clicks.Visit` is one: one
    is built on every cache miss (random codes over a million links miss on most requests),
    and the dataclass's __init__ (a setattr per field, and a factory) cost 3.2 µs, this 0.8.
    """

    url: str
    fetched_at: float
    headers: dict[str, str]  # the 302's headers, built once per lookup
    policy: LinkPolicy | None  # None: no rule applies, everyone gets the 302
    # Answerable without awaiting the store: every link but those with max_clicks.
    answers_inline: bool
    # decide() apart from the clock, per (class, platform) as classify_user_agent returns it:
    # a rules check on the hot path is then one dict lookup. Each entry its own dict.
    outcomes: dict[tuple[ClickClass, str], Outcome]
    live: bool = False  # a 活码: the store picks the target per request (`_answer_live`)


class RedirectHandlers:
    def __init__(
        self,
        store: Redirects,
        recorder: ClickRecorder,
        public_url: str,
        client_address: ClientAddress,
        clock: Clock,
        on_live_pool_empty: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self.recorder = recorder
        self._public_url = public_url.rstrip("/")
        self.client_address = client_address
        self._now = epoch_seconds(clock)
        self.cache: LinkCache[CachedLink] = LinkCache()
        self.opens = OpenBlocks(store)
        # id -> (rules, fetched at), the least recently read dropped first, as links are
        self._groups: OrderedDict[int, tuple[GroupSettings, float]] = OrderedDict()
        self._clock = clock
        self._on_live_pool_empty = on_live_pool_empty
        self._live_qr: dict[str, str] = {}  # target URL -> its QR as a data: URI
        # Read by /metrics (redirector.metrics); plain ints cost the redirect path least.
        self.redirects = 0
        self.not_found = 0

    async def _lookup(self, code: str) -> CachedLink | None:
        """The link for `code`, cached briefly; a stale entry keeps serving if the store fails."""
        cached = self.cache.get(code)
        now = time.monotonic()
        if cached is not None and now - cached.fetched_at < _CACHE_SECONDS:
            return cached
        if cached is None and self.cache.is_missing(code, now):
            return None
        try:
            link = await self._store.get_link(code)
        except Exception:
            if cached is not None:
                log.warning("store unavailable, serving cached link code=%s", code)
                return cached
            raise
        if link is None:
            self.cache.mark_missing(code, now)
            return None
        settings = await self._group_settings(link.group_id, now)
        policy = effective_policy(link, settings)
        live = link.kind == "live"
        if live:
            # A live code's poster is made to be scanned inside chat apps (a WeChat group QR
            # can only be joined there): the open-in-your-browser guide would send readers away.
            policy = replace(policy, anti_red=frozenset())
        headers = {"Location": location_header(link.url), "Cache-Control": _NO_STORE}
        entry = CachedLink(
            link.url,
            now,
            headers,
            None if policy.is_open else policy,
            answers_inline=policy.max_clicks is None and not live,
            outcomes={},
            live=live,
        )
        self.cache.put(code, entry)
        return entry

    async def _group_settings(self, group_id: int, now: float) -> GroupSettings:
        """A group's rules, kept as long as links are: a miss then reads one row, not two."""
        known = self._groups.get(group_id)
        if known is not None and now - known[1] < _CACHE_SECONDS:
            return known[0]
        group = await self._store.get_group(group_id)
        settings = group.settings if group else GroupSettings()
        put_newest(self._groups, group_id, (settings, now), _GROUPS_MAX)
        return settings

    def forget(self, code: str | None) -> None:
        """`code` changed (None: any may have): look it up again, and give back its opens.
        Group rules are read again too: a group's rule change arrives as its links' codes."""
        self.cache.forget(code)
        self.opens.forget(code)
        self._groups.clear()

    def short_url(self, code: str) -> str:
        return f"{self._public_url}/{code}"

    @staticmethod
    def _html(status: int, html: str) -> web.Response:
        return web.Response(
            status=status,
            text=html,
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )

    def _page(self, request: web.BaseRequest, status: int, key: str) -> web.Response:
        return self._html(status, _message_page(key, request.headers.get("Accept-Language", "")))

    async def _known_link(self, request: web.BaseRequest, code: str) -> CachedLink | web.Response:
        """The link for `code`, or the page to show instead (unavailable, not found)."""
        try:
            entry = await self._lookup(code)
        except Exception:
            log.exception("link lookup failed code=%s", code)
            return self._page(request, 503, "unavailable")
        if entry is None:
            self.not_found += 1
            return self._page(request, 404, "not_found")
        return entry

    async def redirect(self, request: web.Request) -> web.StreamResponse:
        return await self.open_code(request, request.match_info["code"])

    async def open_code(self, request: web.BaseRequest, code: str) -> web.Response:
        """GET/HEAD /{code}: the 302, or the page the link's state and rules call for."""
        entry = await self._known_link(request, code)
        if isinstance(entry, web.Response):
            return entry
        if entry.live:
            return await self._answer_live(request, code, entry)
        policy = entry.policy
        if policy is not None and policy.max_clicks is not None:
            return await self._answer_limited(request, code, entry, policy, policy.max_clicks)
        return self.answer(request, code, entry)

    def answer(self, request: web.BaseRequest, code: str, entry: CachedLink) -> web.Response:
        """The answer for a link without an opens limit: the 302 or the page its rules call
        for."""
        user_agent = request.headers.get(hdrs.USER_AGENT, "")
        policy = entry.policy
        kind: tuple[ClickClass, str] | None = None  # a link without rules: the flush classifies
        if policy is not None:
            kind = classify_user_agent(user_agent)
            klass, platform = kind
            now = self._now()
            outcome: Outcome | None
            if policy.expires_at is not None and now >= policy.expires_at:
                outcome = decide(policy, klass, platform, now, 0)
            else:
                outcome = entry.outcomes.get(kind)
                if outcome is None:
                    # Not expired, and no max_clicks on this path: time and opens don't matter.
                    outcome = entry.outcomes[kind] = decide(policy, klass, platform, -math.inf, 0)
            if outcome is not Outcome.REDIRECT:
                return self._outcome_page(request, code, entry, policy, outcome, platform)
        return self._redirect(request, code, entry, kind, user_agent)

    async def _answer_limited(
        self,
        request: web.BaseRequest,
        code: str,
        entry: CachedLink,
        policy: LinkPolicy,
        max_clicks: int,
    ) -> web.Response:
        """A link with max_clicks: the store has the last word on whether opens are left."""
        user_agent = request.headers.get(hdrs.USER_AGENT, "")
        kind = classify_user_agent(user_agent)
        klass, platform = kind
        outcome = decide(policy, klass, platform, self._now(), 0)
        if outcome is Outcome.REDIRECT:
            outcome = await self._within_max(code, max_clicks, request.method == "GET", klass)
        if outcome is not Outcome.REDIRECT:
            return self._outcome_page(request, code, entry, policy, outcome, platform)
        return self._redirect(request, code, entry, kind, user_agent)

    def _redirect(
        self,
        request: web.BaseRequest,
        code: str,
        entry: CachedLink,
        kind: tuple[ClickClass, str] | None,
        user_agent: str,
    ) -> web.Response:
        """The 302, recording the click (HEAD is answered, never counted)."""
        self._record(request, code, kind, user_agent)
        self.redirects += 1
        return web.Response(status=302, headers=entry.headers)

    def _record(
        self,
        request: web.BaseRequest,
        code: str,
        kind: tuple[ClickClass, str] | None,
        user_agent: str,
    ) -> None:
        """Record the click a GET makes (HEAD is answered, never counted)."""
        if request.method == "GET":
            self.recorder.record(
                code,
                kind,
                user_agent,
                self.client_address.of(request),
                request.headers.get(hdrs.REFERER, ""),
            )

    async def _within_max(
        self, code: str, max_clicks: int, counted: bool, klass: ClickClass
    ) -> Outcome:
        """A person's GET takes one of the link's opens (from a block this process reserved
        in the store, see `OpenBlocks`); previews, bots and HEAD only look."""
        try:
            if counted and klass is ClickClass.HUMAN:
                opened = await self.opens.take(code, max_clicks, time.monotonic())
            elif (exhausted := self.opens.known_exhausted(code)) is not None:
                opened = not exhausted
            else:
                link = await self._store.get_link(code)
                opened = link is not None and link.human_opens < max_clicks
        except Exception:
            # The limit cannot be checked: a redirect that works beats a reader turned away.
            log.warning("max_clicks check failed, redirecting code=%s", code, exc_info=True)
            return Outcome.REDIRECT
        return Outcome.REDIRECT if opened else Outcome.EXHAUSTED

    async def _answer_live(
        self, request: web.BaseRequest, code: str, entry: CachedLink
    ) -> web.Response:
        """A 活码: the store picks the current target, and a person's GET takes one of its
        opens in the same statement (atomic across redirector processes), so a re-point or a
        full target is followed by the very next scan; previews, bots and HEAD see the same
        target uncounted. A dry pool gets the 503 "contact the group" page and wakes the
        reminder check (the admins hear of it once)."""
        user_agent = request.headers.get(hdrs.USER_AGENT, "")
        kind = classify_user_agent(user_agent)
        klass, platform = kind
        policy = entry.policy
        if policy is not None:
            outcome = decide(policy, klass, platform, self._now(), 0)
            if outcome is not Outcome.REDIRECT:
                return self._outcome_page(request, code, entry, policy, outcome, platform)
        now = self._clock()
        try:
            if request.method == "GET" and klass is ClickClass.HUMAN:
                target = await self._store.claim_live_target(code, now)
            else:
                target = await self._store.current_live_target(code, now)
        except Exception:
            log.warning("live target lookup failed code=%s", code, exc_info=True)
            if not entry.url:
                return self._page(request, 503, "unavailable")
            target_url = entry.url  # the target as last looked up: better than no answer
        else:
            if target is None:
                log.info("live code has no usable target code=%s", code)
                if self._on_live_pool_empty is not None:
                    self._on_live_pool_empty(code)
                # 503, not 410: the code is not gone, its admins are adding a target; nothing
                # (a preview cache, a crawler) should remember it as dead.
                response = self._page(request, 503, "live_empty")
                response.headers["Retry-After"] = "3600"
                return response
            target_url = target.url
        if is_wechat_group_qr(target_url):
            return await self._live_qr_page(request, code, kind, user_agent, target_url)
        headers = {"Location": location_header(target_url), "Cache-Control": _NO_STORE}
        return self._redirect(request, code, entry._replace(headers=headers), kind, user_agent)

    async def _live_qr_page(
        self,
        request: web.BaseRequest,
        code: str,
        kind: tuple[ClickClass, str],
        user_agent: str,
        target_url: str,
    ) -> web.Response:
        """A WeChat group QR opens no group as a link: WeChat joins a group from a scanned or
        long-pressed QR image. So the reader gets a page with the group's QR to long-press,
        recorded like the 302 it stands in for."""
        data_uri = self._live_qr.get(target_url)
        if data_uri is None:
            png = await asyncio.to_thread(render_qr_png, target_url)
            data_uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            if len(self._live_qr) >= _LIVE_QR_CACHE_MAX:
                self._live_qr.clear()
            self._live_qr[target_url] = data_uri
        self._record(request, code, kind, user_agent)
        html = render_live_qr(
            qr_data_uri=data_uri,
            short_url=self.short_url(code),
            accept_language=request.headers.get("Accept-Language", ""),
        )
        return self._html(200, html)

    def _outcome_page(
        self,
        request: web.BaseRequest,
        code: str,
        entry: CachedLink,
        policy: LinkPolicy,
        outcome: Outcome,
        platform: str,
    ) -> web.Response:
        accept_language = request.headers.get("Accept-Language", "")
        if outcome is Outcome.GUIDE:
            html = render_guide(
                short_url=self.short_url(code),
                target_url=entry.url,
                platform=platform,
                os=device_os(request.headers.get("User-Agent", "")),
                accept_language=accept_language,
            )
            return self._html(200, html)
        if outcome is Outcome.PLATFORM:
            html = render_platform_page(
                short_url=self.short_url(code),
                allowed=policy.platforms or frozenset(),
                platform=platform,
                accept_language=accept_language,
            )
            return self._html(403, html)
        return self._html(410, render_closed(outcome.value, accept_language))

    async def info(self, request: web.Request) -> web.StreamResponse:
        """`/{code}+`: where a short link goes and how it stands, before anyone opens it."""
        code = request.match_info["code"]
        try:
            info = await self._store.link_info(code)
        except Exception:
            log.exception("link info lookup failed code=%s", code)
            return self._page(request, 503, "unavailable")
        if info is None:
            return self._page(request, 404, "not_found")
        policy = effective_policy(info.link, info.group.settings)
        standing = status(policy, self._now(), info.link.human_opens)
        html = render_info(
            code=code,
            short_url=self.short_url(code),
            target_url=info.link.url,
            group_title=info.group.title,
            sharer=info.sharer_name,
            created_at=info.link.created_at,
            human_clicks=info.human_clicks,
            status="active" if standing is Outcome.REDIRECT else standing.value,
            accept_language=request.headers.get("Accept-Language", ""),
            tz=info.group.tz,
        )
        return self._html(200, html)

    async def qr_png(self, request: web.Request) -> web.StreamResponse:
        code = request.match_info["code"]
        entry = await self._known_link(request, code)
        if isinstance(entry, web.Response):
            return entry
        if entry.policy is not None and entry.policy.disabled:
            return self._html(
                410, render_closed("removed", request.headers.get("Accept-Language", ""))
            )
        png = await asyncio.to_thread(render_qr_png, f"{self._public_url}/{code}")
        return web.Response(
            body=png, content_type="image/png", headers={"Cache-Control": "public, max-age=86400"}
        )


async def _no_favicon(request: web.Request) -> web.StreamResponse:
    """Browsers ask on every page; an empty answer they may cache beats a 404 page."""
    return web.Response(status=204, headers={"Cache-Control": "public, max-age=604800"})


@functools.lru_cache(maxsize=256)
def _message_page(key: str, accept_language: str) -> str:
    """A 404/503 page, rendered once per language header: a scanner's spray of unknown
    codes must cost no more than a redirect."""
    return render_page(key, accept_language)


REDIRECTS = web.AppKey("redirects", RedirectHandlers)
_CODE_PATH = re.compile(f"/({CODE_PATTERN})")
_APP_PATHS = frozenset({"healthz", "metrics"})  # routes of the app that look like codes
RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def _fast_redirects(handlers: RedirectHandlers, app_handler: RequestHandler) -> RequestHandler:
    """GET/HEAD /{code}, answered before routing; all else -> the app.

    The redirect path is the whole product's hot path: skipping aiohttp's router and
    middlewares for it leaves room for click recording on the same core. A fresh cached
    link without an opens limit is answered inline, rules and all; any other code (a miss,
    an unknown code, a limited link, a 活码) is looked up by the handlers directly, so
    cold paths skip the router too. An unexpected failure there goes to the app, whose
    middleware answers it with the styled error page.
    """
    cache = handlers.cache.entries
    touch = cache.move_to_end  # least recently used first out
    answer = handlers.answer
    open_code = handlers.open_code
    match = _CODE_PATH.fullmatch
    monotonic = time.monotonic

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        method = request.method
        if method == "GET" or method == "HEAD":
            found = match(request.path)
            if found is not None and found[1] not in _APP_PATHS:
                code = found[1]
                entry = cache.get(code)
                if (
                    entry is not None
                    and entry.answers_inline
                    and monotonic() - entry.fetched_at < _CACHE_SECONDS
                ):
                    touch(code)
                    return answer(request, code, entry)
                try:
                    return await open_code(request, code)
                except Exception:
                    log.exception("redirect failed code=%s", code)
        return await app_handler(request)

    return handle


def install_fast_path(runner: web.AppRunner) -> None:
    """Call after `runner.setup()` and before any site starts (connections copy the handler)."""
    server = runner.server
    if server is None:
        raise RuntimeError("install_fast_path needs a set-up AppRunner")
    server.request_handler = _fast_redirects(runner.app[REDIRECTS], server.request_handler)


def create_app(
    store: Redirects,
    recorder: ClickRecorder,
    *,
    public_url: str,
    trusted_proxies: Iterable[str] = (),
    clock: Clock = utc_now,
    on_live_pool_empty: Callable[[str], None] | None = None,
    change_poll_seconds: float = POLL_SECONDS,
) -> web.Application:
    """The redirector app; starting it starts click recording and following link changes,
    cleaning it up flushes clicks and gives back unspent reserved opens."""
    app = web.Application()
    handlers = RedirectHandlers(
        store,
        recorder,
        public_url,
        ClientAddress(trusted_proxies),
        clock,
        on_live_pool_empty,
    )
    app[REDIRECTS] = handlers

    async def recording(app: web.Application) -> AsyncIterator[None]:
        await recorder.start()
        following = await follow_link_changes(
            store, handlers.forget, poll_seconds=change_poll_seconds
        )
        yield
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        await recorder.stop()
        await handlers.opens.give_back_all()

    app.cleanup_ctx.append(recording)
    app.router.add_get("/favicon.ico", _no_favicon)
    app.router.add_get(f"/{{code:{CODE_PATTERN}}}.png", handlers.qr_png)
    app.router.add_get(f"/{{code:{CODE_PATTERN}}}+", handlers.info)
    app.router.add_get(f"/{{code:{CODE_PATTERN}}}", handlers.redirect)
    return app
