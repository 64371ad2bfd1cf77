"""The application object: one composition root and one lifecycle for every mode.

`Suo(config, parts)` builds the store, core, click recorder, adapters and schedulers, serves
the web app its parts need and starts and stops what it mounts, as python-telegram-bot's
`Application` does: initialize/start/stop/shutdown, running guards, `async with`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import resource
import socket
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Self

import aiohttp
from aiohttp import web

from adapters.digests import ConsoleDigests, TelegramDigests, WeComDigests
from adapters.telegram import TelegramAdapter
from adapters.wecom import WeComAdapter
from adapters.wecom_webhook import WeComGroupPusher, WeComWebhook
from bot.bindings import BindingReplies, GroupRobots
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
from redirector.client_ip import ClientAddress
from redirector.dashboard import add_dashboard_routes
from redirector.metrics import Health, Metrics, OperatorAccess, add_operator_routes
from redirector.web import add_web_routes
from suo.bodies import body_deadline
from suo.logs import accept_failures_handler, quiet_malformed_requests

log = logging.getLogger(__name__)


class Part(enum.Enum):
    """What one process runs. A platform receiving by webhook has its route on the served web
    app and its bot runs exactly as long as that app (see TelegramAdapter.mount)."""

    REDIRECTOR = "redirector"  # short links (and the webhook routes) on server.host:port
    TELEGRAM = "telegram"  # the Telegram bot: polling, or its webhook route
    WECOM = "wecom"  # the WeCom bot: its callback route
    SCHEDULER = "scheduler"  # weekly digests and 活码 reminders


# What `suo bot` runs, and what `Suo.open` builds by default: everything but the served
# redirector (tests serve or call what they need themselves).
BOT_PARTS = frozenset({Part.TELEGRAM, Part.WECOM, Part.SCHEDULER})


def dashboard_links(config: Config) -> DashboardLinks:
    return DashboardLinks(config.server.secret, config.server.public_url)


def web_links(config: Config) -> WebLinks:
    return WebLinks(config.server.secret, config.server.public_url)


class Suo:
    """Built by `initialize()`, run by `start()`, halted by `stop()`, released by `shutdown()`;
    `async with Suo(config, parts)` does all four. Every part it mounts it also starts."""

    store: Store
    shortener: Shortener
    core: Core
    recorder: ClickRecorder
    live: LiveWatch  # 活码 reminders
    metrics: Metrics  # what /metrics shows: this process's, or with several, all of theirs

    def __init__(
        self,
        config: Config,
        parts: frozenset[Part],
        *,
        clock: Clock = utc_now,
        reuse_port: bool = False,
    ) -> None:
        self.config = config
        self.parts = parts
        self.clock = clock
        # SO_REUSEPORT: processes started apart share server.port, the kernel spreads
        # connections over them (`suo redirector` turns it on).
        self.reuse_port = reuse_port
        self.telegram: TelegramAdapter | None = None
        self.wecom: WeComAdapter | None = None
        self.digests: DigestScheduler | None = None
        # Each redirector app's forget(code): chat changes apply here at once.
        self.link_caches: list[Callable[[str | None], None]] = []
        self._http: aiohttp.ClientSession | None = None
        self._initialized = False
        self._running = False
        self._opened = AsyncExitStack()  # released by shutdown(), last opened first
        self._started = AsyncExitStack()  # stopped by stop(), last started first

    @classmethod
    async def open(
        cls, config: Config, parts: frozenset[Part] = BOT_PARTS, *, clock: Clock = utc_now
    ) -> Suo:
        """An initialized, not started, application: for tests and benchmarks that serve or
        call its pieces themselves (shutdown() releases it)."""
        suo = cls(config, parts, clock=clock)
        await suo.initialize()
        return suo

    @property
    def running(self) -> bool:
        return self._running

    async def __aenter__(self) -> Self:
        await self.initialize()
        try:
            await self.start()
        except BaseException:
            await self.shutdown()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self.stop()
        finally:
            await self.shutdown()

    async def initialize(self) -> None:
        """Open the store and build every part; nothing runs yet. Idempotent."""
        if self._initialized:
            return
        try:
            storage = self.config.storage
            self.store = await open_store(
                storage.url, pool_min=storage.pool_min, pool_max=storage.pool_max
            )
            # Its worker thread would keep the process alive.
            self._opened.push_async_callback(self.store.close)
            self._opened.push_async_callback(self._close_http)
            self._build()
        except BaseException:
            await self._opened.aclose()
            raise
        self._initialized = True

    async def start(self) -> None:
        """Serve the web app the parts need, then start polling and the schedulers. On a
        failure, what had started is stopped again before the error propagates."""
        if not self._initialized:
            raise RuntimeError("Suo.start() needs initialize() first")
        if self._running:
            raise RuntimeError("Suo is already running")
        self._running = True
        try:
            await self._start_parts()
        except BaseException:
            await self.stop()
            raise

    async def run_until(self, stop: Awaitable[None]) -> None:
        """Serve until `stop` is done. A part still connecting in the background (Telegram,
        while its Bot API is unreachable) that ends in an error, such as a token refused once
        Telegram answers, raises it here."""
        stopping = asyncio.ensure_future(stop)
        watched: set[asyncio.Future[None]] = {stopping}
        if self.telegram is not None and self.telegram.connecting is not None:
            watched.add(self.telegram.connecting)
        try:
            while not stopping.done():
                done, watched = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                for finished in done:
                    finished.result()
        finally:
            stopping.cancel()

    async def stop(self) -> None:
        """Stop what start() started, last first. Does nothing when not running."""
        if self._running:
            self._running = False
            await self._started.aclose()

    async def shutdown(self) -> None:
        """Release what initialize() opened, last first. Does nothing when not initialized."""
        if self._running:
            raise RuntimeError("Suo.shutdown() while running: stop() it first")
        if self._initialized:
            self._initialized = False
            await self._opened.aclose()

    def http(self) -> aiohttp.ClientSession:
        """The one outgoing HTTP session (WeCom downloads and webhooks), opened on first use."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._http

    async def _close_http(self) -> None:
        if self._http is not None:
            await self._http.close()

    def _build(self) -> None:
        config, store, clock = self.config, self.store, self.clock
        public_url = config.server.public_url
        self.shortener = Shortener(
            store, config.links, public_url, clock, on_rules_changed=self._forget_rules
        )
        fonts = ChartFonts.find(config.digest.font_path)
        writer = DigestWriter(store, public_url, fonts)
        self.metrics = metrics = Metrics.from_environment()
        self.core = self._build_core(writer, fonts)
        self.recorder = ClickRecorder(
            store,
            clock=clock,
            # Processes sharing a config (and a port) each journal to a file of their own.
            journal=Path(config.clicks.spill_path),
            flush_interval=config.clicks.flush_interval_ms / 1000,
            batch_size=config.clicks.batch_size,
        )
        metrics.follow_clicks(self.recorder)
        self._build_platforms()
        # One set of channels (one group-robot rate limiter) for digests and live reminders.
        channels = self._digest_channels()
        if config.digest.enabled:
            service = DigestService(store, writer, channels, clock, config.digest)
            self.digests = DigestScheduler(service, store, clock, config.digest)
            metrics.follow(metrics.digests_sent, lambda: service.sent)
            metrics.follow(metrics.digests_failed, lambda: service.failed)
        self.live = LiveWatch(store, channels, clock, public_url)

    def _build_core(self, writer: DigestWriter, fonts: ChartFonts) -> Core:
        """The chat core with every feature's replies."""
        config, store, clock = self.config, self.store, self.clock
        return Core(
            store,
            LinkReplies(self.shortener),
            PhotoReplies(self.shortener, observe_decode=self.metrics.observe_decode),
            BindingReplies(store, clock),
            StatsReplies(store, clock, config.server.public_url),
            DashboardReplies(store, dashboard_links(config), clock),
            DigestReplies(
                store,
                writer,
                clock,
                enabled=config.digest.enabled,
                on_schedule_changed=self._schedule_changed,
            ),
            SettingsReplies(
                store, clock, config.server.public_url, on_rules_changed=self._forget_rules
            ),
            LiveReplies(
                store,
                self.shortener,
                fonts,
                clock,
                code_length=config.links.code_length,
                on_changed=self._forget_rules,
            ),
            WebReplies(web_links(config), clock, page_enabled=config.web.enabled),
            default_lang=config.console.lang,
        )

    def _build_platforms(self) -> None:
        config = self.config
        if Part.TELEGRAM in self.parts and config.telegram.enabled:
            self.telegram = TelegramAdapter(
                self.core, config.telegram, public_url=config.server.public_url
            )
        if Part.WECOM in self.parts and config.wecom.enabled:
            self.wecom = WeComAdapter(self.core, config.wecom, session=self.http)
            # Follow-up replies underway finish before the session they post with closes.
            self._opened.push_async_callback(self.wecom.close)

    def _forget_rules(self, code: str | None) -> None:
        """Rules changed in chat apply at once in this process's redirectors (other
        processes forget them within a second, from the store's change feed)."""
        for forget in self.link_caches:
            forget(code)

    async def _schedule_changed(self, group: Group) -> None:
        if self.digests is not None:
            await self.digests.reschedule(group)

    def _digest_channels(self) -> dict[str, DigestChannel]:
        channels: dict[str, DigestChannel] = {}
        if self.telegram is not None:
            channels["telegram"] = TelegramDigests(self.telegram)
        if self.wecom is not None:
            webhook = WeComWebhook(self.http, self.config.wecom.webhook_base_url)
            robots = GroupRobots(self.store, self.clock)
            channels["wecom"] = WeComDigests(robots, WeComGroupPusher(robots, webhook))
        if not self.has_platform:
            chart_dir = Path(self.config.console.qr_dir)
            channels["console"] = ConsoleDigests(lambda text: print(text, flush=True), chart_dir)
        return channels

    @property
    def has_platform(self) -> bool:
        """True when this process runs a real chat platform (so no console group is needed)."""
        return self.telegram is not None or self.wecom is not None

    @property
    def _receives_webhooks(self) -> bool:
        telegram_hook = self.telegram is not None and self.telegram.uses_webhook
        return telegram_hook or self.wecom is not None

    def _mount_webhooks(self, app: web.Application) -> None:
        # A mounted Telegram webhook starts and stops the bot with `app` (see its mount()).
        if self.telegram is not None and self.telegram.uses_webhook:
            self.telegram.mount(app)
        if self.wecom is not None:
            self.wecom.mount(app)

    def redirector_app(self) -> web.Application:
        """Short links, dashboard and web page, with this process's webhook routes."""
        app = create_app(
            self.store,
            self.recorder,
            public_url=self.config.server.public_url,
            trusted_proxies=self.config.server.trusted_proxies,
            clock=self.clock,
            on_live_pool_empty=self.live.nudge,
        )
        handlers = app[REDIRECTS]
        self.link_caches.append(handlers.forget)
        self.metrics.follow(self.metrics.redirects, lambda: handlers.redirects)
        self.metrics.follow(self.metrics.not_found, lambda: handlers.not_found)
        self._add_operator_routes(app, self.recorder)
        # Mounted even without a secret: every token then gets the 403 page.
        add_dashboard_routes(app, self.store, dashboard_links(self.config), self.clock)
        # The page at / (when [web] enabled) and styled pages for unknown paths and methods.
        add_web_routes(
            app,
            self.config,
            self.store,
            self.shortener,
            web_links(self.config),
            self.clock,
            observe_decode=self.metrics.observe_decode,
        )
        self._mount_webhooks(app)
        return app

    def _add_operator_routes(self, app: web.Application, recorder: ClickRecorder | None) -> None:
        """/metrics and /healthz, for the addresses `server.metrics_from` allows."""
        server = self.config.server
        access = OperatorAccess(server.metrics_from, ClientAddress(server.trusted_proxies))
        add_operator_routes(app, self.metrics, Health(self.store, recorder), access)

    def web_app(self) -> web.Application | None:
        """What this process serves: the redirector (with the webhook routes), or without it
        only the webhook routes; None when nothing here receives over HTTP."""
        if Part.REDIRECTOR in self.parts:
            return self.redirector_app()
        if not self._receives_webhooks:
            return None
        app = web.Application()
        self._add_operator_routes(app, None)  # no clicks recorded here
        self._mount_webhooks(app)
        return app

    async def _start_parts(self) -> None:
        # Each stop is registered before its start: a start that fails halfway is undone too.
        if self.metrics.multiprocess_dir is not None:
            syncing = asyncio.create_task(self.metrics.keep_synced(), name="metrics-sync")
            self._started.push_async_callback(_cancelled, syncing)
        app = self.web_app()
        if app is not None:
            await self._serve(app)
        if self.telegram is not None and not self.telegram.uses_webhook:
            self._started.push_async_callback(_stop_telegram, self.telegram)
            await self.telegram.start()
        if Part.SCHEDULER in self.parts:
            if self.digests is not None:
                self._started.push_async_callback(self.digests.stop)
                await self.digests.start()
            self._started.push_async_callback(self.live.stop)
            await self.live.start()

    async def _serve(self, app: web.Application) -> None:
        server = self.config.server
        open_files = raise_open_files_limit()
        # Past the limit asyncio logs every failed accept(); one line a minute says it all.
        asyncio.get_running_loop().set_exception_handler(
            accept_failures_handler(open_files, server.idle_timeout_seconds)
        )
        quiet_malformed_requests()
        app.middlewares.insert(0, body_deadline(server.idle_timeout_seconds))
        # aiohttp's keep-alive timer also runs from the connection's start, so it closes a
        # connection that never sends a request too (its default, 3,630 s, let ~1,000 idle
        # connections hold every open file for an hour).
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=server.idle_timeout_seconds,
        )
        await runner.setup()
        self._started.push_async_callback(runner.cleanup)
        if REDIRECTS in app:
            install_fast_path(runner)
        reuse_port = self.reuse_port and reuse_port_supported()
        await web.TCPSite(runner, server.host, server.port, reuse_port=reuse_port).start()
        log.info(
            "listening on %s:%d (pid %d%s, open-files limit %d), short links start with %s",
            server.host,
            server.port,
            os.getpid(),
            ", port shared" if reuse_port else "",
            open_files,
            server.public_url,
        )


def raise_open_files_limit() -> int:
    """Raise this process's soft open-files limit to its hard limit (each connection holds a
    descriptor; the usual soft limit, 1,024, is a small flood's worth) and return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as e:
        log.warning("cannot raise the open-files limit from %d to %d: %s", soft, hard, e)
        return soft
    return hard


def reuse_port_supported() -> bool:
    """SO_REUSEPORT spreads connections over processes on Linux (3.9+); elsewhere a second
    process on the port fails, so say why once."""
    if hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux"):
        return True
    log.warning(
        "SO_REUSEPORT is not supported on %s: this process binds the port alone; run one "
        "redirector per port behind a load balancer",
        sys.platform,
    )
    return False


async def _stop_telegram(telegram: TelegramAdapter) -> None:
    try:
        await telegram.stop()
        # PTB skips this when its initialize() failed (a refused token) after the bot had
        # opened its HTTP clients; closing them twice is a no-op.
        await telegram.application.bot.shutdown()
    except Exception:
        log.exception("telegram adapter did not stop cleanly")


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
