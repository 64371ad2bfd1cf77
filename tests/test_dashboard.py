"""The group dashboard: signed expiring links, the `dashboard` command, and the page behind
`/dashboard/{token}` through the real redirector, as HTML and in headless Chromium.

A seeded group has known numbers (below); the page must show exactly those, escape what
members typed, and refuse wrong, tampered and expired tokens with a 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType

import aiohttp
import pytest

from bot.context import Context
from bot.dashboard import DashboardLinks, DashboardReplies
from bot.errors import UserError
from bot.model import Click, ClickClass, Group
from bot.storage import StoreUnavailable
from suo.app import Suo
from tests.conftest import BOTH_ENGINES, FIXED_NOW, FakeClock, group_message, serving
from tests.test_pages import Elements

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES

chrome: ModuleType | None
try:
    from playwright.async_api import Browser, Page, Route, expect

    from tests import browser as chrome
except ImportError:  # playwright is an optional test dependency
    chrome = None

SECRET = "test-secret"  # conftest's server.secret
PUBLIC = "https://suo.test"
ZH = "zh-CN,zh;q=0.9"
EN = "en-US,en;q=0.9"
TITLE = "读书会 <script>alert(1)</script> & 朋友"
ROUTE = "/dashboard/{token}"
CLICK_IDS = itertools.count(1)
EVIL_URL = 'https://evil.example/"><script>alert(2)</script>'


def links(secret: str = SECRET, **kwargs: timedelta) -> DashboardLinks:
    return DashboardLinks(secret, PUBLIC, **kwargs)


# --- tokens -----------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(payload: bytes, secret: str = SECRET) -> str:
    """A token built by hand: right format, signed with `secret`."""
    signature = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return f"{b64(payload)}.{b64(signature)}"


def test_a_token_names_its_group_until_it_expires() -> None:
    token = links().sign(42, FIXED_NOW)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}", token)  # URL-safe, no padding
    assert links().verify(token, FIXED_NOW) == 42
    assert links().verify(token, FIXED_NOW + timedelta(days=7, seconds=-1)) == 42
    assert links().verify(token, FIXED_NOW + timedelta(days=7)) is None
    assert links().verify(token, FIXED_NOW + timedelta(days=30)) is None

    hour = links(valid_for=timedelta(hours=1))
    assert hour.verify(hour.sign(7, FIXED_NOW), FIXED_NOW + timedelta(minutes=59)) == 7
    assert hour.verify(hour.sign(7, FIXED_NOW), FIXED_NOW + timedelta(minutes=60)) is None


def test_the_url_is_the_public_dashboard_address() -> None:
    url = links().url_for(5, FIXED_NOW)
    assert url.startswith(f"{PUBLIC}/dashboard/")
    assert links().verify(url.rsplit("/", 1)[1], FIXED_NOW) == 5


def flip(text: str, index: int) -> str:
    swapped = "B" if text[index] == "A" else "A"
    return text[:index] + swapped + text[index + 1 :]


def test_tampered_truncated_and_malformed_tokens_are_refused() -> None:
    token = links().sign(42, FIXED_NOW)
    payload, _, signature = token.partition(".")
    other_payload = links().sign(43, FIXED_NOW).partition(".")[0]
    for bad in [
        flip(token, 0),
        flip(token, len(payload) - 1),
        flip(token, len(payload) + 1),
        flip(token, len(token) - 1),
        f"{other_payload}.{signature}",  # another group's payload under this signature
        token[:-1],
        token + "A",
        payload,
        f"{payload}.",
        f".{signature}",
        f"{payload}.{signature}.{signature}",
        f"{payload}={'.'}{signature}",
        token.replace("-", "+").replace("_", "/"),
        "",
        ".",
        "x" * 10_000,
        "看板.看板",
    ]:
        if bad != token:
            assert links().verify(bad, FIXED_NOW) is None, bad


def test_another_secret_or_no_secret_verifies_nothing() -> None:
    token = links().sign(42, FIXED_NOW)
    assert links("another-secret").verify(token, FIXED_NOW) is None
    assert links("").verify(token, FIXED_NOW) is None
    assert links("").verify(forged(b"1:dashboard:42:9999999999", ""), FIXED_NOW) is None
    with pytest.raises(ValueError, match=r"server\.secret"):
        links("").sign(42, FIXED_NOW)
    assert not links("").enabled
    assert SECRET not in repr(links()) and SECRET not in repr(vars(type(links())))


def test_only_a_version_1_dashboard_payload_is_believed() -> None:
    expires = int(FIXED_NOW.timestamp()) + 3600
    assert links().verify(forged(f"1:dashboard:42:{expires}".encode()), FIXED_NOW) == 42
    for payload in [
        f"2:dashboard:42:{expires}",  # a future format
        f"1:digest:42:{expires}",  # something else signed with the same secret
        f"1:dashboard:-42:{expires}",
        f"1:dashboard:+42:{expires}",
        f"1:dashboard:42:{expires}:extra",
        f"1:dashboard:42: {expires}",
        "1:dashboard:42",
        "",
    ]:
        assert links().verify(forged(payload.encode()), FIXED_NOW) is None, payload


# --- the chat command -------------------------------------------------------------------------


async def context(suo: Suo, *, lang: str = "zh-CN") -> Context:
    message = group_message("/dashboard", user="alice")
    group = await suo.store.upsert_group(message.platform, message.chat_id, message.chat_title)
    if lang != group.lang:
        await suo.store.set_group_lang(group.id, lang)
        group = await suo.store.get_group(group.id) or group
    sharer = await suo.store.upsert_user(message.platform, "alice", "Alice")
    return Context(message=message, group=group, sharer_id=sharer)


def replies(suo: Suo, secret: str = SECRET) -> DashboardReplies:
    return DashboardReplies(suo.store, DashboardLinks(secret, PUBLIC), suo.clock)


DASHBOARD_URL = re.compile(r"https://suo\.test/dashboard/([A-Za-z0-9_.-]+)(\?days=\d+)?")


async def test_the_command_replies_with_a_signed_link_to_the_groups_dashboard(
    suo: Suo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = await context(suo)
    [reply] = await replies(suo).dashboard_command(ctx, "")
    found = DASHBOARD_URL.search(reply.text)
    assert found, reply.text
    assert found[2] is None
    assert links().verify(found[1], FIXED_NOW) == ctx.group.id
    # Asia/Shanghai: FIXED_NOW is 17:30 there, and the link lasts 7 days.
    assert "2026-11-30 17:30" in reply.text
    assert "最近 7 天" in reply.text
    assert found[1] not in caplog.text and SECRET not in caplog.text

    [reply] = await replies(suo).dashboard_command(ctx, "30d")
    found = DASHBOARD_URL.search(reply.text)
    assert found and found[2] == "?days=30"
    assert "最近 30 天" in reply.text
    with pytest.raises(UserError) as refused:
        await replies(suo).dashboard_command(ctx, "forever")
    assert refused.value.message_key == "dashboard_usage"

    [english] = await replies(suo).dashboard_command(await context(suo, lang="en"), "")
    assert "This group's dashboard" in english.text and DASHBOARD_URL.search(english.text)


async def test_without_a_server_secret_the_command_says_what_the_operator_must_set(
    suo: Suo,
) -> None:
    [reply] = await replies(suo, secret="").dashboard_command(await context(suo), "")
    assert "server.secret" in reply.text and "SUO_SECRET" in reply.text
    assert "/dashboard/" not in reply.text
    [english] = await replies(suo, secret="").dashboard_command(await context(suo, lang="en"), "")
    assert "the operator must set server.secret" in english.text


# --- the page ---------------------------------------------------------------------------------
#
# The seeded group, FIXED_NOW = Mon 2026-11-23 09:30 UTC (17:30 in Asia/Shanghai). The 7-day
# period is [Nov 16 10:00, Nov 23 10:00) UTC, one bar per 24 h, named by the Shanghai date the
# 24 h end on: 11/17 ... 11/23.
#   link A (Alice 王): 5 human on Nov 23 08:00 (WeChat; readers v1 v1 v2 v3 v3 -> 3)
#                      2 human on Nov 20 12:00 (iPhone; v1 v4 -> 2), 3 previews, 2 bots
#                      1 human on Nov 10 (only in the 30 days)
#   link B (Bob <b>):  4 human on Nov 22 15:00 (1 WeChat, 3 Android; v1 v2 v5 v5 -> 3)
#                      1 human on Nov 16 12:00 (desktop; v6 -> 1), 1 preview
#   link C (Alice 王): never opened; link D in another group: 50 human, never counted.
# 7 days: 3 links shared, 12 human, 4 previews, 2 bots, 9 readers; bars 11/17: 1, 11/21: 2,
# 11/23: 9 (5 + 4); WeChat 6 (50%), Android 3 (25%), iPhone 2 (17%), desktop 1 (8%).
# 30 days: 13 human, 10 readers.

LINK_A = "https://example.com/reading/list?week=47"
LINK_B = "https://shop.example.com/activities/2026/double-eleven/landing?utm_source=wechat"
LINK_C = "https://example.org/c"


@dataclass(frozen=True, slots=True)
class Seeded:
    group: Group
    code_a: str
    code_b: str
    code_evil: str | None = None


def at(day: int, hour: int, month: int = 11) -> int:
    return int(datetime(2026, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def clicks(
    code: str, ts_ms: int, klass: ClickClass, platform: str, visitors: list[str]
) -> list[Click]:
    return [
        Click(next(CLICK_IDS), code, ts_ms + i, klass, platform, "", visitor)
        for i, visitor in enumerate(visitors)
    ]


async def seed(suo: Suo, title: str = "读书会 · 周末") -> Seeded:
    group = await suo.store.upsert_group("telegram", "-100123", title)
    alice = await suo.store.upsert_user("telegram", "1", "Alice 王")
    bob = await suo.store.upsert_user("telegram", "2", "Bob <b>")
    a = (await suo.shortener.shorten_in_group(group, alice, LINK_A)).link.code
    b = (await suo.shortener.shorten_in_group(group, bob, LINK_B)).link.code
    await suo.shortener.shorten_in_group(group, alice, LINK_C)
    elsewhere = await suo.store.upsert_group("telegram", "-100999", "另一个群")
    d = (await suo.shortener.shorten_in_group(elsewhere, alice, LINK_A)).link.code
    human, preview, bot = ClickClass.HUMAN, ClickClass.PREVIEW, ClickClass.BOT
    await suo.store.add_clicks(
        [
            *clicks(a, at(23, 8), human, "wechat", ["v1", "v1", "v2", "v3", "v3"]),
            *clicks(a, at(20, 12), human, "ios", ["v1", "v4"]),
            *clicks(a, at(20, 12), preview, "wechat", ["p1", "p2", "p3"]),
            *clicks(a, at(21, 3), bot, "other", ["b1", "b2"]),
            *clicks(a, at(10, 12), human, "wechat", ["v7"]),
            *clicks(b, at(22, 15), human, "wechat", ["v1"]),
            *clicks(b, at(22, 16), human, "android", ["v2", "v5", "v5"]),
            *clicks(b, at(16, 12), human, "desktop", ["v6"]),
            *clicks(b, at(22, 15), preview, "telegram", ["p4"]),
            *clicks(d, at(22, 9), human, "wechat", [f"x{i}" for i in range(50)]),
        ]
    )
    return Seeded(group, a, b)


@pytest.fixture
async def origin(suo: Suo) -> AsyncIterator[str]:
    """The redirector with the dashboard route, as `suo serve` will mount it, on 127.0.0.1."""
    async with serving(suo.redirector_app()) as base:  # with the dashboard route, as in `suo run`
        yield base


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    html: str

    @property
    def text(self) -> str:
        return Elements(self.html).text


async def get(url: str, accept_language: str = ZH) -> Answer:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Accept-Language": accept_language}) as resp,
    ):
        return Answer(resp.status, dict(resp.headers), await resp.text())


def dashboard(origin: str, group: Group, query: str = "") -> str:
    return f"{origin}/dashboard/{links().sign(group.id, FIXED_NOW)}{query}"


def assert_private(answer: Answer) -> None:
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Content-Type"].startswith("text/html")
    assert '<meta name="robots" content="noindex">' in answer.html


async def test_the_page_shows_the_groups_last_7_days(suo: Suo, origin: str) -> None:
    seeded = await seed(suo)
    answer = await get(dashboard(origin, seeded.group))
    assert answer.status == 200
    assert_private(answer)
    text = answer.text
    assert "读书会 · 周末" in text
    assert "最近 7 天" in text
    assert "11月17日 – 11月23日 · 更新于 17:30（Asia/Shanghai）" in text
    assert "分享链接 3 真人打开 12 独立读者 9 预览与机器人 6 预览 4 · 机器人 2" in text
    days = re.findall(r"(11/\d\d) (周.) (\d+)", text)
    assert days == [
        ("11/17", "周二", "1"),
        ("11/18", "周三", "0"),
        ("11/19", "周四", "0"),
        ("11/20", "周五", "0"),
        ("11/21", "周六", "2"),
        ("11/22", "周日", "0"),
        ("11/23", "周一", "9"),
    ]
    assert (
        f"suo.test/{seeded.code_a} example.com/reading/list?week=47 Alice 王 7 "
        f"suo.test/{seeded.code_b} shop.example.com/activities/2026/double-eleven/landing?"
        "utm_source=wechat Bob <b> 5"
    ) in text
    # Alice's second link has no opens yet: it still counts among her links.
    assert "分享达人 成员 链接数 打开 Alice 王 2 7 Bob <b> 1 5" in text
    assert "微信 50% 6 安卓浏览器 25% 3 iPhone/iPad 浏览器 17% 2 电脑浏览器 8% 1" in text
    assert "Bob &lt;b&gt;" in answer.html  # a member's name is text, never markup
    assert f'href="{LINK_A}"' in answer.html  # destinations open, with no referrer
    assert 'rel="noopener noreferrer nofollow"' in answer.html
    assert '<a href="?days=30">30 天</a>' in answer.html
    assert '<a href="?days=7" aria-current="page">7 天</a>' in answer.html


async def test_a_sharer_whose_links_nobody_opened_yet_is_on_the_board(
    suo: Suo, origin: str
) -> None:
    seeded = await seed(suo)
    carol = await suo.store.upsert_user("telegram", "3", "Carol")
    await suo.shortener.shorten_in_group(seeded.group, carol, "https://example.org/new-today")
    text = (await get(dashboard(origin, seeded.group))).text
    assert "Alice 王 2 7 Bob <b> 1 5 Carol 1 0" in text
    assert "分享链接 4" in text
    english = (await get(dashboard(origin, seeded.group), EN)).text
    assert "Previews & bots 6 4 previews · 2 bots" in english


async def test_the_30_day_view_and_odd_periods(suo: Suo, origin: str) -> None:
    seeded = await seed(suo)
    month = (await get(dashboard(origin, seeded.group, "?days=30"))).text
    assert "最近 30 天" in month
    assert "真人打开 13 独立读者 10" in month
    assert len(re.findall(r"\d\d?/\d\d? 周.", month)) == 30
    assert "11/11 周三 1" in month  # the Nov 10 12:00 UTC open: the 24 h ending Nov 11 17:00
    for odd in ["?days=365", "?days=abc", "?days=", "?days=-30"]:
        week = (await get(dashboard(origin, seeded.group, odd))).text
        assert "最近 7 天" in week and "真人打开 12 " in week, odd


async def test_the_page_in_english_and_for_a_group_with_nothing_opened(
    suo: Suo, origin: str
) -> None:
    seeded = await seed(suo)
    text = (await get(dashboard(origin, seeded.group), EN)).text
    assert "Group dashboard · Last 7 days" in text
    assert "Nov 17 – Nov 23 · updated 17:30 (Asia/Shanghai)" in text
    assert "Links shared 3 Human opens 12 Unique readers 9 Previews & bots 6" in text
    assert "11/23 Mon 9" in text
    assert "WeChat 50% 6" in text

    quiet = await suo.store.upsert_group("telegram", "-100777", "安静的群")
    answer = await get(dashboard(origin, quiet))
    assert answer.status == 200
    assert "分享链接 0 真人打开 0 独立读者 0 预览与机器人 0" in answer.text
    assert "这段时间还没有人打开本群的链接。" in answer.text
    assert "分享达人" not in answer.text


async def test_everything_members_typed_is_escaped(suo: Suo, origin: str) -> None:
    group = await suo.store.upsert_group("telegram", "-100666", TITLE)
    mallory = await suo.store.upsert_user("telegram", "6", '<img src=x onerror="alert(3)">')
    code = (await suo.shortener.shorten_in_group(group, mallory, EVIL_URL)).link.code
    await suo.store.add_clicks(clicks(code, at(23, 8), ClickClass.HUMAN, "wechat", ["v1"]))
    answer = await get(dashboard(origin, group))
    assert answer.status == 200
    html = answer.html.lower()
    assert "<script" not in html and "<img" not in html
    assert "读书会 &lt;script&gt;alert(1)&lt;/script&gt; &amp; 朋友" in answer.html
    assert TITLE in answer.text
    assert '<img src=x onerror="alert(3)">' in answer.text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in answer.html
    assert "script-src" not in answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]


async def test_wrong_tampered_expired_and_foreign_tokens_get_a_403(
    suo: Suo, origin: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seeded = await seed(suo)
    token = links().sign(seeded.group.id, FIXED_NOW)
    for bad in [
        "nonsense",
        flip(token, 2),
        links("another-secret").sign(seeded.group.id, FIXED_NOW),
        links().sign(99_999, FIXED_NOW),  # genuine, but no such group here
        "a" * 5000,
    ]:
        answer = await get(f"{origin}/dashboard/{bad}")
        assert answer.status == 403, bad
        assert_private(answer)
        assert "看板链接无效或已过期" in answer.text
        assert "请在群里发送 /dashboard 或 /看板，获取新的链接。" in answer.text
        assert "读书会" not in answer.text
    english = await get(f"{origin}/dashboard/{flip(token, 2)}", EN)
    assert "This dashboard link is invalid or has expired" in english.text

    assert (await get(f"{origin}/dashboard/{token}")).status == 200
    clock.now = FIXED_NOW + timedelta(days=7)
    expired = await get(f"{origin}/dashboard/{token}?days=30")
    assert expired.status == 403 and "看板链接无效或已过期" in expired.text
    assert token not in caplog.text and SECRET not in caplog.text


async def test_a_store_failure_is_a_503_that_names_no_token(
    suo: Suo, origin: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    seeded = await seed(suo)

    async def broken(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("database is locked")

    monkeypatch.setattr(suo.store, "period_stats", broken)
    url = dashboard(origin, seeded.group)
    with caplog.at_level(logging.ERROR, logger="redirector.dashboard"):
        answer = await get(url)
    assert answer.status == 503
    assert_private(answer)
    assert "请稍后再试" in answer.text
    assert "database is locked" not in answer.html
    assert f"group={seeded.group.id}" in caplog.text
    assert url.rsplit("/", 1)[1] not in caplog.text


# --- in Chromium ------------------------------------------------------------------------------

NO_PLAYWRIGHT = "playwright is not installed (pip install -e '.[test]')"
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if chrome is None:
        pytest.skip(NO_PLAYWRIGHT)
    if chrome.CHROMIUM is None:
        pytest.skip(chrome.NO_CHROMIUM)
    async with chrome.chromium() as browser:
        yield browser


@asynccontextmanager
async def screen(
    browser: Browser, origin: str, *, desktop: bool = False, accept_language: str = ZH
) -> AsyncIterator[Page]:
    """A phone (or a desktop browser) that may load nothing but `origin`: anything else is
    refused and fails the test, on top of Chromium resolving no name but 127.0.0.1."""
    assert chrome is not None
    context = await browser.new_context(
        **(
            {"viewport": DESKTOP}
            if desktop
            else {
                "viewport": chrome.IPHONE_15,
                "device_scale_factor": 2,
                "is_mobile": True,
                "has_touch": True,
                "user_agent": chrome.SAFARI_IOS,
            }
        ),
        locale=accept_language.split(",", 1)[0],
        extra_http_headers={"Accept-Language": accept_language},
    )
    elsewhere: list[str] = []

    async def loopback_only(route: Route) -> None:
        if route.request.url.startswith(f"{origin}/"):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("blockedbyclient")

    try:
        await context.route("**/*", loopback_only)
        yield await context.new_page()
    finally:
        await context.close()
    assert elsewhere == [], "the dashboard must load nothing from anywhere else"


async def fits_the_screen(page: Page) -> None:
    assert chrome is not None
    assert not await chrome.overflows_sideways(page)
    width = await page.evaluate("window.innerWidth")
    for table in await page.locator("table").all():
        box = await table.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


async def test_the_dashboard_on_an_iphone_shows_the_numbers(
    suo: Suo, origin: str, chromium: Browser
) -> None:
    seeded = await seed(suo, title="读书会 · 周末 <b>粗体</b>")
    async with screen(chromium, origin) as page:
        response = await page.goto(dashboard(origin, seeded.group))
        assert response is not None and response.status == 200
        await expect(page.locator("#group-title")).to_have_text("读书会 · 周末 <b>粗体</b>")
        await expect(page.locator("#kpi-links .kpi-value")).to_have_text("3")
        await expect(page.locator("#kpi-human .kpi-value")).to_have_text("12")
        await expect(page.locator("#kpi-readers .kpi-value")).to_have_text("9")
        await expect(page.locator("#kpi-machines .kpi-split")).to_have_text("预览 4 · 机器人 2")
        for locator in ("#kpi-links", "#kpi-human", "#kpi-readers", "#kpi-machines"):
            await expect(page.locator(locator)).to_be_visible()

        tallest = page.locator("#per-day g.day").filter(has_text="11/23")
        await expect(tallest.locator("text.n")).to_have_text("9")
        await expect(tallest.locator("text.n")).to_be_visible()
        shorter = page.locator("#per-day g.day").filter(has_text="11/21")
        await expect(shorter.locator("text.n")).to_have_text("2")
        tall_box = await tallest.locator("rect.bar").bounding_box()
        short_box = await shorter.locator("rect.bar").bounding_box()
        assert tall_box and short_box
        assert tall_box["width"] == pytest.approx(short_box["width"] * 9 / 2, rel=0.02)
        number_box = await tallest.locator("text.n").bounding_box()
        assert number_box and number_box["x"] >= tall_box["x"] + tall_box["width"]
        assert number_box["x"] + number_box["width"] <= 393

        first = page.locator("#top-links tbody tr").first
        await expect(first).to_be_visible()
        await expect(first.locator("td").nth(0)).to_contain_text(f"suo.test/{seeded.code_a}")
        await expect(first.locator("td").nth(0)).to_contain_text("example.com")
        await expect(first.locator("td").nth(1)).to_have_text("Alice 王")
        await expect(first.locator("td").nth(2)).to_have_text("7")
        await expect(page.locator("#platforms li").first).to_have_text(
            re.compile(r"微信\s*50%\s*6")
        )
        await fits_the_screen(page)
        assert chrome is not None
        await chrome.save_screenshot(page, "dashboard-iphone-7d")

        await page.get_by_role("link", name="30 天").click()
        await expect(page.locator("#kpi-human .kpi-value")).to_have_text("13")
        assert page.url.endswith("?days=30")
        await expect(page.get_by_role("link", name="30 天")).to_have_attribute(
            "aria-current", "page"
        )
        await expect(page.locator("#per-day g.day")).to_have_count(30)
        await fits_the_screen(page)
        await chrome.save_screenshot(page, "dashboard-iphone-30d")


async def test_the_dashboard_on_a_desktop(suo: Suo, origin: str, chromium: Browser) -> None:
    seeded = await seed(suo)
    assert chrome is not None
    async with screen(chromium, origin, desktop=True) as page:
        await page.goto(dashboard(origin, seeded.group))
        await expect(page.locator("#kpi-human .kpi-value")).to_have_text("12")
        # Four figures side by side, and sharers beside platforms.
        tops = {
            round((await page.locator(f"#{kpi}").bounding_box() or {"y": -1})["y"])
            for kpi in ("kpi-links", "kpi-human", "kpi-readers", "kpi-machines")
        }
        assert len(tops) == 1
        sharers = await page.locator("#top-sharers").bounding_box()
        platforms = await page.locator("#platforms").bounding_box()
        assert sharers and platforms and sharers["y"] == platforms["y"]
        await fits_the_screen(page)
        await chrome.save_screenshot(page, "dashboard-desktop-7d")

    async with screen(chromium, origin, desktop=True, accept_language=EN) as page:
        await page.goto(dashboard(origin, seeded.group, "?days=30"))
        await expect(page.locator("#kpi-human .kpi-label")).to_have_text("Human opens")
        await expect(page.locator("#kpi-human .kpi-value")).to_have_text("13")
        await chrome.save_screenshot(page, "dashboard-desktop-30d-en")


async def test_a_wrong_or_expired_link_says_so_in_the_browser(
    suo: Suo, origin: str, chromium: Browser, clock: FakeClock
) -> None:
    seeded = await seed(suo)
    assert chrome is not None
    async with screen(chromium, origin) as page:
        response = await page.goto(f"{origin}/dashboard/not-a-token")
        assert response is not None and response.status == 403
        await expect(page.get_by_role("heading", name="看板链接无效或已过期")).to_be_visible()
        await expect(page.get_by_text("获取新的链接")).to_be_visible()
        await chrome.save_screenshot(page, "dashboard-refused-iphone")

    url = dashboard(origin, seeded.group)
    clock.now = FIXED_NOW + timedelta(days=8)
    async with screen(chromium, origin, accept_language=EN) as page:
        response = await page.goto(url)
        assert response is not None and response.status == 403
        heading = page.get_by_role("heading", name="This dashboard link is invalid or has expired")
        await expect(heading).to_be_visible()
        await chrome.save_screenshot(page, "dashboard-expired-iphone-en")
