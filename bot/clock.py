"""Time as a dependency: features take a `Clock` so tests can fix the date.

Production code passes `utc_now`; nothing else calls `datetime.now()`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
