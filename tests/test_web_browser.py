"""The web page at `/` in Debian's headless Chromium, as a phone (390x844) and a desktop:
shorten with platform and 防红 choices and follow the link, read QR photos, clear errors for
oversize and non-image uploads, and the same forms with JavaScript off. Screenshots go to
build/screenshots/web-*.png.

The browser only ever talks to the redirector on 127.0.0.1: a 302 elsewhere is recorded and
answered with a stub, never followed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import pytest

pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install -e '.[test]')"
)

import pytest_asyncio
from playwright.async_api import Browser, Page, Route, ViewportSize, expect

from bot.config import Config
from suo.app import Suo
from tests.browser import (
    CHROMIUM,
    NO_CHROMIUM,
    SAFARI_IOS,
    WECHAT_IOS,
    chromium,
    clipboard_text,
    overflows_sideways,
    save_screenshot,
)
from tests.conftest import FakeClock, serving

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM),
    pytest.mark.asyncio(loop_scope="module"),
]

DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36"
)
TARGET = "https://shop.example.com/activities/2026/double-eleven?utm_source=web"
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "qr-photos"
PHOTO = PHOTOS / "zxing-qrcode-1" / "13.png"  # a phone photo of a printed code
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Screen:
    name: str
    viewport: ViewportSize
    mobile: bool
    user_agent: str
    accept_language: str

    @property
    def zh(self) -> bool:
        return self.accept_language.startswith("zh")


PHONE = Screen("phone", {"width": 390, "height": 844}, True, SAFARI_IOS, "zh-CN,zh;q=0.9")
DESKTOP = Screen(
    "desktop", {"width": 1280, "height": 800}, False, DESKTOP_CHROME, "en-US,en;q=0.9"
)
on_both = pytest.mark.parametrize("screen", [PHONE, DESKTOP], ids=["phone", "desktop"])


@dataclass(slots=True)
class Tab:
    page: Page
    origin: str
    held: list[tuple[str, int, str]] = field(default_factory=list)  # (url, status, location)
    stopped: list[str] = field(default_factory=list)


@asynccontextmanager
async def tab_at(
    browser: Browser, origin: str, screen: Screen, *, javascript: bool = True, agent: str = ""
) -> AsyncIterator[Tab]:
    """A browser tab that only talks to `origin` (see tests/test_pages_browser.py)."""
    context = await browser.new_context(
        user_agent=agent or screen.user_agent,
        viewport=screen.viewport,
        device_scale_factor=2 if screen.mobile else 1,
        is_mobile=screen.mobile,
        has_touch=screen.mobile,
        locale=screen.accept_language.split(",", 1)[0],
        extra_http_headers={"Accept-Language": screen.accept_language},
        java_script_enabled=javascript,
    )
    try:
        if javascript:
            await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
        tab = Tab(await context.new_page(), origin)

        async def stay_on_loopback(route: Route) -> None:
            url = route.request.url
            if not url.startswith(f"{origin}/"):
                tab.stopped.append(url)
                await route.abort("blockedbyclient")
                return
            if route.request.method != "GET":
                # Forms are answered with pages here, and uploads must go as Chromium sends
                # them (Playwright can't hand a file upload's body on).
                await route.continue_()
                return
            answer = await route.fetch(max_redirects=0)
            location = urljoin(url, answer.headers.get("location", ""))
            if answer.status in REDIRECTS and not location.startswith(f"{origin}/"):
                tab.held.append((url, answer.status, location))
                await route.fulfill(status=200, content_type="text/html", body="<p>held</p>")
            else:
                await route.fulfill(response=answer)

        await context.route("**/*", stay_on_loopback)
        yield tab
        assert tab.stopped == [], "pages must load nothing from anywhere else"
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def suo(config: Config, clock: FakeClock) -> AsyncIterator[Suo]:
    app = await Suo.open(config, clock=clock)
    try:
        yield app
    finally:
        await app.shutdown()


@pytest_asyncio.fixture(loop_scope="module")
async def origin(suo: Suo) -> AsyncIterator[str]:
    async with serving(suo.redirector_app()) as base:
        yield base


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


async def open_home(tab: Tab) -> None:
    response = await tab.page.goto(f"{tab.origin}/")
    assert response is not None and response.status == 200
    assert not await overflows_sideways(tab.page)


async def short_code(page: Page, field_id: str) -> str:
    value = await page.locator(f"#{field_id}").input_value()
    assert value.startswith("https://suo.test/"), value
    return value.rsplit("/", 1)[1]


@on_both
async def test_shorten_with_platforms_and_the_guide_then_follow_the_link(
    browser: Browser, origin: str, screen: Screen
) -> None:
    async with tab_at(browser, origin, screen) as tab:
        page = tab.page
        await open_home(tab)
        await save_screenshot(page, f"web-home-{screen.name}")
        await page.get_by_label("网址" if screen.zh else "Link", exact=True).fill(TARGET)
        names = (
            ("微信", "iPhone/iPad 浏览器", "电脑浏览器")
            if screen.zh
            else ("WeChat", "iPhone/iPad browsers", "desktop browsers")
        )
        platforms = page.locator("fieldset", has_text="允许访问的平台" if screen.zh else "Where")
        for name in names:
            await platforms.get_by_label(name, exact=True).check()
        guide = page.locator("fieldset", has_text="防红引导" if screen.zh else "guide")
        await guide.get_by_label("仅以下应用：" if screen.zh else "Only these apps:").check()
        await guide.get_by_label("微信" if screen.zh else "WeChat", exact=True).check()
        await page.get_by_role("button", name="生成短链接" if screen.zh else "Shorten").click()

        made = page.locator("#made")
        await expect(made).to_be_visible()
        code = await short_code(page, "made-link")
        rules = await made.locator(".rules").inner_text()
        if screen.zh:
            assert "仅限 微信、iPhone/iPad 浏览器、电脑浏览器" in rules
            assert "防红引导：微信" in rules
        else:
            assert "opens only in WeChat, iPhone/iPad browsers, desktop browsers" in rules
        qr = made.locator("img")
        await expect(qr).to_have_attribute("src", f"/{code}.png")
        assert await qr.evaluate("img => img.complete && img.naturalWidth > 100")
        assert not await overflows_sideways(page)
        await save_screenshot(page, f"web-made-{screen.name}")

        await page.evaluate("navigator.clipboard.writeText('something else')")
        await made.get_by_role("button", name="复制" if screen.zh else "Copy").click()
        await expect(made.locator("[data-copied]")).to_be_visible()
        assert await clipboard_text(page) == f"https://suo.test/{code}"

        # A reader on an allowed platform gets the 302 to the destination.
        await page.goto(f"{origin}/{code}")
        assert tab.held == [(f"{origin}/{code}", 302, TARGET)]

    async with tab_at(browser, origin, screen, agent=WECHAT_IOS) as wechat:
        response = await wechat.page.goto(f"{origin}/{code}")
        assert response is not None and response.status == 200
        text = await wechat.page.inner_text("body")
        assert ("请在浏览器中打开" if screen.zh else "Open this link in your browser") in text
        assert wechat.held == []
        await save_screenshot(wechat.page, f"web-followed-guide-{screen.name}")


@on_both
async def test_a_photo_is_read_and_its_link_shortened(
    browser: Browser, origin: str, screen: Screen
) -> None:
    if not PHOTO.exists():
        pytest.skip("../shared/qr-photos is not here")
    expected = (PHOTO.with_suffix(".txt")).read_text().strip()
    async with tab_at(browser, origin, screen) as tab:
        page = tab.page
        await open_home(tab)
        # Choosing the photo sends it: no button press needed with JavaScript on.
        label = "从相册选择" if screen.zh else "Choose photos"
        async with page.expect_navigation():
            await page.get_by_label(label).set_input_files(PHOTO)
        results = page.locator("#scan-results")
        await expect(results).to_be_visible()
        text = await results.inner_text()
        assert expected in text
        assert ("找到 1 个二维码" if screen.zh else "1 QR code(s) found") in text
        code = await short_code(page, "photo-1-1")
        assert not await overflows_sideways(page)
        await save_screenshot(page, f"web-scan-{screen.name}")
        await page.goto(f"{origin}/{code}")
        assert tab.held == [(f"{origin}/{code}", 302, expected)]


async def test_oversize_and_non_image_uploads_say_what_is_wrong(
    browser: Browser, origin: str
) -> None:
    big = {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": bytes(11 * 1024 * 1024)}
    text_file = {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a picture"}
    async with tab_at(browser, origin, PHONE) as tab:
        page = tab.page
        await open_home(tab)
        # With JavaScript the size is checked before anything is sent.
        await page.get_by_label("从相册选择").set_input_files(big)  # type: ignore[arg-type]
        warning = page.locator("#scan-too-large")
        await expect(warning).to_be_visible()
        await expect(warning).to_have_text("上传的图片太大（共 10 MB 以内），请压缩或少选几张。")
        assert page.url == f"{origin}/"

        await open_home(tab)
        async with page.expect_navigation():
            await page.get_by_label("从相册选择").set_input_files(text_file)  # type: ignore[arg-type]
        await expect(page.locator(".photo .error")).to_have_text(
            "无法读取这张图片（文件损坏或不是图片）。"
        )
        await save_screenshot(page, "web-scan-not-an-image-phone")

    async with tab_at(browser, origin, PHONE, javascript=False) as tab:
        page = tab.page
        await open_home(tab)
        await page.get_by_label("从相册选择").set_input_files(big)  # type: ignore[arg-type]
        async with page.expect_navigation() as navigation:
            await page.get_by_role("button", name="识别").click()
        response = await navigation.value
        assert response is not None and response.status == 413
        await expect(page.get_by_role("alert")).to_have_text(
            "上传的图片太大（共 10 MB 以内），请压缩或少选几张。"
        )
        await save_screenshot(page, "web-scan-too-large-nojs-phone")


async def test_both_forms_work_without_javascript(browser: Browser, origin: str) -> None:
    async with tab_at(browser, origin, PHONE, javascript=False) as tab:
        page = tab.page
        await open_home(tab)
        await page.get_by_label("网址", exact=True).fill("shop.example.com/nojs")
        await page.locator("#expires").select_option("7d")
        await page.get_by_role("button", name="生成短链接").click()
        made = page.locator("#made")
        await expect(made).to_be_visible()
        await short_code(page, "made-link")
        assert "https://shop.example.com/nojs" in await made.inner_text()
        assert "过期" in await made.locator(".rules").inner_text()
        # The copy button needs script: without it the field is there to long-press.
        await expect(made.get_by_role("button", name="复制")).to_be_hidden()

        if PHOTO.exists():
            await page.get_by_label("拍照扫码").set_input_files(PHOTO)
            await page.get_by_role("button", name="识别").click()
            await expect(page.locator("#scan-results")).to_be_visible()
            await short_code(page, "photo-1-1")
        await save_screenshot(page, "web-nojs-phone")
