"""Group statistics: what a group shared and what its members read, for a period.

The store answers `period_stats` from rollups (clicks per link and hour, readers per link and
day), never from raw clicks; this module answers the chat commands `stats [7d|30d]`, `top`
and `mine`, and words what others reuse: periods (`parse_period`), changes (`change`).
"""

from __future__ import annotations

from bot.bindings import working_key
from bot.clock import Clock
from bot.commands import Commands, Words, command, helps
from bot.context import Context
from bot.errors import UserError
from bot.model import LinkCount, Period, PeriodStats, Reply
from bot.policy import platform_name
from bot.storage import StatsAndBindings

TOP_N = 5
_PERIODS = {"7d": 7, "30d": 30, "7": 7, "30": 30, "7天": 7, "30天": 30, "week": 7, "month": 30}


def change(now: int, before: int) -> str:
    """`+25%`, `-40%`, `new` or `±0%`: week-over-week, for people."""
    if before == 0:
        return "new" if now else "±0%"
    pct = round((now - before) * 100 / before)
    return f"{pct:+d}%" if pct else "±0%"


def platform_mix(stats: PeriodStats, lang: str) -> str:
    total = sum(n for _, n in stats.platforms) or 1
    return "、".join(
        f"{platform_name(p, lang)} {round(n * 100 / total)}%" for p, n in stats.platforms[:5]
    )


def _short(url: str, limit: int = 60) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"


def parse_period(args: str) -> int:
    word = args.strip().lower()
    if not word:
        return 7
    days = _PERIODS.get(word)
    if days is None:
        raise UserError("stats_usage", "stats_usage")
    return days


class StatsReplies(Commands):
    def __init__(self, store: StatsAndBindings, clock: Clock, public_url: str = "") -> None:
        self._store = store
        self._clock = clock
        self._public_url = public_url.rstrip("/")

    @command("stats", "统计", menu=Words("本群统计", "group stats"))
    @helps("/stats [7d|30d] 本群统计", "/stats [7d|30d] this group's numbers")
    async def stats_command(self, ctx: Context, args: str) -> list[Reply]:
        days = parse_period(args)
        stats = await self._store.period_stats(
            ctx.group.id, Period.last_days(days, self._clock()), top=TOP_N
        )
        lines = [
            ctx.t(
                "stats_head",
                days=days,
                links=stats.links_shared,
                human=stats.human,
                previews=stats.previews,
                bots=stats.bots,
                readers=stats.unique_readers,
            )
        ]
        if stats.top_links:
            lines.append(ctx.t("board_top_links"))
            lines += self._link_lines(ctx, stats.top_links)
        if stats.top_sharers:
            lines.append(ctx.t("board_top_sharers"))
            lines += [
                ctx.t("board_sharer_line", index=i, name=s.name, links=s.links, human=s.human)
                for i, s in enumerate(stats.top_sharers, start=1)
            ]
        if stats.platforms:
            lines.append(ctx.t("board_platforms", mix=platform_mix(stats, ctx.lang)))
        if (
            ctx.group.platform == "wecom"
            and await ctx.is_admin()
            and working_key(await self._store.webhook_for(ctx.group.id)) is None
        ):
            lines.append(ctx.t("digest_unbound_hint"))
        return [Reply("\n".join(lines))]

    def _link_lines(self, ctx: Context, links: tuple[LinkCount, ...]) -> list[str]:
        return [
            ctx.t(
                "board_link_line",
                index=i,
                short=f"{self._public_url}/{link.code}",
                url=_short(link.url),
                human=link.human,
                sharer=link.sharer or "-",
            )
            for i, link in enumerate(links, start=1)
        ]

    @command("top", "热门", menu=Words("热门链接", "most opened links"))
    @helps("/top 热门链接", "/top most opened")
    async def top_command(self, ctx: Context, args: str) -> list[Reply]:
        days = parse_period(args)
        stats = await self._store.period_stats(
            ctx.group.id, Period.last_days(days, self._clock()), top=10
        )
        if not stats.top_links:
            return [Reply(ctx.t("stats_nothing", days=days))]
        head = ctx.t("top_head", days=days)
        return [Reply("\n".join([head, *self._link_lines(ctx, stats.top_links)]))]

    @command("mine", "我的", menu=Words("我的链接", "my links"))
    @helps("/mine 我分享的链接", "/mine your links")
    async def mine_command(self, ctx: Context, args: str) -> list[Reply]:
        days = parse_period(args)
        links = await self._store.sharer_links(
            ctx.group.id, ctx.sharer_id, Period.last_days(days, self._clock()), top=10
        )
        if not links:
            return [Reply(ctx.t("mine_nothing", days=days))]
        total = sum(link.human for link in links)
        head = ctx.t("mine_head", days=days, links=len(links), human=total)
        return [Reply("\n".join([head, *self._link_lines(ctx, tuple(links))]))]
