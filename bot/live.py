"""活码 (live codes): a permanent short link and poster QR whose target the group's admins swap,
with a pool of targets that scans move through as each fills up or expires, and reminders.

`LiveReplies` is the `/live` (`/活码`) command; `LiveWatch` sends the reminders (exactly once,
claimed in storage); the redirector's live branch picks the target through the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import qrcode
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from PIL import Image, ImageDraw
from qrcode.image.pil import PilImage

from bot.chart import ChartFonts, PlacedText, draw_text
from bot.clock import Clock, local_time
from bot.commands import Commands, Words, command, helps
from bot.context import Context
from bot.errors import UserError
from bot.i18n import translate
from bot.links import Shortener, new_code
from bot.model import Group, LiveCode, LiveTarget, Reply, ReplyImage
from bot.photos import MAX_IMAGE_BYTES, load_chat_image
from bot.purposes import Purpose, url_purpose
from bot.qr import decode_qr_codes, url_in_payload
from bot.scheduler import DigestChannel, process_owner, repeat_every
from bot.settings import parse_duration, parse_max
from bot.storage import CodeTaken, LiveAdmin, LiveNameTaken, LiveWatching
from bot.urls import host_of, link_in_argument

log = logging.getLogger(__name__)

# A WeChat group QR stops working 7 days after WeChat made it; upload day is our best guess.
WECHAT_GROUP_QR_LIFETIME = timedelta(days=7)
WARN_BEFORE_EXPIRY = timedelta(hours=24)
CHECK_EVERY = timedelta(minutes=10)
# A dry pool wakes the check from every scan that finds it dry: at most this often.
NUDGE_EVERY = timedelta(seconds=30)
_REMINDER_LEASE = timedelta(minutes=10)
_MAX_CODE_DRAWS = 8
_NAME = re.compile(r"[\w.\-]{1,32}")
_OPTION = re.compile(r"(?P<key>[\w\-\u4e00-\u9fff]+)[=＝](?P<value>\S+)")
_CAP_NAMES = frozenset({"cap", "max", "上限", "人数", "次数"})
_EXPIRY_NAMES = frozenset({"expires", "expiry", "expire", "有效期", "过期"})
_HISTORY_SHOWN = 5

_ACTIONS = {
    **dict.fromkeys(("create", "new", "创建", "新建"), "create"),
    **dict.fromkeys(("set", "switch", "设置", "更换", "换"), "set"),
    **dict.fromkeys(("add", "添加", "加", "备用"), "add"),
    **dict.fromkeys(("list", "ls", "列表", "全部"), "list"),
    **dict.fromkeys(("show", "info", "查看", "详情"), "show"),
    **dict.fromkeys(("drop", "rm", "移除"), "drop"),
    **dict.fromkeys(("delete", "del", "remove", "删除"), "delete"),
}
_CHANGES = frozenset({"create", "set", "add", "drop", "delete"})


def is_wechat_group_qr(url: str) -> bool:
    """`https://weixin.qq.com/g/…`: a WeChat group's join QR (7 days, 200 members)."""
    try:
        return url_purpose(url) is Purpose.INVITE and host_of(url).lower() == "weixin.qq.com"
    except ValueError:
        return False


# -- the pool, as pure functions over its targets ------------------------------------------------


class TargetState(StrEnum):
    CURRENT = "current"  # scans go here now
    WAITING = "waiting"  # usable, after the current one
    FULL = "full"
    EXPIRED = "expired"
    RETIRED = "retired"  # replaced by `live set`


def in_order(targets: Sequence[LiveTarget]) -> list[LiveTarget]:
    return sorted(targets, key=lambda t: (t.position, t.id))


def current_target(targets: Sequence[LiveTarget], now: datetime) -> LiveTarget | None:
    """The target a scan at `now` gets: the first usable one in pool order."""
    return next((t for t in in_order(targets) if t.usable(now)), None)


