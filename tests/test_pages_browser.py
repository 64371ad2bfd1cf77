"""The reader-facing pages in a real browser: Debian's headless Chromium as an iPhone, in
WeChat's in-app browser and in Safari: visible text, the copy button, screenshots.

Pages come from a tiny aiohttp app on 127.0.0.1 port 0 serving the render_* output, and,
further down, from the real redirector with rules set in chat as an admin sets them. The
browser never leaves 127.0.0.1: a 302 elsewhere is checked but never handed to it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import pytest

pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install -e '.[test]')"
)

import aiohttp
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Page, Route, expect

from bot.config import Config
from bot.model import IncomingMessage, Reply
from redirector.pages import render_closed, render_guide, render_info, render_platform_page
from suo.app import Suo
from tests.browser import (
    CHROMIUM,
    NO_CHROMIUM,
    SAFARI_IOS,
    WECHAT_IOS,
    chromium,
    clipboard_text,
    overflows_sideways,
    phone,
    save_screenshot,
)
from tests.conftest import FakeClock, group_message, serving

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM),
    pytest.mark.asyncio(loop_scope="module"),  # one browser for the module
]

CODE = "Ab3c"
TARGET = (
    "https://shop.example.com/activities/2026/double-eleven/landing?"
    "utm_source=wechat&utm_medium=group&utm_campaign=reading-club&ref=Ab3c"
)


@dataclass(frozen=True, slots=True)
class Reader:
    name: str  # used in screenshot names
    user_agent: str
    accept_language: str

    @property
    def zh(self) -> bool:
        return self.accept_language.startswith("zh")


READERS = [
    Reader("wechat-ios", WECHAT_IOS, "zh-CN,zh;q=0.9"),
    Reader("safari-ios", SAFARI_IOS, "zh-CN,zh;q=0.9"),
    Reader("wechat-ios-en", WECHAT_IOS, "en-US,en;q=0.9"),
]
by_reader = pytest.mark.parametrize("reader", READERS, ids=[r.name for r in READERS])


def pages_app() -> web.Application:
    """The pages with the status codes the redirector answers them with."""

    def html(request: web.Request, status: int, body: str) -> web.Response:
        return web.Response(status=status, text=body, content_type="text/html")

    def short_url(request: web.Request) -> str:
        return f"{request.url.origin()}/{CODE}"

    def language(request: web.Request) -> str:
        return request.headers.get("Accept-Language", "")

    async def guide(request: web.Request) -> web.Response:
        page = render_guide(
            short_url=short_url(request),
            target_url=TARGET,
            platform="wechat",
            os="ios",
            accept_language=language(request),
        )
        return html(request, 200, page)

    async def platform(request: web.Request) -> web.Response:
        page = render_platform_page(
            short_url=short_url(request),
            allowed=frozenset({"qq", "dingtalk"}),
            platform="wechat",
            accept_language=language(request),
        )
        return html(request, 403, page)

    async def expired(request: web.Request) -> web.Response:
        return html(request, 410, render_closed("expired", language(request)))

    async def info(request: web.Request) -> web.Response:
        page = render_info(
            code=CODE,
            short_url=short_url(request),
            target_url=TARGET,
            group_title="读书会 · Reading club <2026>",
            sharer="Alice 王",
            created_at=datetime(2026, 11, 20, 8, 5, tzinfo=UTC),
            human_clicks=1234,
            status="active",
            accept_language=language(request),
        )
        return html(request, 200, page)

    app = web.Application()
    app.router.add_get("/guide", guide)
    app.router.add_get("/platform", platform)
    app.router.add_get("/expired", expired)
    app.router.add_get(f"/{CODE}+", info)
    return app


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def origin() -> AsyncIterator[str]:
    async with serving(pages_app()) as base:
        yield base


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser, origin: str, reader: Reader) -> AsyncIterator[Page]:
    async with phone(
        browser,
        user_agent=reader.user_agent,
        accept_language=reader.accept_language,
        origin=origin,
    ) as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        yield page
        elsewhere = [url for url in requested if not url.startswith(f"{origin}/")]
        assert elsewhere == [], "pages must load nothing from anywhere else"


async def open_page(page: Page, url: str, status: int) -> str:
    response = await page.goto(url)
    assert response is not None
    assert response.status == status
    assert not await overflows_sideways(page)
    return await page.inner_text("body")


async def copy_short_link(page: Page, short_link: str, reader: Reader) -> None:
    """Tap the copy button: the feedback appears and the clipboard holds the short link."""
    await page.evaluate("navigator.clipboard.writeText('something else')")
    copied = page.locator("#copied")
    assert not await copied.is_visible()
    await page.get_by_role("button", name="复制链接" if reader.zh else "Copy link").click()
    await expect(copied).to_be_visible()
    await expect(copied).to_have_text("已复制" if reader.zh else "Copied")
    assert await clipboard_text(page) == short_link


@by_reader
async def test_guide_shows_the_destination_the_safari_step_and_copies_the_short_link(
    page: Page, origin: str, reader: Reader
) -> None:
    text = await open_page(page, f"{origin}/guide", 200)
    assert "shop.example.com" in text
    assert TARGET in text.replace("\n", "")  # the full address, wrapped to the screen
    if reader.zh:
        assert "请在浏览器中打开" in text
        assert "微信的内置浏览器可能会拦截外部链接" in text
        assert "点击右上角的「···」" in text
        assert "选择「在 Safari 中打开」" in text
        continue_name = "继续访问"
    else:
        assert "Open this link in your browser" in text
        assert "WeChat's in-app browser may block outside links" in text
        assert "Choose “Open in Safari”" in text
        continue_name = "Continue here anyway"
    onward = page.get_by_role("link", name=continue_name)
    assert await onward.is_visible()
    assert await onward.get_attribute("href") == TARGET
    assert await page.locator("#short-link").input_value() == f"{origin}/{CODE}"

    await copy_short_link(page, f"{origin}/{CODE}", reader)
    await save_screenshot(page, f"guide-{reader.name}")
    assert page.url == f"{origin}/guide"  # nothing navigated on its own


@by_reader
async def test_platform_page_names_where_the_link_opens_and_copies_it(
    page: Page, origin: str, reader: Reader
) -> None:
    text = await open_page(page, f"{origin}/platform", 403)
    if reader.zh:
        assert "无法在这里打开" in text
        assert "这个链接只能在以下地方打开：QQ、钉钉。" in text
        assert "你现在使用的是：微信。" in text
    else:
        assert "This link can't open here" in text
        assert "This link opens only in: QQ, DingTalk." in text
        assert "You are using: WeChat." in text

    await copy_short_link(page, f"{origin}/{CODE}", reader)
    await save_screenshot(page, f"platform-{reader.name}")


@by_reader
async def test_expired_page_says_so(page: Page, origin: str, reader: Reader) -> None:
    text = await open_page(page, f"{origin}/expired", 410)
    if reader.zh:
        assert "链接已过期" in text
        assert "这个短链接已过有效期" in text
    else:
        assert "Link expired" in text
        assert "This short link has expired." in text
    await save_screenshot(page, f"expired-{reader.name}")


@by_reader
async def test_info_page_lists_what_the_link_is(page: Page, origin: str, reader: Reader) -> None:
    text = await open_page(page, f"{origin}/{CODE}+", 200)
    assert TARGET in text.replace("\n", "")
    assert "读书会 · Reading club <2026>" in text
    assert "Alice 王" in text
    assert "2026-11-20\u00a008:05\u00a0(UTC)" in text  # the time never wraps from its zone
    assert "1,234" in text
    assert ("有效" if reader.zh else "Active") in text
    await save_screenshot(page, f"info-{reader.name}")


@pytest.mark.parametrize("reader", READERS[:1], ids=[READERS[0].name])
async def test_copy_works_in_browsers_without_the_async_clipboard(
    page: Page, origin: str, reader: Reader
) -> None:
    # Older in-app browsers, and any page served over plain http, have no navigator.clipboard.
    await page.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    await open_page(page, f"{origin}/guide", 200)
    await page.get_by_role("button", name="复制链接").click()
    await expect(page.locator("#copied")).to_be_visible()

    reader_tab = await page.context.new_page()
    await reader_tab.goto(f"{origin}/expired")
    assert await clipboard_text(reader_tab) == f"{origin}/{CODE}"


# --- through the real redirector -------------------------------------------------------------
#
# `suo.redirector_app()` served as `suo serve` serves it (fast path included) on 127.0.0.1
# port 0; rules are set in chat by an admin and links posted by a member, as in test_policy.

SHORT = re.compile(r"https://suo\.test/([A-Za-z0-9]+)")
WECHAT, SAFARI = READERS[0], READERS[1]  # zh-CN, as most readers are
as_both = pytest.mark.parametrize("reader", [WECHAT, SAFARI], ids=[WECHAT.name, SAFARI.name])


def admin(text: str) -> IncomingMessage:
    return replace(group_message(text, user="boss"), is_admin=True)


def member(text: str) -> IncomingMessage:
    return group_message(text, user="alice")


async def say(suo: Suo, message: IncomingMessage) -> str:
    replies: list[Reply] = await suo.core.handle(message)
    return "\n".join(reply.text for reply in replies)


async def shorten(suo: Suo, message: IncomingMessage) -> str:
    """The short code in the bot's reply to `message`."""
    text = await say(suo, message)
    found = SHORT.search(text)
    assert found, text
    return found[1]


