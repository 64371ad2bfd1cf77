"""The reader-facing pages as HTML: both languages, escaping, the copy field and button.

Fast checks of the rendered text; tests/test_pages_browser.py looks at them in Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from redirector.pages import (
    page_lang,
    render_closed,
    render_guide,
    render_info,
    render_page,
    render_platform_page,
)

ZH = "zh-CN,zh;q=0.9,en;q=0.8"
EN = "en-US,en;q=0.9"
SHORT = "https://suo.test/Ab3"
TARGET = "https://shop.example.com/items/42?ref=group&utm_source=wechat"
EVIL = 'https://evil.example/"><script>alert(1)</script>'


class Elements(HTMLParser):
    """Tags with their attributes, and the text a reader would see (scripts and styles out)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_parts: list[str] = []
        self._skip = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text_parts.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.text_parts))

    def by_id(self, element_id: str) -> dict[str, str | None]:
        found = [attrs for _, attrs in self.tags if attrs.get("id") == element_id]
        assert len(found) == 1, element_id
        return found[0]

    def first(self, tag: str) -> dict[str, str | None]:
        return next(attrs for name, attrs in self.tags if name == tag)


def guide(os: str = "ios", lang: str = ZH, target: str = TARGET, platform: str = "wechat") -> str:
    return render_guide(
        short_url=SHORT, target_url=target, platform=platform, os=os, accept_language=lang
    )


def info(lang: str = ZH, **changes: object) -> str:
    fields: dict[str, object] = {
        "code": "Ab3",
        "short_url": SHORT,
        "target_url": TARGET,
        "group_title": "读书会",
        "sharer": "Alice",
        "created_at": datetime(2026, 11, 20, 8, 5, tzinfo=UTC),
        "human_clicks": 1234,
        "status": "active",
        "accept_language": lang,
    }
    fields.update(changes)
    return render_info(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("", "zh-CN"),
        ("zh-TW,zh", "zh-CN"),
        (ZH, "zh-CN"),
        (EN, "en"),
        ("fr", "en"),
        # Chinese is acceptable to this reader, English is not: Chinese it is.
        ("fr,zh;q=0.5", "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("zh-TW", "zh-CN"),
        ("zh-Hant-HK;q=0.8, de", "zh-CN"),
        ("fr, en;q=0.5", "en"),
        ("EN-gb", "en"),
        # q-values, not order.
        ("en;q=0.3, zh-TW;q=0.9", "zh-CN"),
        # `*` and garbage name no language: the default.
        ("*", "zh-CN"),
        ("*;q=0.5", "zh-CN"),
        ("!!!, 12, en-;q=1, ;;;", "zh-CN"),
        ("zh;q=nope", "zh-CN"),
        # q=0 means "not this one".
        ("zh;q=0, en;q=0.1", "en"),
        ("en;q=0, zh;q=0.5", "zh-CN"),
        ("en;q=0.000", "zh-CN"),
        ("zh-CN;q=0", "en"),
        ("zh;q=0, *", "en"),
        ("en-US;q=0, fr", "zh-CN"),
    ],
)
def test_page_language_follows_the_preferences(header: str, lang: str) -> None:
    assert page_lang(header) == lang


@pytest.mark.parametrize(
    ("header", "choice", "lang"),
    [(EN, "zh", "zh-CN"), (ZH, "en", "en"), (EN, "fr", "en"), ("", "EN", "en"), (ZH, "", "zh-CN")],
)
def test_a_language_switch_wins_when_it_names_one(header: str, choice: str, lang: str) -> None:
    assert page_lang(header, choice) == lang


@pytest.mark.parametrize(
    ("render", "lang", "visible"),
    [
        (lambda lang: guide(lang=lang), ZH, "请在浏览器中打开"),
        (lambda lang: guide(lang=lang), EN, "Open this link in your browser"),
        (lambda lang: render_closed("expired", lang), ZH, "链接已过期"),
        (lambda lang: render_closed("expired", lang), EN, "Link expired"),
        (lambda lang: render_page("not_found", lang), ZH, "链接不存在"),
        (lambda lang: render_page("unavailable", lang), EN, "Try again shortly"),
        (lambda lang: info(lang), EN, "Short link info"),
    ],
)
def test_every_page_is_a_small_mobile_page_in_the_readers_language(
    render: Callable[[str], str], lang: str, visible: str
) -> None:
    html = render(lang)
    page = Elements(html)
    assert page.first("html")["lang"] == page_lang(lang)
    assert {"name": "robots", "content": "noindex"} in [a for t, a in page.tags if t == "meta"]
    viewport = [a for t, a in page.tags if t == "meta" and a.get("name") == "viewport"]
    assert "width=device-width" in (viewport[0]["content"] or "")
    assert visible in page.text
    # Nothing is fetched from anywhere: no stylesheet, script, image or font URLs.
    assert not [a for t, a in page.tags if t in ("link", "img", "iframe") or a.get("src")]
    assert "url(" not in html
    assert "@import" not in html


def test_guide_on_ios_names_the_app_the_destination_and_the_safari_step() -> None:
    page = Elements(guide(os="ios"))
    assert "微信的内置浏览器可能会拦截外部链接" in page.text
    assert "shop.example.com" in page.text
    assert TARGET in page.text
    assert "点击右上角的「···」" in page.text
    assert "选择「在 Safari 中打开」" in page.text
    assert "在浏览器打开" not in page.text