def target_states(
    targets: Sequence[LiveTarget], now: datetime
) -> list[tuple[LiveTarget, TargetState]]:
    current = current_target(targets, now)
    states: list[tuple[LiveTarget, TargetState]] = []
    for target in in_order(targets):
        if target.retired_at is not None:
            state = TargetState.RETIRED
        elif target is current:
            state = TargetState.CURRENT
        elif target.usable(now):
            state = TargetState.WAITING
        elif target.cap is not None and target.opens >= target.cap:
            state = TargetState.FULL
        else:
            state = TargetState.EXPIRED
        states.append((target, state))
    return states


class ReminderKind(StrEnum):
    EXPIRING = "expiring"  # the current target expires within 24 h
    FILLING = "filling"  # the last usable target is nearly full
    EMPTY = "empty"  # nothing usable is left: readers get the "contact the group" page


@dataclass(frozen=True, slots=True)
class Reminder:
    kind: ReminderKind
    target_id: int  # what it is about; with the code and kind, the key that sends it once
    target: LiveTarget | None = None
    following: LiveTarget | None = None  # where scans go after `target`, if anywhere


def nearly_full(target: LiveTarget) -> bool:
    """Within a tenth of its cap (at least one open) of being full."""
    return target.cap is not None and target.cap - target.opens <= max(1, target.cap // 10)


def due_reminders(
    targets: Sequence[LiveTarget], now: datetime, *, warn_before: timedelta = WARN_BEFORE_EXPIRY
) -> list[Reminder]:
    """What the group should be told about its pool at `now` (each is sent once, ever)."""
    usable = [t for t in in_order(targets) if t.usable(now)]
    if not usable:
        if not targets:
            return []  # never had a target: nothing ran dry
        # Keyed by the newest target: refilled and run dry again, the group hears again.
        return [Reminder(ReminderKind.EMPTY, max(t.id for t in targets))]
    current = usable[0]
    following = usable[1] if len(usable) > 1 else None
    due: list[Reminder] = []
    if current.expires_at is not None and current.expires_at - now <= warn_before:
        due.append(Reminder(ReminderKind.EXPIRING, current.id, current, following))
    if following is None and nearly_full(current):
        due.append(Reminder(ReminderKind.FILLING, current.id, current))
    return due


def reminder_text(live: LiveCode, reminder: Reminder, group: Group, short_url: str) -> str:
    lang = group.lang
    target = reminder.target
    if reminder.kind is ReminderKind.EMPTY or target is None:
        return translate(lang, "live_remind_empty", name=live.name, short=short_url)
    if reminder.kind is ReminderKind.FILLING:
        return translate(
            lang,
            "live_remind_filling",
            name=live.name,
            url=target.url,
            opens=target.opens,
            cap=target.cap,
        )
    following = reminder.following
    after = (
        translate(lang, "live_remind_then", url=following.url)
        if following is not None
        else translate(lang, "live_remind_then_dry", name=live.name)
    )
    assert target.expires_at is not None  # noqa: S101 - EXPIRING is about an expiry
    return translate(
        lang,
        "live_remind_expiring",
        name=live.name,
        url=target.url,
        when=local_time(target.expires_at, group.tz),
        after=after,
    )


# -- the poster ----------------------------------------------------------------------------------

POSTER_WIDTH = 1080
_POSTER_QR_SIDE = 960  # at most; whole modules, so a little less
_CAPTION_SIZE = 72
_URL_SIZE = 34
_INK = (31, 41, 55)
_MUTED = (107, 114, 128)


def render_live_poster(short_url: str, name: str, fonts: ChartFonts) -> bytes:
    """A poster-ready PNG: the short link's QR large (1080 px wide), the name under it as the
    caption (any script the fonts draw), then the link itself. CPU-bound: run in a thread."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, image_factory=PilImage
    )
    code.add_data(short_url)
    code.make(fit=True)
    code.box_size = max(1, _POSTER_QR_SIDE // (code.modules_count + 2 * code.border))
    qr_image = code.make_image().get_image().convert("RGB")
    side = qr_image.width
    top = (POSTER_WIDTH - side) // 2
    height = top + side + 190
    poster = Image.new("RGB", (POSTER_WIDTH, height), (255, 255, 255))
    poster.paste(qr_image, ((POSTER_WIDTH - side) // 2, top))
    draw = ImageDraw.Draw(poster)
    usable = POSTER_WIDTH - 120
    with fonts.lock:
        caption = fonts.fit(name, _CAPTION_SIZE, usable)
        link = fonts.fit(short_url, _URL_SIZE, usable)
        for text, size, color, baseline in (
            (caption, _CAPTION_SIZE, _INK, top + side + 80),
            (link, _URL_SIZE, _MUTED, top + side + 145),
        ):
            x = (POSTER_WIDTH - fonts.width(text, size)) / 2
            draw_text(draw, PlacedText(text, x, baseline, size, color), fonts)
    out = io.BytesIO()
    poster.save(out, format="PNG", optimize=True)
    return out.getvalue()


# -- the command ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetOptions:
    """`cap=190 expires=7d` after a target; `expires_set` also when it says `expires=off`."""

    cap: int | None = None
    expires_in: timedelta | None = None
    expires_set: bool = False


def parse_target_options(words: Sequence[str]) -> tuple[list[str], TargetOptions]:
    rest: list[str] = []
    cap: int | None = None
    expires_in: timedelta | None = None
    expires_set = False
    for word in words:
        match = _OPTION.fullmatch(word)
        if match is None or "://" in word:
            rest.append(word)
            continue
        key = match["key"].lower()
        if key in _CAP_NAMES:
            cap = parse_max(match["value"])
        elif key in _EXPIRY_NAMES:
            expires_in = parse_duration(match["value"])
            expires_set = True
        else:
            raise UserError("option_unknown", "option_unknown", name=match["key"][:20])
    return rest, TargetOptions(cap, expires_in, expires_set)


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UserError("live_name_invalid", "live_name_invalid", name=name[:40])
    return name


class LiveReplies(Commands):
    """`/live create|set|add|list|show|delete` (`/活码 创建|设置|添加|列表|查看|删除`).

    Members may list and look; only admins create, re-point, add to or delete a live code.
    `on_changed(code)` evicts the code from this process's redirector caches.
    """

    def __init__(
        self,
        store: LiveAdmin,
        shortener: Shortener,
        fonts: ChartFonts,
        clock: Clock,
        *,
        code_length: int,
        on_changed: Callable[[str | None], None] = lambda code: None,
    ) -> None:
        self._store = store
        self._shortener = shortener
        self._fonts = fonts
        self._clock = clock
        self._code_length = code_length
        self._on_changed = on_changed

    # Members list and look; the handler refuses their changes (admins_only is the menu's).
    @command("live", "活码", menu=Words("活码", "live codes (permanent QR)"))
    @helps(
        "/live 活码：永久二维码，管理员可随时更换目标（如每 7 天过期的微信群码）",
        "/live live codes: a permanent QR whose target admins swap (e.g. a WeChat group QR "
        "that expires every 7 days)",
    )
    @helps(
        "/live create <名称> · /live set <名称> <网址>（或发群二维码图片并附言 /live set <名称>）",
        "/live create <name> · /live set <name> <url> (or a group QR photo captioned "
        "/live set <name>)",
    )
    @helps(
        "/live add <名称> <网址> cap=190 加备用 · /live drop <名称> <序号> 移除目标",
        "/live add <name> <url> cap=190 as a backup · /live drop <name> <n> removes a target",
    )
    @helps(
        "/live list · /live show <名称> · /live delete <名称>",
        "/live list · /live show <name> · /live delete <name>",
    )
    async def live_command(self, ctx: Context, args: str) -> list[Reply]:
        words = args.split()
        action = _ACTIONS.get(words[0].lower()) if words else "list"
        if action is None and len(words) == 1:
            action, words = "show", ["show", *words]  # `/live NAME` looks at it
        if action is None:
            raise UserError("live_usage", "live_usage")
        if action in _CHANGES and not await ctx.is_admin():
            raise UserError("admin_only", "admin_only")
        rest = words[1:]
        if action == "list":
            return await self._list(ctx)
        if not rest:
            raise UserError("live_usage", "live_usage")
        name, rest = _check_name(rest[0]), rest[1:]
        if action == "create":
            return await self._create(ctx, name, rest)
        live = await self._store.live_code(ctx.group.id, name)
        if live is None:
            raise UserError("live_not_found", "live_not_found", name=name)
        if action == "show":
            return await self._show(ctx, live)
        if action == "delete":
            return await self._delete(ctx, live)
        if action == "drop":
            return await self._drop(ctx, live, rest)
        return await self._add_target(ctx, live, rest, current=action == "set")

    async def _create(self, ctx: Context, name: str, rest: list[str]) -> list[Reply]:
        words, options = parse_target_options(rest)
        target = await self._target_url(ctx, words, required=False)
        now = self._clock()
        live = None
        for _ in range(_MAX_CODE_DRAWS):
            try:
                live = await self._store.create_live_code(
                    new_code(self._code_length), ctx.group.id, name, ctx.sharer_id, now
                )
                break
            except CodeTaken:
                continue
            except LiveNameTaken:
                raise UserError("live_name_taken", "live_name_taken", name=name) from None
        if live is None:
            raise RuntimeError(f"no free code after {_MAX_CODE_DRAWS} draws; raise code_length")
        log.info(
            "live code created platform=%s chat=%s code=%s",
            ctx.group.platform,
            ctx.group.chat_id,
            live.code,
        )
        short_url = self._shortener.short_url(live.code)
        lines = [ctx.t("live_created", name=name, short=short_url)]
        if target is not None:
            added = await self._store_target(ctx, live, target, options, now, current=True)
            lines.append(self._target_line(ctx, added))
        else:
            lines.append(ctx.t("live_no_target_yet", name=name))
        poster = await asyncio.to_thread(render_live_poster, short_url, name, self._fonts)
        image = ReplyImage(png=poster, filename=f"live-{live.code}.png", alt=f"{name} {short_url}")
        return [Reply("\n".join(lines), images=(image,))]

    async def _store_target(
        self,
        ctx: Context,
        live: LiveCode,
        target: str,
        options: TargetOptions,
        now: datetime,
        *,
        current: bool,
    ) -> LiveTarget:
        """Add `target` to the pool with its cap and expiry (a WeChat group QR's default)."""
        expires_at = self._expiry(target, options, now)
        return await self._store.add_live_target(
            live.code, target, options.cap, expires_at, ctx.sharer_id, now, current=current
        )

    async def _add_target(
        self, ctx: Context, live: LiveCode, rest: list[str], *, current: bool
    ) -> list[Reply]:
        words, options = parse_target_options(rest)
        target = await self._target_url(ctx, words, required=True)
        assert target is not None  # noqa: S101 - required
        now = self._clock()
        added = await self._store_target(ctx, live, target, options, now, current=current)
        self._on_changed(live.code)
        log.info(
            "live target %s platform=%s chat=%s code=%s target=%d",
            "set" if current else "added",
            ctx.group.platform,
            ctx.group.chat_id,
            live.code,
            added.id,
        )
        short_url = self._shortener.short_url(live.code)
        key = "live_set_done" if current else "live_added"
        return [
            Reply(
                ctx.t(key, name=live.name, short=short_url) + "\n" + self._target_line(ctx, added)
            )
        ]

    async def _list(self, ctx: Context) -> list[Reply]:
        codes = await self._store.live_codes(ctx.group.id)
        if not codes:
            return [Reply(ctx.t("live_none"))]
        now = self._clock()
        lines = [ctx.t("live_list_head", count=len(codes))]
        for live in codes:
            targets = await self._store.live_targets(live.code)
            current = current_target(targets, now)
            waiting = sum(1 for t in targets if t.usable(now)) - (current is not None)
            lines.append(
                ctx.t(
                    "live_list_line",
                    name=live.name,
                    short=self._shortener.short_url(live.code),
                    target=current.url if current else ctx.t("live_no_target"),
                    waiting=waiting,
                )
            )
        return [Reply("\n".join(lines))]

    async def _show(self, ctx: Context, live: LiveCode) -> list[Reply]:
        now = self._clock()
        states = target_states(await self._store.live_targets(live.code), now)
        lines = [
            ctx.t("live_show_head", name=live.name, short=self._shortener.short_url(live.code))
        ]
        pool = [(t, s) for t, s in states if s is not TargetState.RETIRED]
        history = [t for t, s in states if s is TargetState.RETIRED]
        if not pool:
            lines.append(ctx.t("live_no_target"))
        for index, (target, state) in enumerate(pool, start=1):
            lines.append(f"{index}. [{ctx.t('live_state.' + state.value)}] {target.url}")
            lines.append("   " + self._target_facts(ctx, target))
        if history:
            lines.append(ctx.t("live_history"))
            history.sort(key=lambda t: t.retired_at or t.added_at, reverse=True)
            for target in history[:_HISTORY_SHOWN]:
                lines.append(
                    ctx.t(
                        "live_history_line",
                        url=target.url,
                        opens=target.opens,
                        until=local_time(target.retired_at or now, ctx.group.tz),
                    )
                )
        return [Reply("\n".join(lines))]

    async def _drop(self, ctx: Context, live: LiveCode, rest: list[str]) -> list[Reply]:
        """`drop NAME N`: take the pool's N-th target (as `show` numbers them) out of it."""
        if len(rest) != 1 or not rest[0].isdigit():
            raise UserError("live_usage", "live_usage")
        pool = [
            t for t in in_order(await self._store.live_targets(live.code)) if t.retired_at is None
        ]
        index = int(rest[0])
        if not 1 <= index <= len(pool):
            raise UserError("live_drop_unknown", "live_drop_unknown", index=index, name=live.name)
        dropped = pool[index - 1]
        await self._store.retire_live_target(live.code, dropped.id, self._clock())
        self._on_changed(live.code)
        return [Reply(ctx.t("live_dropped", name=live.name, url=dropped.url))]

    async def _delete(self, ctx: Context, live: LiveCode) -> list[Reply]:
        await self._store.disable_link(live.code, ctx.group.id)
        self._on_changed(live.code)
        log.info(
            "live code deleted platform=%s chat=%s code=%s",
            ctx.group.platform,
            ctx.group.chat_id,
            live.code,
        )
        return [Reply(ctx.t("live_deleted", name=live.name))]

    def _target_line(self, ctx: Context, target: LiveTarget) -> str:
        return ctx.t("live_target_line", url=target.url) + "\n" + self._target_facts(ctx, target)

    def _target_facts(self, ctx: Context, target: LiveTarget) -> str:
        opens = (
            ctx.t("live_opens_cap", opens=target.opens, cap=target.cap)
            if target.cap is not None
            else ctx.t("live_opens", opens=target.opens)
        )
        expiry = (
            ctx.t("live_expires", when=local_time(target.expires_at, ctx.group.tz))
            if target.expires_at is not None
            else ctx.t("live_no_expiry")
        )
        return f"{opens} · {expiry}"

    @staticmethod
    def _expiry(url: str, options: TargetOptions, now: datetime) -> datetime | None:
        if options.expires_set:
            return None if options.expires_in is None else now + options.expires_in
        if is_wechat_group_qr(url):
            return now + WECHAT_GROUP_QR_LIFETIME
        return None

    async def _target_url(self, ctx: Context, words: list[str], *, required: bool) -> str | None:
        """The target from the arguments, else from the QR in the attached photo."""
        raw = next((link for w in words if (link := link_in_argument(w)) is not None), None)
        if raw is None and ctx.message.images:
            raw = await self._url_in_photo(ctx)
        if raw is None:
            if required:
                raise UserError("live_target_missing", "live_target_missing")
            return None
        return self._checked_target(ctx, raw)

    async def _url_in_photo(self, ctx: Context) -> str:
        data = await load_chat_image(ctx, ctx.message.images[0])
        codes = await asyncio.to_thread(decode_qr_codes, data, max_bytes=MAX_IMAGE_BYTES)
        for code in codes:
            url = url_in_payload(code.text, code.kind)
            if url is not None:
                return url
        raise UserError("live_no_qr", "live_no_qr")

    def _checked_target(self, ctx: Context, raw: str) -> str:
        try:
            url, _ = self._shortener.admit(ctx.group, raw)
        except UserError as e:
            if e.code == "already_short":
                # A live code pointing at one of our links could loop back to itself.
                raise UserError("live_target_own", "live_target_own") from e
            raise
        return url


# -- reminders -----------------------------------------------------------------------------------


class LiveWatch:
    """Every few minutes (and when a redirector finds a pool dry), tell each group what its
    live codes need: expiring, nearly full, empty. Each reminder is claimed in storage first,
    so two processes, or a restart, send it once; delivery reuses the digests' channels."""

    def __init__(
        self,
        store: LiveWatching,
        channels: Mapping[str, DigestChannel],
        clock: Clock,
        public_url: str,
        *,
        owner: str | None = None,
        every: timedelta = CHECK_EVERY,
        scheduler: AsyncIOScheduler | None = None,
    ) -> None:
        self._store = store
        self._channels = channels
        self._clock = clock
        self._public_url = public_url.rstrip("/")
        self.owner = owner or process_owner()
        self._every = every
        self.scheduler = scheduler or AsyncIOScheduler(timezone=UTC)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_nudge: datetime | None = None
        # Reminders this process saw claimed (by itself or another): not asked for again.
        self._claimed: set[tuple[str, str, int]] = set()

    async def start(self) -> None:
        self.scheduler.start()
        repeat_every(self.scheduler, self._check_logged, self._every, "live:check")
        self._spawn_check()  # what came due while no process ran

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def nudge(self, code: str | None = None) -> None:
        """Check soon, in the background: a redirector in this process found a pool dry.
        Scans of a dry pool come in bursts; one check per `NUDGE_EVERY` answers them all.
        Only a started watch (a bot process) sends: `suo redirector` leaves it to the bot's."""
        if not self.scheduler.running:
            return
        now = self._clock()
        if self._last_nudge is not None and now - self._last_nudge < NUDGE_EVERY:
            return
        self._last_nudge = now
        self._spawn_check()

    def _spawn_check(self) -> None:
        if any(not task.done() for task in self._tasks):
            return  # a check is already on its way and will see it
        task = asyncio.get_running_loop().create_task(self._check_logged())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settled(self) -> None:
        """Wait for the checks `nudge` started (tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _check_logged(self) -> None:
        try:
            await self.check()
        except Exception:
            log.exception("live code check failed")

    async def check(self) -> int:
        """Send every reminder due now; returns how many this call sent."""
        now = self._clock()
        sent = 0
        for live in await self._store.live_codes(None):
            try:
                sent += await self._check_code(live, now)
            except Exception:
                log.exception("live code check failed code=%s", live.code)
        return sent

    async def _check_code(self, live: LiveCode, now: datetime) -> int:
        due = due_reminders(await self._store.live_targets(live.code), now)
        if not due:
            return 0
        group = await self._store.get_group(live.group_id)
        channel = None if group is None else self._channels.get(group.platform)
        if group is None or channel is None or not await channel.reaches(group):
            return 0
        sent = 0
        for reminder in due:
            key = (live.code, reminder.kind.value, reminder.target_id)
            if key in self._claimed:
                continue
            if not await self._store.claim_live_reminder(*key, self.owner, now, _REMINDER_LEASE):
                # Sent or being sent elsewhere. Not remembered: a claim whose send fails is
                # released, and then whoever checks next must try again.
                continue
            text = reminder_text(live, reminder, group, f"{self._public_url}/{live.code}")
            try:
                for send in channel.sends(group, text, None):
                    await send()
            except Exception as e:
                log.warning(
                    "live reminder not sent platform=%s chat=%s code=%s kind=%s: %s",
                    group.platform,
                    group.chat_id,
                    live.code,
                    reminder.kind.value,
                    type(e).__name__,
                )
                await self._store.finish_live_reminder(*key, self.owner, now, sent=False)
                continue
            await self._store.finish_live_reminder(*key, self.owner, now, sent=True)
            self._claimed.add(key)
            log.info(
                "live reminder sent platform=%s chat=%s code=%s kind=%s",
                group.platform,
                group.chat_id,
                live.code,
                reminder.kind.value,
            )
            sent += 1
        return sent
