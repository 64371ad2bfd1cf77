"""A group's rules in chat: `settings`, `block`/`unblock`, `delete`, and `/short` options.

Admins set the group's defaults (allowed platforms, anti-red, expiry, auto-shorten, language,
blocked domains) and per-link rules; members only read them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.clock import Clock, local_time
from bot.commands import Commands, Words, command, helps
from bot.context import Context
from bot.errors import UserError
from bot.i18n import translate
from bot.model import Group, GroupSettings, Link, LinkRules, Reply
from bot.policy import IN_APP, effective_policy, parse_platforms, platform_list
from bot.storage import GroupsAndLinks
from bot.urls import host_of

_DURATION = re.compile(
    r"(?P<n>\d{1,4})\s*(?P<unit>m|min|mins|分钟|h|hr|hrs|小时|时|d|day|days|天|日|w|wk|weeks?|周|星期)",
    re.IGNORECASE,
)
_UNIT_SECONDS = {
    **dict.fromkeys(("m", "min", "mins", "分钟"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "小时", "时"), 3600),
    **dict.fromkeys(("d", "day", "days", "天", "日"), 86400),
    **dict.fromkeys(("w", "wk", "week", "weeks", "周", "星期"), 7 * 86400),
}
_MAX_DURATION = timedelta(days=3650)
_NEVER = frozenset({"off", "never", "none", "no", "关", "关闭", "永久", "不过期", "无"})
_ON = frozenset({"on", "yes", "true", "1", "开", "开启", "打开", "是"})
_OFF = frozenset({"off", "no", "false", "0", "关", "关闭", "否"})
_ALL = frozenset({"all", "any", "everywhere", "所有", "全部", "不限"})
_MAX_CLICKS_LIMIT = 10_000_000
_DOMAIN = re.compile(r"(?:[\w-]+\.)+[\w-]{2,}", re.UNICODE)
_CODE = re.compile(r"(?:.*/)?([A-Za-z0-9]{4,32})\+?/?")

# `/short <url> key=value ...`: option names in English and Chinese.
_OPTION_NAMES = {
    **dict.fromkeys(("platforms", "platform", "平台"), "platforms"),
    **dict.fromkeys(("antired", "anti-red", "anti_red", "防红"), "anti_red"),
    **dict.fromkeys(("expires", "expiry", "expire", "有效期", "过期"), "expires"),
    **dict.fromkeys(("max", "max_clicks", "次数", "上限"), "max"),
}
_OPTION = re.compile(r"(?P<key>[\w\-\u4e00-\u9fff]+)[=＝](?P<value>\S+)")


def parse_duration(text: str) -> timedelta | None:
    """`7d`, `12h`, `30m`, `2w`, `7天`, `12小时` -> timedelta; `off`/`永久` -> None."""
    word = text.strip().lower()
    if word in _NEVER:
        return None
    match = _DURATION.fullmatch(word)
    if match is None or int(match["n"]) == 0:
        raise UserError("duration_invalid", "duration_invalid", text=text[:20])
    seconds = int(match["n"]) * _UNIT_SECONDS[match["unit"].lower()]
    return min(timedelta(seconds=seconds), _MAX_DURATION)


def parse_switch_or_platforms(text: str) -> frozenset[str]:
    """Anti-red value: `on` (every chat app), `off`, or a platform list."""
    word = text.strip().lower()
    if word in _ON:
        return IN_APP
    if word in _OFF:
        return frozenset()
    return parse_platforms(text)


def parse_max(text: str) -> int | None:
    word = text.strip().lower()
    if word in _NEVER:
        return None
    if not word.isdigit() or not 0 < int(word) <= _MAX_CLICKS_LIMIT:
        raise UserError("max_invalid", "max_invalid", text=text[:20])
    return int(word)


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """Rules typed after `/short <url>`; `set` names the ones given."""

    set: frozenset[str] = frozenset()
    platforms: frozenset[str] | None = None
    anti_red: frozenset[str] | None = None
    expires_in: timedelta | None = None
    max_clicks: int | None = None

    def apply(self, rules: LinkRules, now: datetime) -> LinkRules:
        """`rules` with the given options laid over them."""
        if "platforms" in self.set:
            rules = replace(rules, platforms=self.platforms)
        if "anti_red" in self.set:
            rules = replace(rules, anti_red=self.anti_red)
        if "expires" in self.set:
            expires = None if self.expires_in is None else now + self.expires_in
            rules = replace(rules, expires_at=expires)
        if "max" in self.set:
            rules = replace(rules, max_clicks=self.max_clicks)
        return rules


def parse_link_options(args: str) -> tuple[str, LinkOptions]:
    """Split `/short` arguments into the rest (the URL) and `key=value` options.

    `platforms=all` clears a restriction. Unknown option names are a `UserError`.
    """
    given: dict[str, object] = {}
    rest: list[str] = []
    for word in args.split():
        match = _OPTION.fullmatch(word)
        if match is None or "://" in word:
            rest.append(word)
            continue
        name = _OPTION_NAMES.get(match["key"].lower())
        if name is None:
            raise UserError("option_unknown", "option_unknown", name=match["key"][:20])
        value = match["value"]
        if name == "platforms":
            given[name] = None if value.lower() in _ALL else parse_platforms(value)
        elif name == "anti_red":
            given[name] = parse_switch_or_platforms(value)
        elif name == "expires":
            given[name] = parse_duration(value)
        else:
            given[name] = parse_max(value)
    options = LinkOptions(
        set=frozenset(given),
        platforms=given.get("platforms"),  # type: ignore[arg-type]
        anti_red=given.get("anti_red"),  # type: ignore[arg-type]
        expires_in=given.get("expires"),  # type: ignore[arg-type]
        max_clicks=given.get("max"),  # type: ignore[arg-type]
    )
    return " ".join(rest), options


def describe_rules(link: Link, group: Group, lang: str) -> str:
    """One line of the rules a link follows (its own, else the group's); "" when none.
    Times are the group's (its digest zone), labelled."""
    rules = link.rules
    parts: list[str] = []
    policy = effective_policy(link, group.settings)  # what the redirector applies
    platforms, anti_red = policy.platforms, policy.anti_red
    zh = lang.startswith("zh")
    if platforms is not None:
        names = platform_list(platforms, lang)
        parts.append(f"仅限 {names}" if zh else f"opens only in {names}")
    if anti_red:
        names = platform_list(anti_red, lang)
        parts.append(f"防红引导：{names}" if zh else f"open-in-browser guide in {names}")
    if rules.expires_at is not None:
        when = local_time(rules.expires_at, group.tz)
        parts.append(f"{when} 过期" if zh else f"expires {when}")
    if rules.max_clicks is not None:
        n = rules.max_clicks
        parts.append(f"最多打开 {n} 次" if zh else f"at most {n} opens")
    return ("⚙️ " + " · ".join(parts)) if parts else ""


def _expiry_text(seconds: int | None, lang: str) -> str:
    if seconds is None:
        return "永久" if lang.startswith("zh") else "never"
    days, rem = divmod(seconds, 86400)
    if rem == 0:
        return f"{days} 天" if lang.startswith("zh") else f"{days}d"
    hours, rem = divmod(seconds, 3600)
    if rem == 0:
        return f"{hours} 小时" if lang.startswith("zh") else f"{hours}h"
    return f"{seconds // 60} 分钟" if lang.startswith("zh") else f"{seconds // 60}m"


def code_from(text: str) -> str | None:
    """`abc1234`, `/abc1234`, `https://suo.run/abc1234` or `…/abc1234+` -> `abc1234`."""
    match = _CODE.fullmatch(text.strip())
    return match[1] if match else None


class SettingsReplies(Commands):
    """`settings`, `block`, `unblock`, `delete`: admins change, members may look."""

    def __init__(
        self,
        store: GroupsAndLinks,
        clock: Clock,
        public_url: str,
        *,
        on_rules_changed: Callable[[str | None], None] = lambda code: None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._public_url = public_url.rstrip("/")
        self._on_rules_changed = on_rules_changed  # a code, or None for the whole group

    def show(self, ctx: Context, settings: GroupSettings, lang: str | None = None) -> str:
        lang = lang or ctx.lang
        yes_no = ("开", "关") if lang.startswith("zh") else ("on", "off")
        all_name = "所有平台" if lang.startswith("zh") else "everywhere"
        none_name = "关" if lang.startswith("zh") else "off"
        blocked = ", ".join(settings.blocked) or ("无" if lang.startswith("zh") else "none")
        return translate(
            lang,
            "settings_show",
            auto=yes_no[0] if settings.auto_shorten else yes_no[1],
            platforms=platform_list(settings.platforms, lang)
            if settings.platforms is not None
            else all_name,
            anti_red=platform_list(settings.anti_red, lang) if settings.anti_red else none_name,
            expiry=_expiry_text(settings.expiry_seconds, lang),
            language=lang,
            blocked=blocked,
        )

    @command("settings", "set", "设置", menu=Words("群设置", "group settings"))
    @helps(
        "/settings 本群的规则（管理员可修改：平台、防红、有效期、自动缩短、语言）",
        "/settings this group's rules (admins change: platforms, antired, expiry, auto, lang)",
    )
    async def settings_command(self, ctx: Context, args: str) -> list[Reply]:
        settings = ctx.group.settings
        if not args:
            return [Reply(self.show(ctx, settings) + "\n\n" + ctx.t("settings_usage"))]
        if not await ctx.is_admin():
            raise UserError("admin_only", "admin_only")
        name, _, value = args.partition(" ")
        name, value = name.lower(), value.strip()
        if not value:
            raise UserError("settings_usage", "settings_usage")
        lang = ctx.lang
        if name in ("platforms", "platform", "平台"):
            chosen = None if value.lower() in _ALL else parse_platforms(value)
            settings = replace(settings, platforms=chosen)
        elif name in ("antired", "anti-red", "防红"):
            settings = replace(settings, anti_red=parse_switch_or_platforms(value))
        elif name in ("expiry", "expires", "有效期", "过期"):
            duration = parse_duration(value)
            seconds = None if duration is None else int(duration.total_seconds())
            settings = replace(settings, expiry_seconds=seconds)
        elif name in ("auto", "自动", "自动缩短"):
            word = value.lower()
            if word not in _ON | _OFF:
                raise UserError("settings_usage", "settings_usage")
            settings = replace(settings, auto_shorten=word in _ON)
        elif name in ("lang", "language", "语言"):
            lang = "en" if value.lower().startswith("en") else "zh-CN"
            if not value.lower().startswith(("en", "zh", "中")):
                raise UserError("settings_usage", "settings_usage")
            await self._store.set_group_lang(ctx.group.id, lang)
        else:
            raise UserError("settings_usage", "settings_usage")
        await self._store.set_group_settings(ctx.group.id, settings)
        self._on_rules_changed(None)
        return [Reply(self.show(ctx, settings, lang))]

    @command("block", "屏蔽", menu=Words("屏蔽域名", "block a domain"), admins_only=True)
    @helps("/block <域名> 本群禁止缩短该域名", "/block <domain> never shorten a domain here")
    async def block_command(self, ctx: Context, args: str) -> list[Reply]:
        return await self._change_blocked(ctx, args, block=True)

    @command("unblock", "解除屏蔽", menu=Words("解除屏蔽", "unblock a domain"), admins_only=True)
    @helps("/unblock <域名> 解除屏蔽", "/unblock <domain> shorten it again")
    async def unblock_command(self, ctx: Context, args: str) -> list[Reply]:
        return await self._change_blocked(ctx, args, block=False)

    async def _change_blocked(self, ctx: Context, args: str, *, block: bool) -> list[Reply]:
        settings = ctx.group.settings
        if not args:
            listed = ", ".join(settings.blocked) or "-"
            return [Reply(ctx.t("block_list", domains=listed))]
        if not await ctx.is_admin():
            raise UserError("admin_only", "admin_only")
        domain = args.split()[0].lower()
        if "://" in domain:
            domain = host_of(domain)
        domain = domain.strip(".")
        if not _DOMAIN.fullmatch(domain):
            raise UserError("block_invalid", "block_invalid", text=args.split()[0][:60])
        blocked = [d for d in settings.blocked if d != domain]
        if block:
            blocked.append(domain)
        await self._store.set_group_settings(
            ctx.group.id, replace(settings, blocked=tuple(blocked))
        )
        return [Reply(ctx.t("block_done" if block else "unblock_done", domain=domain))]

    @command(
        "delete", "del", "删除", menu=Words("删除短链接", "remove a short link"), admins_only=True
    )
    @helps("/delete <短码> 删除链接（管理员）", "/delete <code> remove a link (admins)")
    async def delete_command(self, ctx: Context, args: str) -> list[Reply]:
        if not await ctx.is_admin():
            raise UserError("admin_only", "admin_only")
        code = code_from(args.split()[0]) if args else None
        if code is None:
            raise UserError("delete_usage", "delete_usage")
        if not await self._store.disable_link(code, ctx.group.id):
            raise UserError("delete_not_found", "delete_not_found", link=code)
        self._on_rules_changed(code)
        return [Reply(ctx.t("delete_done", short=f"{self._public_url}/{code}"))]
