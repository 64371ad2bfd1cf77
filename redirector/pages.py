"""The pages a reader sees instead of a 302: not found, closed, open in your browser (防红),
not on this platform, a 活码's group QR, and a link's `/{code}+` info page.

Jinja2 templates in `redirector/templates` (the web page and dashboard load theirs from the
same environment), every page extending `base.html`: mobile first, no external assets, zh-CN
or en chosen from Accept-Language, everything from users escaped.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.clock import local_time
from bot.policy import platform_list, platform_name

# Holds templates only (no per-request state), so one for the process (every page of the
# redirector, the dashboard's too) is safe.
TEMPLATES = Environment(
    loader=PackageLoader("redirector", "templates"),
    autoescape=select_autoescape(("html",), default_for_string=True, default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# (title, one sentence) for the pages that only say what happened.
_MESSAGES: dict[str, dict[str, tuple[str, str]]] = {
    "not_found": {
        "zh-CN": ("链接不存在", "这个短链接不存在，可能输入有误。请检查链接或联系分享者。"),
        "en": ("Link not found", "This short link does not exist. Check it or ask who shared it."),
    },
    "unavailable": {
        "zh-CN": ("请稍后再试", "服务暂时不可用，请稍后刷新。"),
        "en": ("Try again shortly", "The service is briefly unavailable. Please reload soon."),
    },
    "gone": {
        "zh-CN": ("链接已失效", "这个短链接已被停用。"),
        "en": ("Link disabled", "This short link has been disabled."),
    },
    "expired": {
        "zh-CN": ("链接已过期", "这个短链接已过有效期，请向分享者索取新的链接。"),
        "en": (
            "Link expired",
            "This short link has expired. Ask whoever shared it for a new one.",
        ),
    },
    "exhausted": {
        "zh-CN": ("访问次数已用完", "这个短链接的打开次数已达到分享者设置的上限。"),
        "en": (
            "Max opens reached",
            "This short link has been opened as many times as its sharer allowed.",
        ),
    },
    "removed": {
        "zh-CN": ("链接已被删除", "群管理员已删除这个短链接。"),
        "en": ("Link removed", "An admin of the group removed this short link."),
    },
    "no_page": {
        "zh-CN": ("没有这个页面", "这个地址上什么也没有。短链接请检查是否完整。"),
        "en": ("Page not found", "There is nothing at this address. Check the link is complete."),
    },
    "wrong_method": {
        "zh-CN": ("无法这样打开", "这个地址不能用这种方式访问，请直接在浏览器中打开。"),
        "en": ("Not like this", "This address can't be used this way; open it in a browser."),
    },
    "too_large": {
        "zh-CN": ("内容太大", "发送的内容超过了上限，请缩小后再试。"),
        "en": ("Too large", "What was sent is over the limit; please send something smaller."),
    },
    "bad_request": {
        "zh-CN": ("请求有误", "无法处理这个请求，请返回重试。"),
        "en": ("Bad request", "This request could not be handled; go back and try again."),
    },
    "live_empty": {
        "zh-CN": (
            "暂时无法加入",
            "这个二维码暂时没有可用的入口（群已满或二维码已过期）。"
            "请联系群主或分享者获取新的入口，稍后再扫一次也可以。",
        ),
        "en": (
            "Can't join right now",
            "This code has no open way in at the moment (the group is full or its QR "
            "expired). Please contact the group or whoever shared it, or scan again later.",
        ),
    },
}
_CLOSED = frozenset({"expired", "exhausted", "removed"})
_HOME = {"zh-CN": "返回首页", "en": "Go to the start page"}

# Words on the guide, platform and info pages; `%(name)s` slots are filled in the templates.
# Templates read them as `t.key`, so no key may share a name with a dict method.
_WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "guide_title": "请在浏览器中打开",
        "guide_why": (
            "%(app)s的内置浏览器可能会拦截外部链接或显示安全提示，在手机浏览器中打开更顺畅。"
        ),
        "destination": "这个链接将打开",
        "steps_title": "打开方法",
        "step_ios_menu": "点击右上角的「···」",
        "step_ios_open": "选择「在 Safari 中打开」",
        "step_android_menu": "点击右上角的「⋮」或「···」",
        "step_android_open": "选择「在浏览器打开」",
        "step_other_menu": "点击%(app)s右上角的菜单",
        "step_other_open": "选择在浏览器中打开；或复制下面的链接，粘贴到浏览器地址栏",
        "menu_hint": "点这里「%(menu)s」",
        "copy_hint": "也可以复制链接，粘贴到浏览器中打开：",
        "short_link": "短链接",
        "copy_button": "复制链接",
        "copied": "已复制",
        "copy_failed": "无法自动复制，请长按链接手动复制",
        "continue": "继续访问",
        "continue_note": "在%(app)s中直接打开目标网址",
        "platform_title": "无法在这里打开",
        "platform_only": "这个链接只能在以下地方打开：%(allowed)s。",
        "platform_current": "你现在使用的是：%(current)s。",
        "platform_copy_hint": "复制链接，到%(allowed)s中打开：",
        "info_title": "短链接信息",
        "info_target": "目标网址",
        "info_group": "所在群",
        "info_sharer": "分享者",
        "info_unknown": "未知",
        "info_created": "创建时间",
        "info_clicks": "真人打开次数",
        "info_status": "状态",
        "status_active": "有效",
        "status_expired": "已过期",
        "status_exhausted": "访问次数已用完",
        "status_removed": "已删除",
        "live_qr_title": "长按识别二维码加入群聊",
        "live_qr_hint": "在微信中长按上面的二维码，选择「识别图中的二维码」。",
        "live_qr_elsewhere": "不在微信里？用微信「扫一扫」扫描上面的二维码。",
    },
    "en": {
        "guide_title": "Open this link in your browser",
        "guide_why": (
            "%(app)s's in-app browser may block outside links or show a warning before them; "
            "your phone's browser opens them normally."
        ),
        "destination": "This link opens",
        "steps_title": "How to open it",
        "step_ios_menu": "Tap “···” at the top right",
        "step_ios_open": "Choose “Open in Safari”",
        "step_android_menu": "Tap “⋮” or “···” at the top right",
        "step_android_open": "Choose “Open in browser”",
        "step_other_menu": "Open %(app)s's menu at the top right",
        "step_other_open": (
            "Choose to open in your browser, or copy the link below and paste it into "
            "your browser's address bar"
        ),
        "menu_hint": "Tap “%(menu)s” here",
        "copy_hint": "Or copy the link and paste it into your browser:",
        "short_link": "Short link",
        "copy_button": "Copy link",
        "copied": "Copied",
        "copy_failed": "Could not copy; press and hold the link to copy it",
        "continue": "Continue here anyway",
        "continue_note": "opens the destination inside %(app)s",
        "platform_title": "This link can't open here",
        "platform_only": "This link opens only in: %(allowed)s.",
        "platform_current": "You are using: %(current)s.",
        "platform_copy_hint": "Copy the link and open it in %(allowed)s:",
        "info_title": "Short link info",
        "info_target": "Destination",
        "info_group": "Group",
        "info_sharer": "Shared by",
        "info_unknown": "unknown",
        "info_created": "Created",
        "info_clicks": "Opens by people",
        "info_status": "Status",
        "status_active": "Active",
        "status_expired": "Expired",
        "status_exhausted": "Max opens reached",
        "status_removed": "Removed",
        "live_qr_title": "Press and hold the QR code to join",
        "live_qr_hint": "In WeChat, press and hold the QR code above and choose “Scan QR Code "
        "in Image”.",
        "live_qr_elsewhere": "Not in WeChat? Scan the code above with WeChat's scanner.",
    },
}
_STATUSES = frozenset({"active", "expired", "exhausted", "removed"})


_LANGUAGE_RANGE = re.compile(
    r"\s*(?P<tag>\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)\s*"
    r"(?:;\s*q\s*=\s*(?P<q>0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\s*)?"
)
_MAX_RANGES = 20  # a real browser sends a handful; the rest of a longer header is ignored


def accepted_languages(accept_language: str) -> list[tuple[str, float]]:
    """RFC 9110 Accept-Language as (lower-case range, q) pairs, most wanted first.

    Ties keep the header's order; ranges with q=0 (not acceptable) and malformed entries are
    left out."""
    ranges: list[tuple[str, float, int]] = []
    for index, entry in enumerate(accept_language.split(",")[:_MAX_RANGES]):
        match = _LANGUAGE_RANGE.fullmatch(entry)
        if match is None or not match["tag"]:
            continue
        q = float(match["q"]) if match["q"] else 1.0
        if q > 0:
            ranges.append((match["tag"].lower(), q, index))
    ranges.sort(key=lambda r: (-r[1], r[2]))
    return [(tag, q) for tag, q, _ in ranges]


def page_lang(accept_language: str, choice: str = "") -> str:
    """zh-CN or en: `choice` (a `?lang=` switch) if it names one, else the reader's most
    wanted of the two by Accept-Language q-values.

    A reader who asks for neither (or only `*`) gets English unless the header is empty: no
    header is most often a Chinese chat app's browser, a French reader reads English sooner."""
    chosen = _supported(choice.strip().lower())
    if chosen is not None:
        return chosen
    wanted = accepted_languages(accept_language)
    for tag, _ in wanted:
        found = _supported(tag)
        if found is not None:
            return found
    if not wanted or all(tag == "*" for tag, _ in wanted):
        return "zh-CN"
    return "en"


