"""The weekly digest: what a group shared and read in a week, as text and a chart, and the
`digest` command where admins set when it comes (or look at the week so far).

A digest fired at local time T covers the seven local days before T's day: the Monday 09:00
digest covers Monday 00:00 to Sunday 24:00 of the week before, in the group's timezone.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from bot.chart import Bar, BarChart, ChartFonts, render_bar_chart
from bot.clock import Clock
from bot.context import Context
from bot.errors import UserError
from bot.i18n import translate
from bot.model import (
    Group,
    GroupSettings,
    LinkCount,
    Period,
    PeriodStats,
    Reply,
    ReplyImage,
    SharerCount,
)
from bot.policy import platform_name
from bot.stats import change
from bot.storage import GroupsAndBindings, StatsReader

log = logging.getLogger(__name__)

TOP_N = 5
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
_ON = frozenset({"on", "开", "开启", "打开"})
_OFF = frozenset({"off", "关", "关闭"})
_NOW = frozenset({"now", "现在", "预览", "立即"})
_TZ = frozenset({"tz", "timezone", "时区"})
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


def _date(day: date, lang: str) -> str:
    month = translate(lang, "digest_month_names").split(",")[day.month - 1]
    return translate(lang, "digest_date", month_name=month, day=day.day)


def _weekday(number: int, lang: str) -> str:
    return translate(lang, "digest_weekdays").split(",")[number]


def _dates(digest: Digest, lang: str) -> str:
    tz = DigestSchedule.of(digest.group).tz
    first = local_day(digest.period.start, tz)
    last = local_day(digest.period.end, tz) - timedelta(days=1)
    return f"{_date(first, lang)}–{_date(last, lang)}"


def _changed(value: str, lang: str) -> str:
    return translate(lang, "digest_change_new") if value == "new" else value


def _short(url: str, limit: int = 60) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"


def render_digest_text(digest: Digest, lang: str, public_url: str) -> str:
    """The digest as plain text (a Telegram message, a WeCom markdown body)."""
    t = partial(translate, lang)
    head = "digest_so_far_title" if digest.so_far else "digest_title"
    lines = [t(head, title=digest.group.title, dates=_dates(digest, lang))]
    if digest.quiet:
        lines.append(t("digest_quiet_so_far" if digest.so_far else "digest_quiet"))
        return "\n".join(lines)
    week = digest.this_week
    lines.append(
        t(
            "digest_numbers",
            links=week.links_shared,
            human=week.human,
            readers=week.unique_readers,
            previews=week.previews,
            bots=week.bots,
        )
    )
    changes = (digest.links_change, digest.human_change, digest.readers_change)
    if all(change == "new" for change in changes):
        # A group's first week (or the first after a silent one): no percentages to show.
        lines.append(t("digest_changes_none"))
    else:
        lines.append(
            t(
                "digest_changes_so_far" if digest.so_far else "digest_changes",
                links=_changed(digest.links_change, lang),
                human=_changed(digest.human_change, lang),
                readers=_changed(digest.readers_change, lang),
            )
        )
    base = public_url.rstrip("/")
    if digest.top_links:
        lines.append(t("digest_top_links"))
        lines += [
            t(
                "digest_link_line",
                index=i,
                short=f"{base}/{link.code}",
                human=link.human,
                sharer=link.sharer or "-",
                url=_short(link.url),
            )
            for i, link in enumerate(digest.top_links, start=1)
        ]
    if digest.top_sharers:
        lines.append(t("digest_top_sharers"))
        lines += [
            t("digest_sharer_line", index=i, name=s.name, links=s.links, human=s.human)
            for i, s in enumerate(digest.top_sharers, start=1)
        ]
    if digest.platforms:
        separator = "、" if lang.startswith("zh") else ", "
        mix = separator.join(
            f"{platform_name(p.platform, lang)} {p.percent}%" for p in digest.platforms
        )
        lines.append(t("digest_platforms", mix=mix))
    return "\n".join(lines)


def digest_chart(digest: Digest, lang: str) -> BarChart:
    """What the chart shows: human opens per local day, under the group's title."""
    t = partial(translate, lang)
    week = digest.this_week
    return BarChart(
        title=digest.group.title,
        subtitle=t("digest_chart_subtitle", dates=_dates(digest, lang)),
        bars=tuple(
            Bar(_weekday(d.day.weekday(), lang), f"{d.day.month}/{d.day.day}", d.human)
            for d in digest.days
        ),
        footer=t(
            "digest_chart_footer_first" if digest.human_change == "new" else "digest_chart_footer",
            human=week.human,
            previews=week.previews,
            readers=week.unique_readers,
            change=digest.human_change,
        ),
    )


def render_digest_chart(digest: Digest, lang: str, fonts: ChartFonts | None = None) -> bytes:
    """The chart as PNG. Without a Chinese font the labels are English (never boxes).
    CPU-bound: call it through asyncio.to_thread."""
    fonts = fonts or ChartFonts.find()
    if not fonts.has_cjk:
        lang = "en"
    return render_bar_chart(digest_chart(digest, lang), fonts)


@dataclass(frozen=True, slots=True)
class WrittenDigest:
    digest: Digest
    text: str
    chart: bytes | None  # None for a quiet week: an empty chart tells nothing


