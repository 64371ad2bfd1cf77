"""The redirector's aiohttp application: `GET /{code}` -> 302, plus QR images and health.

The redirect path is a cache lookup and a queue append; storage work happens in the
`ClickRecorder`, whose life is tied to the app's startup and cleanup.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from bot.qr import render_qr_png
from bot.storage import Store
from bot.urls import location_header
from redirector.classify import classify_user_agent
from redirector.clicks import ClickRecorder
from redirector.client_ip import ClientAddress
from redirector.pages import render_page

log = logging.getLogger(__name__)

CODE_PATTERN = "[A-Za-z0-9]{1,32}"
_NO_STORE = "private, max-age=0"
_CACHE_SECONDS = 30.0
_CACHE_MAX = 50_000


@dataclass(frozen=True, slots=True)
class CachedLink:
    disabled: bool
    fetched_at: float
    headers: dict[str, str]  # the 302's headers, built once per lookup


class RedirectHandlers:
    def __init__(
        self,
        store: Store,
        recorder: ClickRecorder,
        public_url: str,
        client_address: ClientAddress,
    ) -> None:
        self._store = store
        self.recorder = recorder
        self._public_url = public_url.rstrip("/")
        self.client_address = client_address
        self.cache: dict[str, CachedLink] = {}

    async def _lookup(self, code: str) -> CachedLink | None:
        """The link for `code`, cached briefly; a stale entry keeps serving if the store fails."""
        cached = self.cache.get(code)
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
            self.cache.pop(code, None)
            return None
        if len(self.cache) >= _CACHE_MAX:
            self.cache.clear()
        headers = {"Location": location_header(link.url), "Cache-Control": _NO_STORE}
        entry = CachedLink(link.disabled, now, headers)
        self.cache[code] = entry
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
        return self.answer(request, code, entry)

    def answer(self, request: web.BaseRequest, code: str, entry: CachedLink) -> web.Response:
        """The 302 for a usable link, recording the click (HEAD is answered, never counted)."""
        if request.method == "GET":
            headers = request.headers
            user_agent = headers.get("User-Agent", "")
            klass, platform = classify_user_agent(user_agent)
            self.recorder.record(
                code,
                klass,
                platform,
                user_agent,
                self.client_address.of(request),
                headers.get("Referer", ""),
            )
        return web.Response(status=302, headers=entry.headers)

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
        return web.json_response({"status": "ok", "pending_clicks": self.recorder.pending})


REDIRECTS = web.AppKey("redirects", RedirectHandlers)
_CODE_PATH = re.compile(f"/({CODE_PATTERN})")
_APP_PATHS = frozenset({"healthz"})  # routes of the app that look like codes
RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def _fast_redirects(handlers: RedirectHandlers, app_handler: RequestHandler) -> RequestHandler:
    """GET/HEAD /{code} of a fresh cached link, answered before routing; all else -> the app.

    The redirect path is the whole product's hot path: skipping aiohttp's router and
    signals for it leaves room for click recording on the same core. Only links the app
    has already looked up (and found usable) are served here; misses, 404s and 410s go
    through the app, which also refreshes the cache.
    """
    cache = handlers.cache
    answer = handlers.answer
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
                    and not entry.disabled
                    and monotonic() - entry.fetched_at < _CACHE_SECONDS
                ):
                    return answer(request, code, entry)
        return await app_handler(request)

    return handle


def install_fast_path(runner: web.AppRunner) -> None:
    """Call after `runner.setup()` and before any site starts (connections copy the handler)."""
    server = runner.server
    if server is None:
        raise RuntimeError("install_fast_path needs a set-up AppRunner")
    server.request_handler = _fast_redirects(runner.app[REDIRECTS], server.request_handler)


def create_app(
    store: Store,
    recorder: ClickRecorder,
    *,
    public_url: str,
    trusted_proxies: Iterable[str] = (),
) -> web.Application:
    """The redirector app; starting it starts click recording, cleaning it up flushes clicks."""
    app = web.Application()
    handlers = RedirectHandlers(store, recorder, public_url, ClientAddress(trusted_proxies))
    app[REDIRECTS] = handlers

    async def recording(app: web.Application) -> AsyncIterator[None]:
        await recorder.start()
        yield
        await recorder.stop()

    app.cleanup_ctx.append(recording)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get(f"/{{code:{CODE_PATTERN}}}.png", handlers.qr_png)
    app.router.add_get(f"/{{code:{CODE_PATTERN}}}", handlers.redirect)
    return app