@pytest_asyncio.fixture(loop_scope="module")
async def suo(config: Config, clock: FakeClock) -> AsyncIterator[Suo]:
    """conftest's `suo`, opened on the module's loop, which the browser and the tests share."""
    app = await Suo.open(config, clock=clock)
    try:
        yield app
    finally:
        await app.shutdown()


@pytest_asyncio.fixture(loop_scope="module")
async def redirector(suo: Suo) -> AsyncIterator[str]:
    async with serving(suo.redirector_app()) as base:
        yield base


@dataclass(frozen=True, slots=True)
class Held:
    """A redirect elsewhere that the redirector answered and the browser was never given."""

    url: str
    status: int
    location: str


@dataclass(slots=True)
class Tab:
    page: Page
    origin: str  # the redirector's
    held: list[Held] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # requests for anywhere else, refused


HELD_PAGE = "<!doctype html><title>held</title><p>Redirect held: tests stay on 127.0.0.1.</p>"
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@asynccontextmanager
async def loopback_tab(browser: Browser, origin: str, reader: Reader) -> AsyncIterator[Tab]:
    """A phone whose browser only ever talks to `origin`.

    Playwright's routes never see the requests a redirect leads to, so the browser must not
    be handed a redirect elsewhere: every request for `origin` is made with `route.fetch`
    without following redirects, and one leading elsewhere is recorded in `held` and
    answered with a stub page. Requests for anywhere else are refused outright.
    """
    async with phone(
        browser,
        user_agent=reader.user_agent,
        accept_language=reader.accept_language,
        origin=origin,
    ) as page:
        tab = Tab(page, origin)
        requested: list[str] = []
        page.context.on("request", lambda request: requested.append(request.url))

        async def stay_on_loopback(route: Route) -> None:
            url = route.request.url
            if not url.startswith(f"{origin}/"):
                tab.stopped.append(url)
                await route.abort("blockedbyclient")
                return
            answer = await route.fetch(max_redirects=0)
            location = urljoin(url, answer.headers.get("location", ""))
            if answer.status in REDIRECTS and not location.startswith(f"{origin}/"):
                tab.held.append(Held(url, answer.status, location))
                await route.fulfill(status=200, content_type="text/html", body=HELD_PAGE)
            else:
                await route.fulfill(response=answer)

        await page.context.route("**/*", stay_on_loopback)
        yield tab
        elsewhere = [url for url in requested if not url.startswith(f"{origin}/")]
        assert elsewhere == tab.stopped == [], "pages must load nothing from anywhere else"


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, redirector: str, reader: Reader) -> AsyncIterator[Tab]:
    async with loopback_tab(browser, redirector, reader) as tab:
        yield tab


