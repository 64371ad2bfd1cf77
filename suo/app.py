"""Composition root: build the store, core, adapters, click recorder and redirector from config.

`Suo.open(config)` owns their lifetimes; `close()` releases them in reverse order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from adapters.digests import ConsoleDigests, TelegramDigests, WeComDigests
from adapters.telegram import TelegramAdapter
from adapters.wecom import WeComAdapter
from adapters.wecom_webhook import WeComGroupPusher, WeComWebhook
from bot.bindings import BindingReplies
from bot.chart import ChartFonts
from bot.clock import Clock, utc_now
from bot.config import Config
from bot.core import Core
from bot.dashboard import DashboardLinks, DashboardReplies
from bot.digest import DigestReplies, DigestWriter
from bot.links import LinkReplies, Shortener
from bot.live import LiveReplies, LiveWatch
from bot.model import Group
from bot.photos import PhotoReplies
from bot.scheduler import DigestChannel, DigestScheduler, DigestService
from bot.settings import SettingsReplies
from bot.stats import StatsReplies
from bot.storage import Store, open_store
from bot.web import WebLinks, WebReplies
from redirector.app import REDIRECTS, create_app, install_fast_path
from redirector.clicks import ClickRecorder
from redirector.dashboard import add_dashboard_routes
from redirector.web import add_web_routes

log = logging.getLogger(__name__)


def dashboard_links(config: Config) -> DashboardLinks:
    return DashboardLinks(config.server.secret, config.server.public_url)


def web_links(config: Config) -> WebLinks:
    return WebLinks(config.server.secret, config.server.public_url)


@dataclass(slots=True)
class Suo:
    config: Config
    store: Store
    shortener: Shortener
    core: Core
    recorder: ClickRecorder
    clock: Clock
    telegram: TelegramAdapter | None = None
    wecom: WeComAdapter | None = None
    digests: DigestScheduler | None = None
    live: LiveWatch | None = None  # 活码 reminders
    _http: aiohttp.ClientSession | None = None
    link_caches: list[dict[str, Any]] = field(default_factory=list)  # each redirector app's

    def http(self) -> aiohttp.ClientSession:
        """The one outgoing HTTP session (WeCom downloads and webhooks), opened on first use."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._http

    @classmethod
    async def open(cls, config: Config, *, clock: Clock = utc_now) -> Suo:
        store = await open_store(config.storage.url)
        try:
            return cls._build(config, store, clock)
        except BaseException:
            await store.close()  # its worker thread would keep the process alive
            raise

    @classmethod
    def _build(cls, config: Config, store: Store, clock: Clock) -> Suo:
        link_caches: list[dict[str, Any]] = []

        def forget_rules(code: str | None) -> None:
            """Rules changed in chat apply at once in this process's redirectors (other
            processes see them when their cache entry ages out)."""
            for cache in link_caches:
                if code is None:
                    cache.clear()
                else:
                    cache.pop(code, None)

        shortener = Shortener(
            store, config.links, config.server.public_url, clock, on_rules_changed=forget_rules
        )
        fonts = ChartFonts.find(config.digest.font_path)
        writer = DigestWriter(store, config.server.public_url, fonts)
        schedulers: list[DigestScheduler] = []  # built after the adapters the core feeds

        async def schedule_changed(group: Group) -> None:
            for scheduler in schedulers:
                await scheduler.reschedule(group)

        core = Core(
            store,
            LinkReplies(shortener),
            PhotoReplies(shortener),
            BindingReplies(store, clock),
            StatsReplies(store, clock, config.server.public_url),
            DashboardReplies(store, dashboard_links(config), clock),
            DigestReplies(
                store,
                writer,
                clock,
                enabled=config.digest.enabled,
                on_schedule_changed=schedule_changed,
            ),
            SettingsReplies(store, clock, config.server.public_url, on_rules_changed=forget_rules),
            LiveReplies(
                store,
                shortener,
                fonts,
                clock,
                code_length=config.links.code_length,
                on_changed=forget_rules,
            ),
            WebReplies(web_links(config), clock, page_enabled=config.web.enabled),
            default_lang=config.console.lang,
        )
        recorder = ClickRecorder(
            store,
            clock=clock,
            spill_path=Path(config.clicks.spill_path),
            flush_interval=config.clicks.flush_interval_ms / 1000,
            batch_size=config.clicks.batch_size,
        )
        telegram = None
        if config.telegram.enabled:
            telegram = TelegramAdapter(core, config.telegram, public_url=config.server.public_url)
        suo = cls(config, store, shortener, core, recorder, clock, telegram)
        suo.link_caches = link_caches
        if config.wecom.enabled:
            suo.wecom = WeComAdapter(core, config.wecom, session=suo.http)
        # One set of channels (one group-robot rate limiter) for digests and live reminders.
        channels = suo._digest_channels()
        if config.digest.enabled:
            suo.digests = DigestScheduler(
                DigestService(store, writer, channels, clock, config.digest),
                store,
                clock,
                config.digest,
            )
            schedulers.append(suo.digests)
        suo.live = LiveWatch(store, channels, clock, config.server.public_url)
        return suo

    def _digest_channels(self) -> dict[str, DigestChannel]:
        channels: dict[str, DigestChannel] = {}
        if self.telegram is not None:
            channels["telegram"] = TelegramDigests(self.telegram)
        if self.wecom is not None:
            webhook = WeComWebhook(self.http, self.config.wecom.webhook_base_url)
            pusher = WeComGroupPusher(self.store, webhook, self.clock)
            channels["wecom"] = WeComDigests(self.store, pusher)
        if not self.has_platform:
            chart_dir = Path(self.config.console.qr_dir)
            channels["console"] = ConsoleDigests(lambda text: print(text, flush=True), chart_dir)
        return channels

    @property
    def has_platform(self) -> bool:
        """True when a real chat platform is configured (so no console group is needed)."""
        return self.telegram is not None or self.wecom is not None

    def _mount_webhooks(self, app: web.Application) -> None:
        # A mounted Telegram webhook starts and stops the bot with `app` (see its mount()).
        if self.telegram is not None and self.telegram.uses_webhook:
            self.telegram.mount(app)
        if self.wecom is not None:
            self.wecom.mount(app)

    def redirector_app(self) -> web.Application:
        app = create_app(
            self.store,
            self.recorder,
            public_url=self.config.server.public_url,
            trusted_proxies=self.config.server.trusted_proxies,
            clock=self.clock,
            on_live_pool_empty=self.live.nudge if self.live is not None else None,
        )
        self.link_caches.append(app[REDIRECTS].cache)
        # Mounted even without a secret: every token then gets the 403 page.
        add_dashboard_routes(app, self.store, dashboard_links(self.config), self.clock)
        # The page at / (when [web] enabled) and styled pages for unknown paths and methods.
        add_web_routes(
            app, self.config, self.store, self.shortener, web_links(self.config), self.clock
        )
        self._mount_webhooks(app)
        return app

    def webhook_app(self) -> web.Application:
        """Only the platforms' webhook routes, for `suo bot` without a redirector."""
        app = web.Application()
        self._mount_webhooks(app)
        return app

    async def serve(self, app: web.Application) -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        if REDIRECTS in app:
            install_fast_path(runner)
        site = web.TCPSite(runner, self.config.server.host, self.config.server.port)
        await site.start()
        log.info(
            "listening on %s:%d, short links start with %s",
            self.config.server.host,
            self.config.server.port,
            self.config.server.public_url,
        )
        return runner

    async def start_adapters(self) -> None:
        """Start what receives on its own: Telegram polling and the digest scheduler. A webhook
        bot is started by the web app that serves its route, wherever that app runs."""
        if self.telegram is not None and not self.telegram.uses_webhook:
            await self.telegram.start()
        if self.digests is not None:
            await self.digests.start()
        if self.live is not None:
            await self.live.start()

    async def stop_adapters(self) -> None:
        if self.live is not None:
            await self.live.stop()
        if self.digests is not None:
            await self.digests.stop()
        if self.telegram is not None:
            try:
                await self.telegram.stop()
            except Exception:
                log.exception("telegram adapter did not stop cleanly")
        if self.wecom is not None:
            await self.wecom.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        await self.store.close()
