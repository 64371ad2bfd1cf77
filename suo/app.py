"""Composition root: build the store, core, click recorder and redirector app from config.

`Suo.open(config)` owns their lifetimes; `close()` releases them in reverse order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.clock import Clock, utc_now
from bot.config import Config
from bot.core import Core
from bot.links import LinkReplies, Shortener
from bot.photos import PhotoReplies
from bot.stats import StatsReplies
from bot.storage import Store, open_store
from redirector.app import create_app
from redirector.clicks import ClickRecorder

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Suo:
    config: Config
    store: Store
    shortener: Shortener
    core: Core
    recorder: ClickRecorder
    clock: Clock

    @classmethod
    async def open(cls, config: Config, *, clock: Clock = utc_now) -> Suo:
        store = await open_store(config.storage.url)
        shortener = Shortener(store, config.links, config.server.public_url, clock)
        core = Core(
            store,
            LinkReplies(shortener),
            PhotoReplies(shortener),
            StatsReplies(store),
            default_lang=config.console.lang,
        )
        recorder = ClickRecorder(
            store,
            clock=clock,
            spill_path=Path(config.clicks.spill_path),
            flush_interval=config.clicks.flush_interval_ms / 1000,
            batch_size=config.clicks.batch_size,
        )
        return cls(config, store, shortener, core, recorder, clock)

    def redirector_app(self) -> web.Application:
        return create_app(self.store, self.recorder, public_url=self.config.server.public_url)

    async def start_redirector(self) -> web.AppRunner:
        runner = web.AppRunner(self.redirector_app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.server.host, self.config.server.port)
        await site.start()
        log.info(
            "redirector listening on %s:%d, short links start with %s",
            self.config.server.host,
            self.config.server.port,
            self.config.server.public_url,
        )
        return runner

    async def close(self) -> None:
        await self.store.close()
