"""The redirector's aiohttp application: `GET /{code}` -> 302, plus QR images and health.

The redirect path is a cache lookup and a queue append; storage work happens in the
`ClickRecorder`, whose life is tied to the app's startup and cleanup.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from bot.qr import render_qr_png
from bot.storage import Store
from bot.urls import location_header
from redirector.clicks import ClickRecorder
from redirector.pages import render_page

log = logging.getLogger(__name__)

CODE_PATTERN = "[A-Za-z0-9]{1,32}"
_NO_STORE = "private, max-age=0"
_CACHE_SECONDS = 30.0
_CACHE_MAX = 50_000


@dataclass(frozen=True, slots=True)
class CachedLink:
    location: str
    disabled: bool
    fetched_at: float


class RedirectHandlers:
    def __init__(self, store: Store, recorder: ClickRecorder, public_url: str) -> None:
        self._store = store
        self._recorder = recorder
        self._public_url = public_url.rstrip("/")
        self._cache: dict[str, CachedLink] = {}

    async def _lookup(self, code: str) -> CachedLink | None:
        """The link for `code`, cached briefly; a stale entry keeps serving if the store fails."""
        cached = self._cache.get(code)
        now = time.monotonic()
        if cached is not None and now - cached.fetched_at < _CACHE_SECONDS:
            return cached
        try:
            link = await self._store.get_link(code)
        except Exception:
            if cached is not None:
                log.warning("store unavailable, serving cached link code=%s", code)
                return cached
            raise
        if link is None:
            self._cache.pop(code, None)
            return None
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        entry = CachedLink(location_header(link.url), link.disabled, now)
        self._cache[code] = entry
        return entry

    def _page(self, request: web.Request, status: int, key: str) -> web.Response:
        html = render_page(key, request.headers.get("Accept-Language", ""))
        return web.Response(
            status=status,
            text=html,
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )

    async def _usable_link(self, request: web.Request, code: str) -> CachedLink | web.Response:
        """The link for `code`, or the page to show instead (unavailable, not found, gone)."""
        try:
            entry = await self._lookup(code)
        except Exception:
            log.exception("link lookup failed code=%s", code)
            return self._page(request, 503, "unavailable")
        if entry is None:
            return self._page(request, 404, "not_found")
        if entry.disabled:
            return self._page(request, 410, "gone")
        return entry

    async def redirect(self, request: web.Request) -> web.StreamResponse:
        code = request.match_info["code"]
        entry = await self._usable_link(request, code)
        if isinstance(entry, web.Response):
            return entry
        if request.method == "GET":  # HEAD is answered alike but never counted
            headers = request.headers
            self._recorder.record(
                code,
                headers.get("User-Agent", ""),
                request.remote or "",
                headers.get("Referer", ""),
            )
        return web.Response(
            status=302, headers={"Location": entry.location, "Cache-Control": _NO_STORE}
        )

    async def qr_png(self, request: web.Request) -> web.StreamResponse:
        code = request.match_info["code"]
        entry = await self._usable_link(request, code)
        if isinstance(entry, web.Response):
            return entry
        png = await asyncio.to_thread(render_qr_png, f"{self._public_url}/{code}")
        return web.Response(
            body=png, content_type="image/png", headers={"Cache-Control": "public, max-age=86400"}
        )

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok", "pending_clicks": self._recorder.pending})


def create_app(store: Store, recorder: ClickRecorder, *, public_url: str) -> web.Application:
    """The redirector app; starting it starts click recording, cleaning it up flushes clicks."""
    app = web.Application()
    handlers = RedirectHandlers(store, recorder, public_url)

    async def recording(app: web.Application) -> AsyncIterator[None]:
        await recorder.start()
        yield
        await recorder.stop()

    app.cleanup_ctx.append(recording)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get(f"/{{code:{CODE_PATTERN}}}.png", handlers.qr_png)
    app.router.add_get(f"/{{code:{CODE_PATTERN}}}", handlers.redirect)
    return app
