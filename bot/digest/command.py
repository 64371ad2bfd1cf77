"""The `digest` command: members see when the group's digest comes; admins switch it on or
off, set its weekday, time and timezone, or look at the week so far."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot.bindings import working_key
from bot.clock import Clock
from bot.commands import Commands, Words, command, helps
from bot.context import Context
from bot.digest.render import DigestWriter, date_text, weekday_name
from bot.digest.schedule import DigestSchedule, parse_when, zone
from bot.errors import UserError
from bot.model import Group, Reply, ReplyImage
from bot.storage import GroupsAndBindings

log = logging.getLogger(__name__)

_ON = frozenset({"on", "开", "开启", "打开"})
_OFF = frozenset({"off", "关", "关闭"})
_NOW = frozenset({"now", "现在", "预览", "立即"})
_TZ = frozenset({"tz", "timezone", "时区"})


async def _nothing(group: Group) -> None:
    return None


class DigestReplies(Commands):
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

    @command("digest", "周报", menu=Words("周报设置", "weekly digest"))
    @helps("/digest 每周周报（管理员可设置时间）", "/digest the weekly digest (admins set it)")
    async def digest_command(self, ctx: Context, args: str) -> list[Reply]:
        word, _, rest = args.strip().partition(" ")
        word = word.lower()
        if not word:
            return [Reply(await self._described(ctx, ctx.group, usage=True))]
        if not await ctx.is_admin():
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
        weekday = weekday_name(schedule.weekday, ctx.lang)
        at = f"{schedule.hour:02d}:{schedule.minute:02d}"
        if group.settings.digest_enabled:
            fire = schedule.next_fire(self._clock())
            upcoming = ctx.t(
                "digest_next",
                date=date_text(fire.date(), ctx.lang),
                weekday=weekday_name(fire.weekday(), ctx.lang),
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
        if working_key(await self._store.webhook_for(ctx.group.id)) is not None:
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
