"""Time as a dependency: features take a `Clock` so tests can fix the date.

Production code passes `utc_now`. What a test must control reads a `Clock`; only stamps no
test checks read the system clock directly (a group's creation time, WeCom's signatures).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def epoch_seconds(clock: Clock) -> Callable[[], float]:
    """`clock` as epoch seconds: `time.time` itself for the real clock (hot paths call this
    per request; a datetime per call costs more), the injected clock's reading otherwise."""
    if clock is utc_now:
        return time.time
    return lambda: clock().timestamp()


def group_zone(tz: str) -> tzinfo:
    """A group's time zone; UTC when its name is unknown to this system."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local_time(when: datetime, tz: str) -> str:
    """`when` as the group reads it, always with its zone: "2026-11-30 17:30 (Asia/Shanghai)".
    One zone per group (its digest zone), in chat replies and on pages alike."""
    zone = group_zone(tz)
    moment = when if when.tzinfo else when.replace(tzinfo=UTC)
    name = "UTC" if zone is UTC else tz
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} ({name})"
