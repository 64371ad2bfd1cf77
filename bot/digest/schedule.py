"""When a group's digest fires and which week it covers: `digest` schedule words (`周一 09:00`),
the group's `DigestSchedule` in its timezone, and the local days a period stands for.

A digest fired at local time T covers the seven local days before T's day: the Monday 09:00
digest covers Monday 00:00 to Sunday 24:00 of the week before, in the group's timezone.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from bot.errors import UserError
from bot.model import Group, GroupSettings, Period

log = logging.getLogger(__name__)

DEFAULT_TZ = "Asia/Shanghai"
WEEK = timedelta(days=7)


def _weekday_names() -> dict[str, int]:
    """`mon`, `monday`, `周一`, `星期一`, `礼拜一` ... -> 0 (Monday) to 6."""
    days = (
        ("mon", "monday", "一"),
        ("tue", "tues", "tuesday", "二"),
        ("wed", "wednesday", "三"),
        ("thu", "thur", "thurs", "thursday", "四"),
        ("fri", "friday", "五"),
        ("sat", "saturday", "六"),
        ("sun", "sunday", "日", "天"),
    )
    names: dict[str, int] = {}
    for number, words in enumerate(days):
        for word in words:
            if word.isascii():
                names[word] = number
            else:
                names.update(dict.fromkeys((f"周{word}", f"星期{word}", f"礼拜{word}"), number))
    return names


_WEEKDAYS = _weekday_names()
_WHEN = re.compile(
    r"(?:(?:time|时间)\s*)?(?P<day>[^\d\s:：]+)?\s*(?:(?P<hour>\d{1,2})[:：](?P<minute>\d{2}))?"
)


def parse_when(text: str) -> tuple[int | None, str | None]:
    """`周一 09:00`, `fri 18:30`, `星期五`, `8:00` -> (weekday 0-6 or None, "HH:MM" or None)."""
    match = _WHEN.fullmatch(text.strip().lower())
    if match is None or not (match["day"] or match["hour"]):
        raise UserError("digest_time_invalid", "digest_time_invalid", text=text[:30])
    weekday = None
    if match["day"]:
        weekday = _WEEKDAYS.get(match["day"])
        if weekday is None:
            raise UserError("digest_time_invalid", "digest_time_invalid", text=text[:30])
    clock_time = None
    if match["hour"]:
        hour, minute = int(match["hour"]), int(match["minute"])
        if hour > 23 or minute > 59:
            raise UserError("digest_time_invalid", "digest_time_invalid", text=text[:30])
        clock_time = f"{hour:02d}:{minute:02d}"
    return weekday, clock_time


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a UserError."""
    try:
        if len(name) > 64:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError("digest_tz_invalid", "digest_tz_invalid", tz=name[:64]) from None


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """When a group's digest fires: a weekday and a time in the group's timezone."""

    weekday: int  # 0 is Monday
    hour: int
    minute: int
    tz: ZoneInfo

    @classmethod
    def of(cls, group: Group) -> DigestSchedule:
        """The group's schedule; stored values that no longer parse fall back to defaults."""
        try:
            tz = ZoneInfo(group.tz)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("group %s has an unknown timezone; using %s", group.id, DEFAULT_TZ)
            tz = ZoneInfo(DEFAULT_TZ)
        settings = group.settings
        try:
            _, clock_time = parse_when(settings.digest_time)
            hour, minute = (int(part) for part in (clock_time or "").split(":"))
        except (UserError, ValueError):
            defaults = GroupSettings()
            hour, minute = (int(part) for part in defaults.digest_time.split(":"))
        return cls(settings.digest_weekday % 7, hour, minute, tz)

    def trigger(self) -> CronTrigger:
        return CronTrigger(
            day_of_week=self.weekday, hour=self.hour, minute=self.minute, timezone=self.tz
        )

    def next_fire(self, now: datetime) -> datetime:
        """The first fire time at or after `now` (aware, in the group's timezone)."""
        fire: datetime = self.trigger().get_next_fire_time(None, now)
        return fire

    def last_fire(self, now: datetime) -> datetime:
        """The latest fire time at or before `now`, by the same arithmetic as the trigger."""
        trigger = self.trigger()
        fire: datetime = trigger.get_next_fire_time(None, now - WEEK - timedelta(days=1))
        # Stepping is counted in UTC: local arithmetic drops `fold`, and in the repeated hour
        # of an autumn clock change hands back the same fire time again. The bound makes sure
        # no timezone quirk can ever spin the event loop.
        step = timedelta(seconds=1)
        for _ in range(64):
            after = (fire.astimezone(UTC) + step).astimezone(self.tz)
            following: datetime | None = trigger.get_next_fire_time(None, after)
            if following is None or following > now:
                return fire
            if following.astimezone(UTC) <= fire.astimezone(UTC):
                step += timedelta(hours=1)  # the same wall time, once more: look past it
                continue
            fire, step = following, timedelta(seconds=1)
        return fire

    def midnight(self, day: date) -> datetime:
        """`day`'s local midnight in UTC, floored to the hour (periods are whole UTC hours)."""
        local = datetime.combine(day, time(0), tzinfo=self.tz)
        return local.astimezone(UTC).replace(minute=0, second=0, microsecond=0)

    def week_before(self, fire: datetime) -> Period:
        """The seven local days a digest fired at `fire` covers: up to that day's midnight.

        Its start is the claim key of the (group, week) run.
        """
        day = fire.astimezone(self.tz).date()
        return Period(self.midnight(day - WEEK), self.midnight(day))

    def week_so_far(self, now: datetime) -> Period:
        """The digest week in progress, from its first midnight to the end of today."""
        today = now.astimezone(self.tz).date()
        first = today - timedelta(days=(today.weekday() - self.weekday) % 7)
        return Period(self.midnight(first), self.midnight(today + timedelta(days=1)))


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    """The local date a period boundary stands for (boundaries are local midnights floored to
    the UTC hour, so in a half-hour zone they fall 30 minutes before midnight)."""
    return (instant + timedelta(hours=1)).astimezone(tz).date()