class DigestWriter:
    """Reads a week's numbers from the store and writes its digest: text and chart."""

    def __init__(self, store: StatsReader, public_url: str, fonts: ChartFonts) -> None:
        self._store = store
        self._public_url = public_url
        self._fonts = fonts

    async def week_before(self, group: Group, fire: datetime) -> WrittenDigest:
        """The finished week a digest fired at `fire` covers, compared with the week before."""
        period = DigestSchedule.of(group).week_before(fire)
        return await self._write(group, period, Period(period.start - WEEK, period.start))

    async def so_far(self, group: Group, now: datetime) -> WrittenDigest:
        """The week in progress, compared with the same hours a week earlier."""
        period = DigestSchedule.of(group).week_so_far(now)
        hour = Period.last_days(0, now).end  # the end of the current hour
        return await self._write(
            group, period, Period(period.start - WEEK, hour - WEEK), so_far=True
        )

    async def _write(
        self, group: Group, period: Period, before: Period, *, so_far: bool = False
    ) -> WrittenDigest:
        this_week = await self._store.period_stats(group.id, period, top=TOP_N)
        last_week = await self._store.period_stats(group.id, before, top=0)
        digest = build_digest(this_week.group, period, this_week, last_week, so_far=so_far)
        lang = digest.group.lang
        text = render_digest_text(digest, lang, self._public_url)
        chart = None
        if not digest.quiet:
            chart = await asyncio.to_thread(render_digest_chart, digest, lang, self._fonts)
        return WrittenDigest(digest, text, chart)


async def _nothing(group: Group) -> None:
    return None


class DigestReplies:
    """`digest`: show the schedule; admins: `on|off`, `<weekday> <HH:MM>`, `tz <zone>`, `now`."""

    def __init__(
        self,
        store: GroupsAndBindings,
        writer: DigestWriter,
        clock: Clock,
        *,
        enabled: bool = True,
        on_schedule_changed: Callable[[Group], Awaitable[None]] = _nothing,
    ) -> None:
        self._store = store
        self._writer = writer
        self._clock = clock
        self._enabled = enabled  # the operator's switch (digest.enabled)
        self._on_schedule_changed = on_schedule_changed

    async def digest_command(self, ctx: Context, args: str) -> list[Reply]:
        word, _, rest = args.strip().partition(" ")
        word = word.lower()
        if not word:
            return [Reply(await self._described(ctx, ctx.group, usage=True))]
        if not ctx.is_admin:
            raise UserError("admin_only", "admin_only")
        if word in _NOW:
            return await self._so_far(ctx)
        group = ctx.group
        settings = group.settings
        if word in _ON | _OFF:
            settings = replace(settings, digest_enabled=word in _ON)
        elif word in _TZ:
            name = rest.strip()
            if not name:
                raise UserError("digest_usage", "digest_usage")
            zone(name)
            await self._store.set_group_tz(group.id, name)
            group = replace(group, tz=name)
        else:
            weekday, clock_time = parse_when(args)
            settings = replace(
                settings,
                digest_enabled=True,
                digest_weekday=settings.digest_weekday if weekday is None else weekday,
                digest_time=clock_time or settings.digest_time,
            )
        if settings != group.settings:
            await self._store.set_group_settings(group.id, settings)
            group = replace(group, settings=settings)
        log.info(
            "digest schedule changed platform=%s chat=%s enabled=%s weekday=%d time=%s tz=%s",
            group.platform,
            group.chat_id,
            settings.digest_enabled,
            settings.digest_weekday,
            settings.digest_time,
            group.tz,
        )
        await self._on_schedule_changed(group)
        return [Reply(await self._described(ctx, group))]

    async def _described(self, ctx: Context, group: Group, *, usage: bool = False) -> str:
        schedule = DigestSchedule.of(group)
        weekday = _weekday(schedule.weekday, ctx.lang)
        at = f"{schedule.hour:02d}:{schedule.minute:02d}"
        if group.settings.digest_enabled:
            fire = schedule.next_fire(self._clock())
            upcoming = ctx.t(
                "digest_next",
                date=_date(fire.date(), ctx.lang),
                weekday=_weekday(fire.weekday(), ctx.lang),
                time=fire.strftime("%H:%M"),
            )
            lines = [ctx.t("digest_show_on", weekday=weekday, time=at, tz=group.tz, next=upcoming)]
        else:
            lines = [ctx.t("digest_show_off", weekday=weekday, time=at, tz=group.tz)]
        if not self._enabled:
            lines.append(ctx.t("digest_operator_off"))
        hint = await self.delivery_hint(ctx)
        if hint:
            lines.append(hint)
        if usage:
            lines.append(ctx.t("digest_usage"))
        return "\n".join(lines)

    async def delivery_hint(self, ctx: Context) -> str:
        """How to let digests reach the group, when they cannot yet ("" when they can)."""
        if ctx.group.platform != "wecom":
            return ""
        binding = await self._store.webhook_for(ctx.group.id)
        if binding is not None and binding.invalid_since is None:
            return ""
        return ctx.t("digest_unbound_hint")

    async def _so_far(self, ctx: Context) -> list[Reply]:
        written = await self._writer.so_far(ctx.group, self._clock())
        text = written.text
        hint = await self.delivery_hint(ctx)
        if hint:
            text += "\n\n" + hint
        images: tuple[ReplyImage, ...] = ()
        if written.chart is not None:
            images = (ReplyImage(written.chart, "digest.png", ctx.t("digest_chart_alt"), "chart"),)
        return [Reply(text, images)]
