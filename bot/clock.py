"""Time as a dependency: features take a `Clock` so tests can fix the date.

Production code passes `utc_now`; nothing else calls `datetime.now()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def epoch_seconds(clock: Clock) -> Callable[[], float]:
    """`clock` as epoch seconds: `time.time` itself for the real clock (hot paths call this
    per request; a datetime per call costs more), the injected clock's reading otherwise."""
    if clock is utc_now:
        return time.time
    return lambda: clock().timestamp()
