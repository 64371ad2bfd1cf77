"""Process logging: one line per event on stderr, with the configured secrets redacted from
every logger's output (libraries included: httpx puts the Telegram token in request URLs).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

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
