"""Who may open a link, and what a reader gets instead of the 302 when not.

Pure: the redirector asks `decide()` with facts it already has (the link's rules, the
click's class and platform, the time, human opens so far); chat commands parse and show the
same rules. Platform names are the ones `redirector.classify` gives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.errors import UserError
from bot.model import ClickClass, GroupSettings, Link

# Platform -> (zh-CN, en) names, in the order lists are shown.
PLATFORM_LABELS: dict[str, tuple[str, str]] = {
    "wechat": ("微信", "WeChat"),
    "wecom": ("企业微信", "WeCom"),
    "qq": ("QQ", "QQ"),
    "dingtalk": ("钉钉", "DingTalk"),
    "alipay": ("支付宝", "Alipay"),
    "lark": ("飞书", "Lark"),
    "weibo": ("微博", "Weibo"),
    "douyin": ("抖音", "Douyin"),
    "telegram": ("Telegram", "Telegram"),
    "ios": ("iPhone/iPad 浏览器", "iPhone/iPad browsers"),
    "android": ("安卓浏览器", "Android browsers"),
    "desktop": ("电脑浏览器", "desktop browsers"),
    "other": ("其他", "other apps"),
}
PLATFORMS = frozenset(PLATFORM_LABELS)

# Chat apps whose in-app browsers block or warn about outside links (the reason for 防红):
# their readers get the honest "open in your browser" guide when anti-red is on.
IN_APP = frozenset({"wechat", "wecom", "qq", "dingtalk", "alipay", "weibo", "douyin"})

# What an operator may type, in English or Chinese, for one platform or a family of them.
_ALIASES: dict[str, frozenset[str]] = {
    **{name: frozenset({name}) for name in PLATFORMS},
    "mobile": frozenset({"ios", "android"}),
    "browser": frozenset({"ios", "android", "desktop"}),
    "browsers": frozenset({"ios", "android", "desktop"}),
    "apps": IN_APP,
    "weixin": frozenset({"wechat"}),
    "wxwork": frozenset({"wecom"}),
    "feishu": frozenset({"lark"}),
    "tiktok": frozenset({"douyin"}),
    "iphone": frozenset({"ios"}),
    "pc": frozenset({"desktop"}),
    "微信": frozenset({"wechat"}),
    "企业微信": frozenset({"wecom"}),
    "企微": frozenset({"wecom"}),
    "钉钉": frozenset({"dingtalk"}),
    "支付宝": frozenset({"alipay"}),
    "飞书": frozenset({"lark"}),
    "微博": frozenset({"weibo"}),
    "抖音": frozenset({"douyin"}),
    "电报": frozenset({"telegram"}),
    "苹果": frozenset({"ios"}),
    "安卓": frozenset({"android"}),
    "手机": frozenset({"ios", "android"}),
    "移动": frozenset({"ios", "android"}),
    "电脑": frozenset({"desktop"}),
    "桌面": frozenset({"desktop"}),
    "浏览器": frozenset({"ios", "android", "desktop"}),
    "应用": IN_APP,
    "其他": frozenset({"other"}),
}
_LIST_SPLIT = re.compile(r"[,，、;；\s]+")


def parse_platforms(text: str) -> frozenset[str]:
    """`"wechat,qq,mobile"` or `"微信、QQ、手机"` -> the platform names; unknown names are a
    `UserError` naming them."""
    names: set[str] = set()
    unknown: list[str] = []
    for word in filter(None, _LIST_SPLIT.split(text.strip())):
        found = _ALIASES.get(word.lower()) or _ALIASES.get(word)
        if found is None:
            unknown.append(word)
        else:
            names |= found
    if unknown or not names:
        raise UserError("platforms_unknown", "platforms_unknown", names="、".join(unknown) or text)
    return frozenset(names)


def platform_name(platform: str, lang: str) -> str:
    """`微信` / `WeChat`; a name the table does not know is shown as it is."""
    labels = PLATFORM_LABELS.get(platform)
    if labels is None:
        return platform
    return labels[0 if lang.startswith("zh") else 1]


def platform_list(platforms: Iterable[str], lang: str) -> str:
    """Names for people, in the fixed display order: `微信、QQ` / `WeChat, QQ`."""
    index = 0 if lang.startswith("zh") else 1
    chosen = set(platforms)
    names = [labels[index] for p, labels in PLATFORM_LABELS.items() if p in chosen]
    return ("、" if index == 0 else ", ").join(names)


class Outcome(StrEnum):
    REDIRECT = "redirect"  # the 302 (the only outcome recorded as a click)
    GUIDE = "guide"  # inside a chat app with anti-red on: the open-in-your-browser page
    PLATFORM = "platform"  # not among the link's allowed platforms: a page naming them
    EXPIRED = "expired"  # 410
    EXHAUSTED = "exhausted"  # 410: max human opens reached
    REMOVED = "removed"  # 410: deleted by an admin


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """The rules in force for one link: its own, else its group's defaults.

    `platforms` None means every platform may open it. `expires_at` is epoch seconds.
    `max_clicks` counts human opens (302s to people) only; previews and bots never use it up.
    """

    platforms: frozenset[str] | None = None
    anti_red: frozenset[str] = frozenset()
    expires_at: float | None = None
    max_clicks: int | None = None
    disabled: bool = False

    @property
    def is_open(self) -> bool:
        """No rule at all: every request gets the 302 (the redirector's fastest path)."""
        return self == _OPEN


_OPEN = LinkPolicy()


def decide(
    policy: LinkPolicy, klass: ClickClass, platform: str, now: float, human_opens: int
) -> Outcome:
    """What the request gets. Previews and bots are never guided (they are not readers) and
    never counted against max_clicks; every reader of the same link on the same platform gets
    the same answer, reviewers included: there is no cloaking branch."""
    if policy.disabled:
        return Outcome.REMOVED
    if policy.expires_at is not None and now >= policy.expires_at:
        return Outcome.EXPIRED
    if policy.platforms is not None and platform not in policy.platforms:
        return Outcome.PLATFORM
    if klass is ClickClass.HUMAN:
        if platform in policy.anti_red:
            return Outcome.GUIDE
        if policy.max_clicks is not None and human_opens >= policy.max_clicks:
            return Outcome.EXHAUSTED
    elif policy.max_clicks is not None and human_opens >= policy.max_clicks:
        return Outcome.EXHAUSTED  # used up is closed for everyone, previews included
    return Outcome.REDIRECT


def effective_policy(link: Link, settings: GroupSettings) -> LinkPolicy:
    """The link's own rules over its group's defaults."""
    rules = link.rules
    return LinkPolicy(
        platforms=rules.platforms if rules.platforms is not None else settings.platforms,
        anti_red=rules.anti_red if rules.anti_red is not None else settings.anti_red,
        expires_at=rules.expires_at.timestamp() if rules.expires_at else None,
        max_clicks=rules.max_clicks,
        disabled=link.disabled,
    )


def status(policy: LinkPolicy, now: float, human_opens: int) -> Outcome:
    """How the link stands for people in general (the info page): REDIRECT while it opens."""
    general = replace(policy, platforms=None, anti_red=frozenset())
    return decide(general, ClickClass.HUMAN, "", now, human_opens)