def _supported(tag: str) -> str | None:
    if tag == "zh" or tag.startswith("zh-"):
        return "zh-CN"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


def render_page(key: str, accept_language: str) -> str:
    """404 `not_found`, 503 `unavailable`, 410 `gone`: a title and one sentence."""
    return _message(key, page_lang(accept_language))


def render_error(key: str, accept_language: str, *, home: str | None) -> str:
    """A styled 4xx/5xx page (`no_page`, `wrong_method`, ...) with a link to `home` if any."""
    lang = page_lang(accept_language)
    title, sentence = _MESSAGES[key][lang]
    return TEMPLATES.get_template("error.html").render(
        lang=lang, title=title, sentence=sentence, home=home, home_label=_HOME[lang]
    )


def render_closed(reason: str, accept_language: str) -> str:
    """The 410 page for a link that was open once: `expired`, `exhausted` or `removed`."""
    if reason not in _CLOSED:
        raise ValueError(f"unknown closed reason {reason!r}")
    return _message(reason, page_lang(accept_language))


def render_guide(
    *, short_url: str, target_url: str, platform: str, os: str, accept_language: str
) -> str:
    """The 200 "open in your browser" page for readers inside a chat app's browser.

    It names the real destination and the reason, and only explains; the copy button
    copies the short link so the open in the browser is counted like any other."""
    lang = page_lang(accept_language)
    return TEMPLATES.get_template("guide.html").render(
        lang=lang,
        t=_WORDS[lang],
        app=platform_name(platform, lang),
        os=os if os in ("ios", "android") else "other",
        short_url=short_url,
        target_url=target_url,
        target_host=urlsplit(target_url).hostname or target_url,
        target_is_web=_is_web(target_url),
    )


