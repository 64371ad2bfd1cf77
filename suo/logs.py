"""Process logging: one line per event on stderr, with the configured secrets redacted from
every logger's output (libraries included: httpx puts the Telegram token in request URLs), and
the noise a public port attracts (malformed requests, accept() out of files) counted into one
line per interval.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp.http import HttpProcessingError

log = logging.getLogger(__name__)

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MIN_SECRET = 6  # shorter values would redact ordinary words
_REDACTED = "***"
# A Bot API token in a URL path (`/bot123456:AA.../getMe`), whether or not it is configured here.
_BOT_TOKEN = re.compile(r"(?<=/bot)\d{3,}:[A-Za-z0-9_-]{20,}")


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then replaces each secret (and any Bot API token in a URL) with ***.

    Applied to the whole formatted line, so messages, their arguments and tracebacks are all
    covered, whichever library logged them.
    """

    def __init__(self, secrets: Iterable[str], fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        values = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, values))) if values else None

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def redact(self, text: str) -> str:
        if self._secrets is not None:
            text = self._secrets.sub(_REDACTED, text)
        return _BOT_TOKEN.sub(_REDACTED, text)


def redact_secrets(secrets: Iterable[str]) -> None:
    """From now on, every handler of the root logger writes `secrets` as ***."""
    formatter = RedactingFormatter(secrets)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)


# The loop's message for an accept() the process has no descriptor (or memory) left for.
_ACCEPT_FAILED = "socket.accept() out of system resource"
_OUT_OF = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
NOISE_INTERVAL = 60.0  # seconds between two lines about the same kind of noise
_DETAIL_MAX = 100  # characters of a client's bad request line or header quoted in the log


class OncePerInterval:
    """Counts occurrences of one kind of event and says when a line about them is due: at
    the first, then at most once per `interval`, covering every occurrence since the last."""

    def __init__(
        self, interval: float = NOISE_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._unsaid = 0
        self._said_at: float | None = None

    def count(self) -> int:
        """Count one; returns how many the line due now covers, 0 when none is due."""
        self._unsaid += 1
        now = self._clock()
        if self._said_at is not None and now - self._said_at < self._interval:
            return 0
        self._said_at = now
        covered, self._unsaid = self._unsaid, 0
        return covered


class MalformedRequests(logging.Filter):
    """On aiohttp's server logger: a request aiohttp could not parse (bad request line or
    header, oversize headers, garbage) already got its 400; the ERROR with a traceback aiohttp
    logs for each would let any scanner fill the disk. One INFO line per interval instead, with
    the count; the handlers' own failures (500s) pass unchanged."""

    def __init__(self, once: OncePerInterval | None = None) -> None:
        super().__init__()
        self._once = once or OncePerInterval()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        covered = self._once.count()
        if not covered:
            return False
        record.msg = (
            "answered %d malformed HTTP request(s) with 400 since the last such line (latest: %s)"
        )
        # aiohttp's message spans lines (the bad line, a caret under the fault): keep one.
        record.args = (covered, " ".join(str(exc.message).split())[:_DETAIL_MAX])
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.exc_info = record.exc_text = None
        return True


def quiet_malformed_requests() -> None:
    """From now on aiohttp's server logger counts malformed requests (once per process)."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server_log.filters):
        server_log.addFilter(MalformedRequests())


def accept_failures_handler(
    open_files: int, idle_seconds: float, once: OncePerInterval | None = None
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """A loop exception handler that says "out of open files" once per interval, without a
    traceback: asyncio logs every failed accept(), up to a listen backlog's worth per
    retry, megabytes a minute while idle connections hold every descriptor. The rest goes to
    the loop's default handler."""
    once = once or OncePerInterval()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if context.get("message") != _ACCEPT_FAILED or not (
            isinstance(exc, OSError) and exc.errno in _OUT_OF
        ):
            loop.default_exception_handler(context)
            return
        covered = once.count()
        if covered:
            log.error(
                "cannot accept connections: %s (open-files limit %d), %d failed accept(s) "
                "since the last such line; connections idle for %g s are closed",
                exc.strerror,
                open_files,
                covered,
                idle_seconds,
            )

    return handle