def test_guide_on_android_uses_the_browser_step_in_english() -> None:
    page = Elements(guide(os="android", lang=EN, platform="qq"))
    assert "QQ's in-app browser may block outside links" in page.text
    assert "Tap “⋮” or “···” at the top right" in page.text
    assert "Choose “Open in browser”" in page.text
    assert "Safari" not in page.text


def test_guide_elsewhere_gives_generic_steps_with_the_apps_name() -> None:
    page = Elements(guide(os="other", platform="dingtalk"))
    assert "钉钉的内置浏览器" in page.text
    assert "点击钉钉右上角的菜单" in page.text
    assert "Safari" not in page.text
    assert "「⋮」" not in page.text


@pytest.mark.parametrize(
    ("lang", "button", "copied"), [(ZH, "复制链接", "已复制"), (EN, "Copy link", "Copied")]
)
def test_guide_offers_the_short_link_to_copy_and_a_plain_way_on(
    lang: str, button: str, copied: str
) -> None:
    html = guide(lang=lang)
    page = Elements(html)
    field = page.by_id("short-link")
    assert field["value"] == SHORT
    assert "readonly" in field
    assert button in page.text
    assert "hidden" in page.by_id("copied")  # shown only after a copy
    assert copied in page.text
    assert page.by_id("continue")["href"] == TARGET
    assert "navigator.clipboard.writeText" in html
    assert 'execCommand("copy")' in html
    # Honest: nothing navigates by itself and the page never looks at who is reading.
    assert "http-equiv" not in html
    assert "location" not in html
    assert "userAgent" not in html


def test_guide_escapes_a_hostile_target() -> None:
    html = guide(target=EVIL)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = Elements(html)
    assert page.by_id("continue")["href"] == EVIL  # the parser unescapes the attribute
    assert "evil.example" in page.text


def test_guide_never_links_a_script_target() -> None:
    page = Elements(guide(target="javascript:alert(1)"))
    assert not [a for t, a in page.tags if t == "a"]
    assert "javascript:alert(1)" in page.text


@pytest.mark.parametrize(
    ("lang", "only", "current"),
    [
        (ZH, "这个链接只能在以下地方打开：微信、QQ。", "你现在使用的是：钉钉。"),
        (EN, "This link opens only in: WeChat, QQ.", "You are using: DingTalk."),
    ],
)
def test_platform_page_names_where_the_link_opens(lang: str, only: str, current: str) -> None:
    html = render_platform_page(
        short_url=SHORT,
        allowed=frozenset({"qq", "wechat"}),
        platform="dingtalk",
        accept_language=lang,
    )
    page = Elements(html)
    assert only in page.text
    assert current in page.text
    assert page.by_id("short-link")["value"] == SHORT
    assert page.by_id("copy-link") is not None
    assert "navigator.clipboard.writeText" in html


@pytest.mark.parametrize(
    ("reason", "zh", "en"),
    [
        ("expired", "链接已过期", "Link expired"),
        ("exhausted", "访问次数已用完", "Max opens reached"),
        ("removed", "链接已被删除", "removed this short link"),
    ],
)
def test_closed_pages_say_why_in_both_languages(reason: str, zh: str, en: str) -> None:
    assert zh in Elements(render_closed(reason, ZH)).text
    assert en in Elements(render_closed(reason, EN)).text


def test_closed_refuses_an_unknown_reason() -> None:
    with pytest.raises(ValueError, match="unknown closed reason"):
        render_closed("sleeping", ZH)


def test_message_pages_keep_their_texts() -> None:
    assert "这个短链接不存在，可能输入有误。" in Elements(render_page("not_found", ZH)).text
    assert "This short link has been disabled." in Elements(render_page("gone", EN)).text
    assert "服务暂时不可用，请稍后刷新。" in Elements(render_page("unavailable", ZH)).text


def test_info_page_shows_destination_group_sharer_created_clicks_and_status() -> None:
    text = Elements(info(ZH)).text
    for expected in ("目标网址", "读书会", "Alice", "2026-11-20 08:05 (UTC)", "1,234", "有效"):
        assert expected in text
    # In the group's own zone, labelled, as its chat replies and dashboard give it.
    shanghai = Elements(info(ZH, tz="Asia/Shanghai")).text
    assert "2026-11-20 16:05 (Asia/Shanghai)" in shanghai
    text = Elements(info(EN, sharer=None, status="exhausted")).text
    assert "Shared by unknown" in text
    assert "Max opens reached" in text


def test_info_page_shows_creation_time_in_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    text = Elements(info(EN, created_at=datetime(2026, 11, 20, 16, 5, tzinfo=shanghai))).text
    assert "2026-11-20 08:05 (UTC)" in text


@pytest.mark.parametrize(
    ("status", "zh", "en"),
    [
        ("active", "有效", "Active"),
        ("expired", "已过期", "Expired"),
        ("exhausted", "访问次数已用完", "Max opens reached"),
        ("removed", "已删除", "Removed"),
    ],
)
def test_info_page_translates_the_status(status: str, zh: str, en: str) -> None:
    assert f"状态 {zh}" in Elements(info(ZH, status=status)).text
    assert f"Status {en}" in Elements(info(EN, status=status)).text


def test_info_page_escapes_what_users_wrote() -> None:
    html = info(
        EN,
        target_url=EVIL,
        group_title="<script>alert('group')</script>",
        sharer="<img src=x onerror=alert(1)>",
    )
    assert "<script>alert" not in html
    assert "<img" not in html
    text = Elements(html).text
    assert "<script>alert('group')</script>" in text
    assert "<img src=x onerror=alert(1)>" in text
