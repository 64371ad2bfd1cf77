"""`GET /dashboard/{token}`: a group's numbers for the last 7 or 30 days as one HTML page.

The signed token (bot/dashboard.py) is the only key; the page is never cached, indexed or
sent on as a referrer, and a refused or failed request says so without naming why in detail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from urllib.parse import urlsplit

from aiohttp import web
from babel.dates import format_date

from bot.clock import Clock, group_zone
from bot.dashboard import DashboardLinks
from bot.i18n import texts, translate
from bot.model import LinkCount, Period, PeriodStats
from bot.policy import platform_name
from bot.storage import StatsReader
from redirector.pages import TEMPLATES, page_lang, render_message, render_page

log = logging.getLogger(__name__)

PERIODS = (7, 30)
TOP_N = 10
_BAR_AREA = 55  # percent of the chart's width the longest bar takes; its number goes after
_HEADERS = {
    "Cache-Control": "no-store",
    # The token is in the URL: no referrer may carry it to a destination a reader opens.
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    # Nothing but the page itself: even markup that slipped past escaping could run nothing.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
}
# Dates and weekday names come from Babel's CLDR data in the page's language.
_LOCALES = {"zh-CN": "zh_CN", "en": "en"}
_DATE_PATTERNS = {"zh-CN": "M月d日", "en": "MMM d"}


@dataclass(frozen=True, slots=True)
class DayBar:
    """One day of the chart; `width` is a percentage of the chart's width."""

    day: str
    weekday: str
    count: str
    width: str


@dataclass(frozen=True, slots=True)
class TopLink:
    short_link: str  # the public short link without its scheme
    url: str
    host: str  # `url` shown as host (emphasized) and the rest; "" when it has no host
    rest: str
    is_web: bool
    sharer: str | None
    human: str

    @classmethod
    def of(cls, link: LinkCount, public_url: str) -> TopLink:
        parts = urlsplit(link.url)
        after_scheme = link.url.partition("://")[2]
        host = parts.netloc if parts.netloc and after_scheme.startswith(parts.netloc) else ""
        return cls(
            short_link=f"{public_url}/{link.code}".partition("://")[2],
            url=link.url,
            host=host,
            rest=after_scheme[len(host) :] if host else link.url,
            is_web=parts.scheme.lower() in ("http", "https"),
            sharer=link.sharer,
            human=_number(link.human),
        )


@dataclass(frozen=True, slots=True)
class Share:
    name: str
    count: str
    percent: int


def _number(n: int) -> str:
    return f"{n:,}"


def _date(moment: datetime, lang: str) -> str:
    """ "Dec 3" or "12月3日": CLDR's month-and-day pattern of the page's language."""
    return format_date(moment, _DATE_PATTERNS[lang], locale=_LOCALES[lang])


def day_bars(stats: PeriodStats, zone: tzinfo, lang: str) -> list[DayBar]:
    """A bar per 24 hours from the period's start, named by the date it ends on in the group's
    time zone (the last one is today)."""
    top = max(stats.per_day, default=0) or 1
    bars = []
    for index, count in enumerate(stats.per_day):
        last_hour = (stats.period.start + timedelta(days=index + 1, hours=-1)).astimezone(zone)
        bars.append(
            DayBar(
                day=f"{last_hour.month}/{last_hour.day}",
                weekday=format_date(last_hour, "EEE", locale=_LOCALES[lang]),
                count=_number(count),
                width=f"{count * _BAR_AREA / top:.1f}",
            )
        )
    return bars


def _shares(stats: PeriodStats, lang: str) -> list[Share]:
    total = sum(n for _, n in stats.platforms) or 1
    return [
        Share(
            platform_name(p, lang),
            _number(n),
            round(n * 100 / total),
        )
        for p, n in stats.platforms
    ]


def render_dashboard(
    stats: PeriodStats, *, days: int, public_url: str, now: datetime, accept_language: str
) -> str:
    lang = page_lang(accept_language)
    zone = group_zone(stats.group.tz)
    bars = day_bars(stats, zone, lang)
    local_now = now.astimezone(zone)
    first = (stats.period.start + timedelta(days=1, hours=-1)).astimezone(zone)
    top_links = [TopLink.of(link, public_url) for link in stats.top_links]
    return TEMPLATES.get_template("dashboard.html").render(
        lang=lang,
        t=texts(lang, "dashboard"),
        group_title=stats.group.title,
        days=days,
        periods=PERIODS,
        span=translate(
            lang, "dashboard.span", start=_date(first, lang), end=_date(local_now, lang)
        ),
        updated=translate(
            lang, "dashboard.updated", time=local_now.strftime("%H:%M"), tz=stats.group.tz
        ),
        links_shared=_number(stats.links_shared),
        human=_number(stats.human),
        readers=_number(stats.unique_readers),
        previews=_number(stats.previews),
        bots=_number(stats.bots),
        previews_and_bots=_number(stats.previews + stats.bots),
        bars=bars,
        row_height=30 if len(bars) <= 7 else 22,
        top_links=top_links,
        top_sharers=[(s.name, _number(s.links), _number(s.human)) for s in stats.top_sharers],
        shares=_shares(stats, lang),
    )


def render_refused(accept_language: str) -> str:
    """The 403 page for a token that is wrong, tampered with or expired: one sentence for all."""
    return render_message("dashboard.refused", page_lang(accept_language))


class DashboardPages:
    def __init__(self, store: StatsReader, links: DashboardLinks, clock: Clock) -> None:
        self._store = store
        self._links = links
        self._clock = clock

    @staticmethod
    def _html(status: int, html: str) -> web.Response:
        return web.Response(status=status, text=html, content_type="text/html", headers=_HEADERS)

    async def show(self, request: web.Request) -> web.StreamResponse:
        accept_language = request.headers.get("Accept-Language", "")
        now = self._clock()
        group_id = self._links.verify(request.match_info["token"], now)
        if group_id is None:
            return self._html(403, render_refused(accept_language))
        days = 30 if request.query.get("days") == "30" else 7
        try:
            stats = await self._store.period_stats(
                group_id, Period.last_days(days, now), top=TOP_N
            )
        except KeyError:
            # A genuine token for a group this database does not have (another deployment's
            # database under the same secret): as good as a wrong token.
            log.warning("dashboard for unknown group=%d", group_id)
            return self._html(403, render_refused(accept_language))
        except Exception:
            log.exception("dashboard stats failed group=%d", group_id)
            return self._html(503, render_page("unavailable", accept_language))
        html = render_dashboard(
            stats,
            days=days,
            public_url=self._links.public_url,
            now=now,
            accept_language=accept_language,
        )
        return self._html(200, html)


def add_dashboard_routes(
    app: web.Application, store: StatsReader, links: DashboardLinks, clock: Clock
) -> None:
    """`GET /dashboard/{token}[?days=7|30]` on the redirector app."""
    pages = DashboardPages(store, links, clock)
    app.router.add_get("/dashboard/{token}", pages.show)