def render_platform_page(
    *, short_url: str, allowed: frozenset[str], platform: str, accept_language: str
) -> str:
    """The 403 page naming where the link opens and where the reader is now."""
    lang = page_lang(accept_language)
    return TEMPLATES.get_template("platform.html").render(
        lang=lang,
        t=_WORDS[lang],
        allowed=platform_list(allowed, lang),
        current=platform_name(platform, lang),
        short_url=short_url,
    )


def render_info(
    *,
    code: str,
    short_url: str,
    target_url: str,
    group_title: str,
    sharer: str | None,
    created_at: datetime,
    human_clicks: int,
    status: str,
    accept_language: str,
    tz: str = "UTC",
) -> str:
    """The `GET /{code}+` page: where a link goes and how it has been used, before opening it.
    Times are in `tz` (the link's group's zone), labelled."""
    if status not in _STATUSES:
        raise ValueError(f"unknown link status {status!r}")
    lang = page_lang(accept_language)
    created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    return TEMPLATES.get_template("info.html").render(
        lang=lang,
        t=_WORDS[lang],
        code=code,
        short_url=short_url,
        target_url=target_url,
        # A closed link (removed, expired, used up) is not clickable from its info page either.
        target_is_web=_is_web(target_url) and status == "active",
        group_title=group_title,
        sharer=sharer,
        created=local_time(created, tz).replace(" ", "\u00a0"),  # never wraps apart
        human_clicks=f"{human_clicks:,}",
        status=status,
    )


def render_live_qr(*, qr_data_uri: str, short_url: str, accept_language: str) -> str:
    """The 200 page of a live code whose target is a WeChat group QR: the group's QR image to
    long-press (WeChat joins groups from QR images, not from links)."""
    lang = page_lang(accept_language)
    return TEMPLATES.get_template("live_qr.html").render(
        lang=lang, t=_WORDS[lang], qr_data_uri=qr_data_uri, short_url=short_url
    )


def _message(key: str, lang: str) -> str:
    title, sentence = _MESSAGES[key][lang]
    return render_message(lang, title, sentence)


def render_message(lang: str, title: str, sentence: str) -> str:
    """A page that only says what happened: a title and one sentence."""
    return TEMPLATES.get_template("message.html").render(lang=lang, title=title, sentence=sentence)


def _is_web(url: str) -> bool:
    """Only http(s) targets become clickable: a `javascript:` target must never be an href."""
    return urlsplit(url).scheme.lower() in ("http", "https")