async def redirects_to(tab: Tab, code: str, target: str) -> None:
    """Opening the short link in the browser gets a 302 to `target`, which is not followed."""
    short = f"{tab.origin}/{code}"
    response = await tab.page.goto(short)
    assert response is not None and response.url == short
    assert tab.held == [Held(short, 302, target)]
    assert tab.page.url == short  # the browser stayed put


async def http_get(origin: str, code: str, user_agent: str) -> tuple[int, str]:
    """A GET that does not follow the redirect: (status, Location)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{origin}/{code}", headers={"User-Agent": user_agent}, allow_redirects=False
        ) as resp,
    ):
        return resp.status, resp.headers.get("Location", "")


def shot(case: str, reader: Reader) -> str:
    return f"redirector-{case}-{reader.name}"


async def test_redirector_with_anti_red_guides_wechat_readers_and_redirects_safari(
    suo: Suo, browser: Browser, redirector: str
) -> None:
    assert "防红" in await say(suo, admin("/settings 防红 开"))
    target = "https://example.com/event?id=7"
    code = await shorten(suo, member(f"看这个 {target}"))
    short_link = f"https://suo.test/{code}"  # the public address, as the page shows it

    async with loopback_tab(browser, redirector, WECHAT) as tab:
        page = tab.page
        text = await open_page(page, f"{redirector}/{code}", 200)
        await expect(page.locator(".host")).to_have_text("example.com")
        await expect(page.locator(".host")).to_be_visible()
        assert target in text.replace("\n", "")
        assert "微信的内置浏览器可能会拦截外部链接" in text
        assert "点击右上角的「···」" in text
        await expect(page.get_by_text("选择「在 Safari 中打开」")).to_be_visible()
        await expect(page.locator("#short-link")).to_be_visible()
        assert await page.locator("#short-link").input_value() == short_link
        await copy_short_link(page, short_link, WECHAT)
        await save_screenshot(page, shot("guide", WECHAT))
        assert tab.held == []
        assert page.url == f"{redirector}/{code}"  # nothing navigated on its own

    async with loopback_tab(browser, redirector, SAFARI) as tab:
        await redirects_to(tab, code, target)
    assert await http_get(redirector, code, SAFARI_IOS) == (302, target)


async def test_redirector_keeps_a_wechat_only_link_to_wechat(
    suo: Suo, browser: Browser, redirector: str
) -> None:
    target = "https://example.com/only"
    code = await shorten(suo, admin(f"/short {target} platforms=wechat"))
    short_link = f"https://suo.test/{code}"

    async with loopback_tab(browser, redirector, SAFARI) as tab:
        page = tab.page
        text = await open_page(page, f"{redirector}/{code}", 403)
        assert "无法在这里打开" in text
        await expect(page.get_by_text("这个链接只能在以下地方打开：微信。")).to_be_visible()
        await expect(page.get_by_text("你现在使用的是：iPhone/iPad 浏览器。")).to_be_visible()
        assert await page.locator("#short-link").input_value() == short_link
        await copy_short_link(page, short_link, SAFARI)
        await save_screenshot(page, shot("platform", SAFARI))
        assert tab.held == []

    async with loopback_tab(browser, redirector, WECHAT) as tab:
        await redirects_to(tab, code, target)


@as_both
async def test_redirector_says_an_expired_link_has_expired(
    suo: Suo, clock: FakeClock, tab: Tab, reader: Reader
) -> None:
    target = "https://example.com/soon"
    code = await shorten(suo, admin(f"/short {target} expires=1h"))
    assert await http_get(tab.origin, code, reader.user_agent) == (302, target)
    clock.now += timedelta(hours=2)

    page = tab.page
    text = await open_page(page, f"{tab.origin}/{code}", 410)
    await expect(page.get_by_role("heading", name="链接已过期")).to_be_visible()
    assert "这个短链接已过有效期，请向分享者索取新的链接。" in text
    await save_screenshot(page, shot("expired", reader))


@as_both
async def test_redirector_says_a_deleted_link_was_removed(
    suo: Suo, tab: Tab, reader: Reader
) -> None:
    target = "https://example.com/bad"
    code = await shorten(suo, member(target))
    # Opened once first, so the link is in the redirector's cache when it is deleted.
    assert await http_get(tab.origin, code, reader.user_agent) == (302, target)
    assert code in await say(suo, admin(f"/delete {code}"))

    page = tab.page
    text = await open_page(page, f"{tab.origin}/{code}", 410)
    await expect(page.get_by_role("heading", name="链接已被删除")).to_be_visible()
    assert "群管理员已删除这个短链接。" in text
    await save_screenshot(page, shot("removed", reader))


@as_both
async def test_redirector_info_page_shows_the_destination_and_human_opens(
    suo: Suo, tab: Tab, reader: Reader
) -> None:
    target = "https://example.com/reading/list?week=47"
    code = await shorten(suo, member(target))
    for _ in range(2):
        assert await http_get(tab.origin, code, SAFARI_IOS) == (302, target)
    await suo.recorder.flush()

    page = tab.page
    text = await open_page(page, f"{tab.origin}/{code}+", 200)
    destination = page.get_by_role("link", name=target)
    await expect(destination).to_be_visible()
    assert await destination.get_attribute("href") == target
    assert f"https://suo.test/{code}" in text
    opens = page.locator(".facts dt", has_text="真人打开次数").locator(
        "xpath=following-sibling::dd[1]"
    )
    await expect(opens).to_be_visible()
    await expect(opens).to_have_text("2")
    assert "Group g1" in text and "Alice" in text and "有效" in text
    await save_screenshot(page, shot("info", reader))
