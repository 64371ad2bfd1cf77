"""A digest written out: its text and its chart (PNG) in the group's language, and the
`DigestWriter` that reads a week from the store and writes both."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

from bot.chart import Bar, BarChart, ChartFonts, render_bar_chart
from bot.digest.build import TOP_N, Digest, build_digest
from bot.digest.schedule import WEEK, DigestSchedule, local_day
from bot.i18n import translate
from bot.model import Group, Period
from bot.policy import platform_name
from bot.storage import StatsReader


def date_text(day: date, lang: str) -> str:
    month = translate(lang, "digest_month_names").split(",")[day.month - 1]
    return translate(lang, "digest_date", month_name=month, day=day.day)


def weekday_name(number: int, lang: str) -> str:
    return translate(lang, "digest_weekdays").split(",")[number]


def _dates(digest: Digest, lang: str) -> str:
    tz = DigestSchedule.of(digest.group).tz
    first = local_day(digest.period.start, tz)
    last = local_day(digest.period.end, tz) - timedelta(days=1)
    return f"{date_text(first, lang)}–{date_text(last, lang)}"


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
        lines.append(t("board_top_links"))
        lines += [
            t(
                "board_link_line",
                index=i,
                short=f"{base}/{link.code}",
                human=link.human,
                sharer=link.sharer or "-",
                url=_short(link.url),
            )
            for i, link in enumerate(digest.top_links, start=1)
        ]
    if digest.top_sharers:
        lines.append(t("board_top_sharers"))
        lines += [
            t("board_sharer_line", index=i, name=s.name, links=s.links, human=s.human)
            for i, s in enumerate(digest.top_sharers, start=1)
        ]
    if digest.platforms:
        separator = "、" if lang.startswith("zh") else ", "
        mix = separator.join(
            f"{platform_name(p.platform, lang)} {p.percent}%" for p in digest.platforms
        )
        lines.append(t("board_platforms", mix=mix))
    return "\n".join(lines)


def digest_chart(digest: Digest, lang: str) -> BarChart:
    """What the chart shows: human opens per local day, under the group's title."""
    t = partial(translate, lang)
    week = digest.this_week
    return BarChart(
        title=digest.group.title,
        subtitle=t("digest_chart_subtitle", dates=_dates(digest, lang)),
        bars=tuple(
            Bar(weekday_name(d.day.weekday(), lang), f"{d.day.month}/{d.day.day}", d.human)
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
