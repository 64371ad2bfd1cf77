"""A group's week in numbers (`Digest`), built purely from the store's period stats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.digest.schedule import DigestSchedule, local_day
from bot.model import Group, LinkCount, Period, PeriodStats, SharerCount
from bot.stats import change

TOP_N = 5


@dataclass(frozen=True, slots=True)
class WeekNumbers:
    links_shared: int
    human: int
    previews: int
    bots: int
    unique_readers: int

    @classmethod
    def of(cls, stats: PeriodStats) -> WeekNumbers:
        return cls(
            stats.links_shared, stats.human, stats.previews, stats.bots, stats.unique_readers
        )


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date  # in the group's timezone
    human: int


@dataclass(frozen=True, slots=True)
class PlatformShare:
    platform: str
    human: int
    percent: int


@dataclass(frozen=True, slots=True)
class Digest:
    """One group's week in numbers, ready to be rendered in any language."""

    group: Group
    period: Period
    this_week: WeekNumbers
    last_week: WeekNumbers
    links_change: str  # "+25%", "-40%", "new" or "±0%" (bot.stats.change)
    human_change: str
    readers_change: str
    days: tuple[DayCount, ...]
    top_links: tuple[LinkCount, ...]
    top_sharers: tuple[SharerCount, ...]
    platforms: tuple[PlatformShare, ...]
    quiet: bool  # nothing shared and nothing opened: a short note instead of the numbers
    so_far: bool = False  # the week in progress (`digest now`), not a finished week


def build_digest(
    group: Group,
    period: Period,
    this_week: PeriodStats,
    last_week: PeriodStats,
    *,
    so_far: bool = False,
) -> Digest:
    """The digest of `period` (pure): `last_week` is only compared with."""
    now, before = WeekNumbers.of(this_week), WeekNumbers.of(last_week)
    tz = DigestSchedule.of(group).tz
    first = local_day(period.start, tz)
    total = sum(n for _, n in this_week.platforms)
    return Digest(
        group=group,
        period=period,
        this_week=now,
        last_week=before,
        links_change=change(now.links_shared, before.links_shared),
        human_change=change(now.human, before.human),
        readers_change=change(now.unique_readers, before.unique_readers),
        days=tuple(
            DayCount(first + timedelta(days=i), n) for i, n in enumerate(this_week.per_day)
        ),
        top_links=this_week.top_links[:TOP_N],
        top_sharers=this_week.top_sharers[:TOP_N],
        platforms=tuple(
            PlatformShare(p, n, round(n * 100 / total)) for p, n in this_week.platforms[:TOP_N]
        ),
        quiet=now.links_shared == 0 and now.human == 0,
        so_far=so_far,
    )
