"""Debian's headless Chromium driven by Playwright, for tests that look at pages as a phone does.

It launches the system `chromium` and never downloads one; callers skip when it is missing.
Chromium resolves no host name but 127.0.0.1's, so neither a page nor Chromium's own
background services (autofill, component updates, accounts) can look anything up.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, ViewportSize, async_playwright

CHROMIUM = shutil.which("chromium")
NO_CHROMIUM = (
    "Debian's chromium is not installed (apt-get install chromium); tests never download one"
)
SCREENSHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"

WECHAT_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI "
    "Language/zh_CN"
)
SAFARI_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
IPHONE_15: ViewportSize = {"width": 393, "height": 852}
CHROMIUM_ARGS = [
    "--no-sandbox",
    # Every name fails to resolve at once, without a DNS query leaving the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        raise RuntimeError(NO_CHROMIUM)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def phone(
    browser: Browser, *, user_agent: str, accept_language: str, origin: str
) -> AsyncIterator[Page]:
    """A fresh iPhone-sized context whose pages at `origin` may use the clipboard."""
    context = await browser.new_context(
        user_agent=user_agent,
        viewport=IPHONE_15,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale=accept_language.split(",", 1)[0],
        extra_http_headers={"Accept-Language": accept_language},
    )
    try:
        await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
        yield await context.new_page()
    finally:
        await context.close()


async def clipboard_text(page: Page) -> str:
    text = await page.evaluate("navigator.clipboard.readText()")
    assert isinstance(text, str)
    return text


async def save_screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    return path


async def overflows_sideways(page: Page) -> bool:
    """True when the page is wider than the phone: the reader would have to scroll sideways."""
    return bool(await page.evaluate("document.documentElement.scrollWidth > window.innerWidth"))
