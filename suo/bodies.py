"""Request bodies that stop coming: a deadline for the handlers that read one.

aiohttp closes a connection whose request line and headers do not arrive within its
keep-alive timeout (see `Suo._serve`), but a request whose headers did arrive can then send
its body a byte at a time, or never, and hold its connection (and an open file) for as long as
it likes: aiohttp has no body timeout. Behind nginx, its `client_body_timeout` does this job;
a box that faces the internet itself needs this middleware.

A body that sends nothing for `idle_seconds`, or is not whole after `total_seconds`, gets a 408
and its connection closed; a slow but steady upload (a phone photo over a poor network) goes
on. Requests whose body is already whole when the handler starts (nearly all) pay one check.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import streams, web
from aiohttp.typedefs import Handler, Middleware

from suo.logs import NoiseCounter

log = logging.getLogger(__name__)

# A body's whole allowance however steadily it comes: a 10 MB photo at 1.5 Mbit/s.
BODY_SECONDS_MAX = 60.0
_CHECKS_PER_IDLE = 5  # how often progress is looked at, per idle period


class _Watch:
    """Looks at a request's body every `idle / 5` seconds and expires its deadline when
    nothing came for `idle_seconds` (or it is not whole at `ends_at`); lifts it once whole.

    The decision is taken here, after looking at the body, never by a timer set in advance:
    bytes that came just before a fixed deadline would not save the request from it."""

    def __init__(
        self,
        body: streams.StreamReader,
        deadline: asyncio.Timeout,
        idle_seconds: float,
        ends_at: float,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._body = body
        self._deadline = deadline
        self._idle = idle_seconds
        self._ends_at = ends_at
        self._seen = body.total_bytes
        self._quiet_since = self._loop.time()
        self._every = idle_seconds / _CHECKS_PER_IDLE
        self._timer = self._loop.call_later(self._every, self._check)

    def _check(self) -> None:
        if self._body.is_eof() or self._deadline.expired():
            return  # whole: the handler takes the time it needs
        now = self._loop.time()
        if self._body.total_bytes != self._seen:
            self._seen, self._quiet_since = self._body.total_bytes, now
        if now - self._quiet_since >= self._idle or now >= self._ends_at:
            self._deadline.reschedule(now)  # expires at once: the handler is cancelled
            return
        self._timer = self._loop.call_later(self._every, self._check)

    def stop(self) -> None:
        self._timer.cancel()


def body_deadline(idle_seconds: float, total_seconds: float = BODY_SECONDS_MAX) -> Middleware:
    """The middleware: 408 for a body that stalls for `idle_seconds` or outlasts
    `total_seconds`, said in the log at most once a minute with the count."""

    def say(count: int, detail: str) -> None:
        log.warning(
            "closed %d connection(s) whose request body stopped coming (latest: %s)",
            count,
            detail,
        )

    stalled = NoiseCounter(say)

    @web.middleware
    async def deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = request.content
        if body.is_eof():
            return await handler(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        ends_at = started + total_seconds
        try:
            async with asyncio.timeout(None) as timer:  # _Watch decides when it expires
                watch = _Watch(body, timer, idle_seconds, ends_at)
                try:
                    return await handler(request)
                finally:
                    watch.stop()
        except TimeoutError:
            if not timer.expired():
                raise  # the handler's own
            stalled.occurred(
                f"{request.method} {request.path}, {body.total_bytes} bytes "
                f"in {loop.time() - started:.0f} s"
            )
            answer = web.Response(status=408, text="The request body stopped coming.\n")
            answer.force_close()
            # Once the answer is out, not after aiohttp's lingering (up to 10 s of reading the
            # rest of a body it did not read, so a client still sending sees its 404 or 413):
            # this body stopped coming.
            if request.transport is not None:
                loop.call_soon(request.transport.close)
            return answer

    return deadline
