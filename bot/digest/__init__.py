"""The weekly digest, one module per job: `schedule` (when it fires, which week it covers),
`build` (the week in numbers), `render` (text and chart) and `command` (the `digest` command).

What the rest of the house imports is re-exported here. Sending each digest exactly once is
`bot.scheduler`'s; delivery per platform is `adapters.digests`'.
"""

from bot.digest.build import TOP_N, DayCount, Digest, PlatformShare, WeekNumbers, build_digest
from bot.digest.command import DigestReplies
from bot.digest.render import (
    DigestWriter,
    WrittenDigest,
    digest_chart,
    render_digest_chart,
    render_digest_text,
)
from bot.digest.schedule import DEFAULT_TZ, WEEK, DigestSchedule, local_day, parse_when, zone

__all__ = [
    "DEFAULT_TZ",
    "TOP_N",
    "WEEK",
    "DayCount",
    "Digest",
    "DigestReplies",
    "DigestSchedule",
    "DigestWriter",
    "PlatformShare",
    "WeekNumbers",
    "WrittenDigest",
    "build_digest",
    "digest_chart",
    "local_day",
    "parse_when",
    "render_digest_chart",
    "render_digest_text",
    "zone",
]
