"""The web page at `/` over plain HTTP: forms, CSRF, rate limits, the access token, the `web`
group and signed `/web` links, language, and the styled 404/405 pages.

Every test serves `suo.redirector_app()` on 127.0.0.1 port 0; tests/test_web_browser.py
drives the same page in Chromium.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot.config import Config, ConfigError, WebConfig, parse_config
from bot.model import IncomingMessage
from bot.qr import render_qr_png
from suo.app import Suo
from tests.conftest import BOTH_ENGINES, FakeClock, group_message, serving

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES

SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI "
    "Language/zh_CN"
)
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}
SHORT = re.compile(r'value="https://suo\.test/([A-Za-z0-9]+)"')
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "qr-photos"
TARGET = "https://shop.example.com/items/42"


@dataclass
class Browser:
    """A cookie-keeping HTTP client at the redirector, sending forms as a browser does."""

    base: str
    http: aiohttp.ClientSession

    async def get(self, path: str, **headers: str) -> tuple[int, str]:
        async with self.http.get(self.base + path, headers=headers) as resp:
            return resp.status, await resp.text()

    async def token(self, path: str = "/") -> str:
        status, html = await self.get(path)
        assert status == 200, html
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found
        return found[1]

    async def post(
        self, path: str, data: Any, *, origin: str | None = "", **headers: str
    ) -> tuple[int, str, aiohttp.ClientResponse]:
        if origin is not None:
            headers["Origin"] = origin or self.base
        async with self.http.post(self.base + path, data=data, headers=headers) as resp:
            return resp.status, await resp.text(), resp

    async def shorten(self, url: str, path: str = "/", **fields: Any) -> tuple[int, str]:
        data = {"csrf": await self.token(path), "url": url, **fields}
        query = urlsplit(path).query
        if query.startswith("g="):
            data["g"] = query[2:]
        status, html, _ = await self.post("/shorten", data)
        return status, html


@asynccontextmanager
async def browsing(suo: Suo) -> AsyncIterator[Browser]:
    async with (
        serving(suo.redirector_app()) as base,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        yield Browser(base, http)


@asynccontextmanager
async def opened(config: Config, clock: FakeClock, **web: Any) -> AsyncIterator[Suo]:
    app = await Suo.open(replace(config, web=replace(config.web, **web)), clock=clock)
    try:
        yield app
    finally:
        await app.shutdown()


async def follow(base: str, code: str, user_agent: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{base}/{code}", headers={"User-Agent": user_agent}, allow_redirects=False
        ) as resp,
    ):
        return resp.status, resp.headers.get("Location", ""), await resp.text()


def code_in(html: str) -> str:
    found = SHORT.search(html)
    assert found, html
    return found[1]


def visible_error(html: str) -> str:
    errors = re.findall(r'<p class="error" role="alert">([^<]*)</p>', html)
    return " ".join(errors)


async def test_the_page_offers_both_forms_in_the_readers_language(suo: Suo) -> None:
    async with browsing(suo) as browser:
        status, html = await browser.get("/", **ZH)
        assert status == 200
        for words in ("生成短链接", "扫描二维码 / 上传二维码", "允许访问的平台", "防红引导"):
            assert words in html
        assert 'accept="image/*" capture="environment"' in html
        assert 'action="/shorten#made"' in html and 'enctype="multipart/form-data"' in html
        assert "http://" not in html.replace('"http://', "")  # nothing loaded from elsewhere

        _, html = await browser.get("/", **{"Accept-Language": "fr-FR, en;q=0.8"})
        assert "Make a short link" in html and '<html lang="en">' in html
        # q-values, not order: this reader prefers Chinese.
        _, html = await browser.get("/", **{"Accept-Language": "en;q=0.3, zh-TW;q=0.9"})
        assert '<html lang="zh-CN">' in html
        _, html = await browser.get("/?lang=en", **ZH)
        assert '<html lang="en">' in html and 'href="/?lang=zh"' in html


async def test_a_link_made_on_the_page_follows_its_platform_and_guide_choices(
    suo: Suo,
) -> None:
    async with browsing(suo) as browser:
        status, html = await browser.shorten(
            TARGET,
            platforms=["ios", "wechat"],
            antired="some",
            antired_apps=["wechat"],
            max="50",
        )
        assert status == 200, visible_error(html)
        code = code_in(html)
        assert f'src="/{code}.png"' in html
        assert "仅限 微信、iPhone/iPad 浏览器" in html and "最多打开 50 次" in html

        assert (await follow(browser.base, code, SAFARI))[:2] == (302, TARGET)
        status, _, page = await follow(browser.base, code, WECHAT)
        assert status == 200 and "请在浏览器中打开" in page
        android = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/125 Mobile"
        assert (await follow(browser.base, code, android))[0] == 403

        async with browser.http.get(f"{browser.base}/{code}.png") as png:
            assert png.status == 200 and png.content_type == "image/png"

    link = await suo.store.get_link(code)
    assert link is not None
    group = await suo.store.get_group(link.group_id)
    assert group is not None and (group.platform, group.chat_id) == ("web", "web")
    assert link.sharer_id is None


async def test_refusals_and_risk_labels_are_said_on_the_page(suo: Suo) -> None:
    async with browsing(suo) as browser:
        status, html = await browser.shorten("http://192.168.1.1/admin", lang="en")
        assert status == 400
        assert "internal or local address" in visible_error(html)
        assert 'value="http://192.168.1.1/admin"' in html  # what was typed stays in the form

        status, html = await browser.shorten("https://bit.ly/3abcd")
        assert status == 200
        assert "⚠️ 短链接跳转" in html

        status, html = await browser.shorten("https://qr.alipay.com/fkx12345")
        assert status == 400 and "收款码" in visible_error(html)

        status, html = await browser.shorten(TARGET, max="many")
        assert status == 400 and "次数“many”无效" in visible_error(html)

        status, html = await browser.shorten("shop.example.com/a")  # a bare domain is https
        assert status == 200 and "https://shop.example.com/a" in html


async def test_forms_without_the_cookie_bound_token_or_from_another_site_are_refused(
    suo: Suo,
) -> None:
    async with browsing(suo) as browser:
        token = await browser.token()
        form = {"csrf": token, "url": TARGET}
        status, html, _ = await browser.post("/shorten", {"url": TARGET})
        assert status == 403 and "页面已过期" in html
        status, _, _ = await browser.post(
            "/shorten", {**form, "csrf": token[:-1] + ("1" if token.endswith("0") else "0")}
        )
        assert status == 403
        status, _, _ = await browser.post("/shorten", form, origin="https://evil.example")
        assert status == 403
        status, _, _ = await browser.post("/shorten", form, **{"Sec-Fetch-Site": "cross-site"})
        assert status == 403
        # The token is bound to this reader's cookie: another browser's token does not pass.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
            stranger = Browser(browser.base, other)
            await stranger.token()
            status, _, _ = await stranger.post("/shorten", form)
            assert status == 403
        status, html, _ = await browser.post("/shorten", form, **{"Sec-Fetch-Site": "same-origin"})
        assert status == 200 and code_in(html)
        # An old browser that sends no Origin still needs the token, and passes with it.
        status, _, _ = await browser.post("/shorten", form, origin=None)
        assert status == 200
    assert await suo.store.link_for_url((await web_group(suo)).id, TARGET) is not None


async def web_group(suo: Suo) -> Any:
    groups = await suo.store.find_groups(None)
    found = [g for g in groups if g.platform == "web"]
    assert len(found) == 1
    return found[0]


async def test_each_address_is_rate_limited(config: Config, clock: FakeClock) -> None:
    async with opened(config, clock, per_ip_per_minute=3) as suo, browsing(suo) as browser:
        for n in range(3):
            status, _ = await browser.shorten(f"{TARGET}?n={n}")
            assert status == 200
        status, html = await browser.shorten(f"{TARGET}?n=3")
        assert status == 429
        assert re.search(r"操作太频繁了，请 \d+ 秒后再试", visible_error(html))
        clock.now += timedelta(minutes=1)
        status, _ = await browser.shorten(f"{TARGET}?n=3")
        assert status == 200


async def test_new_links_count_against_the_member_limit_per_address(
    config: Config, clock: FakeClock
) -> None:
    config = replace(config, links=replace(config.links, member_limit=2))
    async with opened(config, clock) as suo, browsing(suo) as browser:
        for n in range(2):
            assert (await browser.shorten(f"{TARGET}?n={n}"))[0] == 200
        status, html = await browser.shorten(f"{TARGET}?n=9")
        assert status == 429 and "你创建短链接太频繁了" in visible_error(html)
        # Reusing a link the group has is free.
        assert (await browser.shorten(f"{TARGET}?n=0"))[0] == 200


async def test_a_private_instance_needs_its_access_token(config: Config, clock: FakeClock) -> None:
    async with opened(config, clock, access_token="let-me-in") as suo, browsing(suo) as browser:
        status, html = await browser.get("/")
        assert status == 403 and "这是私有服务" in html and "生成短链接" not in html
        assert (await browser.get("/?key=wrong"))[0] == 403
        status, html = await browser.get("/?key=let-me-in")
        assert status == 200 and "生成短链接" in html
        # The key is remembered for this browser: the plain page and its forms now work.
        assert (await browser.get("/"))[0] == 200
        assert (await browser.shorten(TARGET))[0] == 200
        # Short links themselves stay public.
        assert (await browser.get("/nothere"))[0] == 404


async def test_a_disabled_page_is_a_styled_404_and_the_web_command_says_so(
    config: Config, clock: FakeClock
) -> None:
    async with opened(config, clock, enabled=False) as suo, browsing(suo) as browser:
        status, html = await browser.get("/", **EN)
        assert status == 404 and "Page not found" in html and "<h1>" in html
        assert "Make a short link" not in html and 'href="/"' not in html
        status, _, _ = await browser.post("/shorten", {"url": TARGET})
        assert status in (404, 405)
        replies = await suo.core.handle(group_message("/web"))
        assert "没有开启网页版" in replies[0].text


def admin(text: str) -> IncomingMessage:
    return replace(group_message(text, user="boss"), is_admin=True)


async def web_link(suo: Suo, message: IncomingMessage) -> str:
    replies = await suo.core.handle(message)
    found = re.search(r"https://suo\.test(/\?g=\S+)", replies[0].text)
    assert found, replies[0].text
    return found[1]


async def test_the_signed_web_link_makes_the_groups_links_under_its_rules(
    suo: Suo, clock: FakeClock
) -> None:
    await suo.core.handle(admin("/settings antired wechat"))
    page = await web_link(suo, group_message("/web", user="alice"))
    async with browsing(suo) as browser:
        status, html = await browser.get(page)
        assert status == 200 and "在这里生成的链接属于群「Group g1」" in html
        assert 'name="platforms"' not in html  # members don't set one link's rules

        status, html = await browser.shorten(TARGET, page)
        assert status == 200
        code = code_in(html)
        assert "防红引导：微信" in html
        status, _, guide = await follow(browser.base, code, WECHAT)
        assert status == 200 and "请在浏览器中打开" in guide

        status, html = await browser.shorten(f"{TARGET}?x", page, max="3")
        assert status == 400 and "只有群管理员可以给链接设置规则" in visible_error(html)

        # An admin's link is posted in the thread for anyone to copy: it carries no admin
        # rights (admins set one link's rules with /short in chat).
        boss_page = await web_link(suo, admin("/web"))
        status, html = await browser.shorten(f"{TARGET}?boss", boss_page, max="3")
        assert status == 400 and "只有群管理员可以给链接设置规则" in visible_error(html)

        tampered = page[:-2] + ("AA" if not page.endswith("AA") else "BB")
        status, html = await browser.get(tampered)
        assert status == 403 and "网页链接无效或已过期" in html
        clock.now += timedelta(days=1, seconds=1)
        assert (await browser.get(page))[0] == 403

    info = await suo.store.link_info(code)
    assert info is not None
    assert (info.group.platform, info.group.chat_id) == ("console", "g1")
    assert info.sharer_name == "Alice"


async def test_a_dashboard_token_does_not_open_the_page_as_a_group(suo: Suo) -> None:
    replies = await suo.core.handle(group_message("/dashboard"))
    found = re.search(r"/dashboard/(\S+)", replies[0].text)
    assert found
    async with browsing(suo) as browser:
        status, html = await browser.get(f"/?g={found[1]}")
        assert status == 403 and "网页链接无效或已过期" in html and 'href="/"' in html


async def test_the_web_command_needs_a_secret(config: Config, clock: FakeClock) -> None:
    config = replace(config, server=replace(config.server, secret=""))
    async with opened(config, clock) as suo:
        replies = await suo.core.handle(group_message("/web"))
        assert "server.secret" in replies[0].text and "https://" not in replies[0].text
        async with browsing(suo) as browser:
            # The plain page still works, for the `web` group; tokens are refused.
            assert (await browser.shorten(TARGET))[0] == 200
            assert (await browser.get("/?g=abc.def"))[0] == 403


def photo_form(token: str, *files: tuple[str, bytes, str]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    for name, data, content_type in files:
        form.add_field("photos", io.BytesIO(data), filename=name, content_type=content_type)
    return form


async def test_uploaded_photos_are_read_and_their_links_shortened(suo: Suo) -> None:
    photo = PHOTOS / "zxing-qrcode-1" / "13.png"
    if not photo.exists():
        pytest.skip("../shared/qr-photos is not here")
    expected = (PHOTOS / "zxing-qrcode-1" / "13.txt").read_text().strip()
    payment = render_qr_png("wxp://f2f0abcdefghijklmnop")
    async with browsing(suo) as browser:
        form = photo_form(
            await browser.token(),
            ("13.png", photo.read_bytes(), "image/png"),
            ("pay.png", payment, "image/png"),
            ("notes.jpg", b"just some text, not a picture", "image/jpeg"),
        )
        status, html, _ = await browser.post("/scan", form)
    assert status == 200
    assert expected in html
    code = code_in(html)
    link = await suo.store.get_link(code)
    assert link is not None and link.url == expected
    assert "wxp://f2f0abcdefghijklmnop" in html and "这是收款码" in html
    assert "无法读取这张图片" in html
    assert len(SHORT.findall(html)) == 1  # the payment code got no short link


async def test_oversize_and_empty_uploads_get_clear_errors(
    config: Config, clock: FakeClock
) -> None:
    async with opened(config, clock, max_upload_mb=1) as suo, browsing(suo) as browser:
        big = b"\xff\xd8" + bytes(1024 * 1024 + 10)
        form = photo_form(await browser.token(), ("big.jpg", big, "image/jpeg"))
        status, html, _ = await browser.post("/scan?lang=en", form)
        assert status == 413
        assert "The upload is too large (1 MB in all)" in visible_error(html)

        form = photo_form(await browser.token(), ("", b"", "application/octet-stream"))
        status, html, _ = await browser.post("/scan", form)
        assert status == 400 and "请先选择或拍摄一张图片" in visible_error(html)


async def test_unknown_paths_and_methods_get_styled_pages(suo: Suo) -> None:
    async with browsing(suo) as browser:
        status, html = await browser.get("/no/such/page", **EN)
        assert status == 404 and "<h1>Page not found</h1>" in html and 'href="/"' in html
        status, html, resp = await browser.post("/Abc1234", {}, **EN)
        assert status == 405 and "<h1>Not like this</h1>" in html
        assert resp.headers["Allow"] == "GET,HEAD"
        assert resp.content_type == "text/html"
        # A short link with a trailing slash is sent on to the link itself.
        async with browser.http.get(browser.base + "/Abc1234/", allow_redirects=False) as resp:
            assert resp.status == 308 and resp.headers["Location"] == "/Abc1234"
        status, html = await browser.get("/Abc1234/")
        assert status == 404 and "链接不存在" in html


def test_web_config_keys_parse_and_bad_values_name_their_key() -> None:
    web = parse_config(
        {"web": {"enabled": False, "access_token": "t", "per_ip_per_minute": 5}}, env={}
    ).web
    assert web == WebConfig(enabled=False, access_token="t", per_ip_per_minute=5)
    assert "access_token" not in repr(web)
    env_token = parse_config({}, env={"SUO_WEB_ACCESS_TOKEN": "from-env"}).web
    assert env_token.access_token == "from-env"
    with pytest.raises(ConfigError, match=r"web\.max_upload_mb"):
        parse_config({"web": {"max_upload_mb": 50}}, env={})
    with pytest.raises(ConfigError, match=r"web\.enabled"):
        parse_config({"web": {"enabled": "yes"}}, env={})


async def test_a_stranger_cannot_change_the_rules_of_a_link_someone_made(suo: Suo) -> None:
    """The web group is shared by every reader: posting the same URL with rules must not use
    up, expire or restrict the link another reader already handed out."""
    async with browsing(suo) as first:
        status, html = await first.shorten(TARGET)
        assert status == 200
        code = code_in(html)
    async with browsing(suo) as stranger:
        status, html = await stranger.shorten(TARGET, max="1", expires="1h")
        assert status == 400
        assert f"https://suo.test/{code}" in visible_error(html)
        assert "不能在这里修改" in visible_error(html)
    link = await suo.store.get_link(code)
    assert link is not None
    assert (link.rules.max_clicks, link.rules.expires_at) == (None, None)


async def test_an_admins_web_link_shortens_no_payment_code(suo: Suo) -> None:
    """A /web link is posted in the thread where anyone can copy it: it is not an admin's
    explicit /short, so payment codes stay refused on the page."""
    boss_page = await web_link(suo, admin("/web"))
    async with browsing(suo) as browser:
        status, html = await browser.shorten(
            "https://qr.alipay.com/fkx17948xygdlqbuxvzlye4", boss_page
        )
    assert status == 400 and "收款码" in visible_error(html)
    assert not SHORT.search(html)
