"""The reader-facing pages in a real browser: Debian's headless Chromium as an iPhone, in
WeChat's in-app browser and in Safari: visible text, the copy button, screenshots.

Pages come from a tiny aiohttp app on 127.0.0.1 port 0 serving the render_* output.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install -e '.[test]')"
)

import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Page, expect

from redirector.pages import render_closed, render_guide, render_info, render_platform_page
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
    runner = web.AppRunner(pages_app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


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


async def copy_short_link(page: Page, origin: str, reader: Reader) -> None:
    """Tap the copy button: the feedback appears and the clipboard holds the short link."""
    await page.evaluate("navigator.clipboard.writeText('something else')")
    copied = page.locator("#copied")
    assert not await copied.is_visible()
    await page.get_by_role("button", name="复制链接" if reader.zh else "Copy link").click()
    await expect(copied).to_be_visible()
    await expect(copied).to_have_text("已复制" if reader.zh else "Copied")
    assert await clipboard_text(page) == f"{origin}/{CODE}"


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

    await copy_short_link(page, origin, reader)
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

    await copy_short_link(page, origin, reader)
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
    assert "2026-11-20 08:05\u00a0UTC" in text  # the time never wraps away from "UTC"
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
