"""Process logging: one line per event on stderr, with the configured secrets redacted from
every logger's output (libraries included: httpx puts the Telegram token in request URLs), and
the noise a public port attracts (malformed requests, accept() out of files) counted into one
line per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
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
# A WeCom group robot's key (`.../cgi-bin/webhook/send?key=...`): bound in chat, so it is in the
# database, not the config, yet it lets anyone post to that group.
_ROBOT_KEY = re.compile(r"(?<=/cgi-bin/webhook/send\?key=)[^&\s'\"<>]+")


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then replaces each secret (and any Bot API token or WeCom robot key in a
    URL) with ***.

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
        return _ROBOT_KEY.sub(_REDACTED, _BOT_TOKEN.sub(_REDACTED, text))


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


class NoiseCounter:
    """Counts one kind of noise and says it in at most one line per `interval`: the first
    occurrence at once, the ones after it when the interval is over (a timer on the running
    loop), with their count and the latest detail."""

    def __init__(
        self,
        say: Callable[[int, str], None],
        interval: float = NOISE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._say = say
        self._interval = interval
        self._clock = clock
        self._unsaid = 0
        self._latest = ""
        self._said_at: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def occurred(self, detail: str) -> None:
        self._unsaid += 1
        self._latest = detail
        now = self._clock()
        if self._said_at is None or now - self._said_at >= self._interval:
            self.say_unsaid()
        elif self._timer is None:
            with contextlib.suppress(RuntimeError):  # no loop: the next occurrence says them
                loop = asyncio.get_running_loop()
                delay = self._said_at + self._interval - now
                self._timer = loop.call_later(delay, self.say_unsaid)

    def say_unsaid(self) -> None:
        """Say what was counted since the last line (nothing when none was)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._unsaid:
            covered, self._unsaid = self._unsaid, 0
            self._said_at = self._clock()
            self._say(covered, self._latest)


class MalformedRequests(logging.Filter):
    """On aiohttp's server logger: a request aiohttp could not parse (bad request line or
    header, oversize headers, garbage) already got its 400; the ERROR with a traceback aiohttp
    logs for each would let any scanner fill the disk. They are counted into one INFO line per
    interval instead; the handlers' own failures (500s) pass unchanged."""

    def __init__(self, interval: float = NOISE_INTERVAL) -> None:
        super().__init__()
        self.counter = NoiseCounter(self._say, interval)

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        # aiohttp's message spans lines (the bad line, a caret under the fault): keep one.
        self.counter.occurred(" ".join(str(exc.message).split())[:_DETAIL_MAX])
        return False

    @staticmethod
    def _say(count: int, latest: str) -> None:
        log.info("answered %d malformed HTTP request(s) with 400 (latest: %s)", count, latest)


def quiet_malformed_requests() -> None:
    """From now on aiohttp's server logger counts malformed requests (once per process)."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server_log.filters):
        server_log.addFilter(MalformedRequests())


def accept_failures_handler(
    open_files: int, idle_seconds: float, interval: float = NOISE_INTERVAL
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """A loop exception handler that says "out of open files" in one line per interval,
    without a traceback: asyncio logs every failed accept(), up to a listen backlog's worth
    per retry, megabytes a minute while idle connections hold every descriptor. The rest goes
    to the loop's default handler."""

    def say(count: int, reason: str) -> None:
        log.error(
            "cannot accept connections: %s (open-files limit %d), %d failed accept(s); "
            "connections idle for %g s are closed",
            reason,
            open_files,
            count,
            idle_seconds,
        )

    counter = NoiseCounter(say, interval)

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if context.get("message") == _ACCEPT_FAILED and (
            isinstance(exc, OSError) and exc.errno in _OUT_OF
        ):
            counter.occurred(exc.strerror or str(exc))
        else:
            loop.default_exception_handler(context)

    return handle
