"""The same chat scenarios through both platform adapters: the core behaves identically
whether a member is in a Telegram group or a WeCom group (each platform faked on loopback).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import AsyncIterator
from typing import Protocol

import pytest
import zxingcpp
from aiohttp.test_utils import TestServer
from PIL import Image

from bot.config import Config
from bot.qr import render_qr_png
from suo.app import Suo
from tests.conftest import FakeClock, telegram_config, wecom_config
from tests.fake_telegram import FakeBotApi
from tests.fake_wecom import FakeWeCom
from tests.telegram_builders import group_photo_update, group_text_update, url_entities
from tests.wecom_builders import group_text, mention, mixed

SHORT = re.compile(r"https://suo\.test/([A-Za-z0-9]{7})")
TOKEN = "123:parity-token"
REPLY_METHODS = ("sendMessage", "sendPhoto", "sendMediaGroup")


class Chat(Protocol):
    async def say(self, text: str) -> tuple[str, list[bytes]]: ...

    async def photo(self, data: bytes) -> tuple[str, list[bytes]]: ...


class TelegramChat:
    def __init__(self, api: FakeBotApi) -> None:
        self.api = api

    def _replies(self) -> list[object]:
        return [c for c in self.api.calls if c.method in REPLY_METHODS]

    async def _next_reply(self, before: int) -> tuple[str, list[bytes]]:
        await self.api.wait_until(lambda: len(self._replies()) > before, what="a reply")
        call = self.api.calls[-1]
        text = call.params.get("caption") or call.params.get("text") or ""
        photo = call.files.get("photo")
        return text, [photo.data] if photo else []

    async def say(self, text: str) -> tuple[str, list[bytes]]:
        before = len(self._replies())
        self.api.push_update(group_text_update(text, entities=url_entities(text)))
        return await self._next_reply(before)

    async def photo(self, data: bytes) -> tuple[str, list[bytes]]:
        before = len(self._replies())
        self.api.push_update(group_photo_update(self.api.add_photo(data)))
        return await self._next_reply(before)


class WeComChat:
    def __init__(self, fake: FakeWeCom, callback_url: str) -> None:
        self.fake = fake
        self.callback_url = callback_url

    async def _send(self, message: dict[str, object]) -> tuple[str, list[bytes]]:
        result = await self.fake.send_callback(self.callback_url, message)
        assert result.reply is not None
        stream = result.reply["stream"]
        images = [base64.b64decode(i["image"]["base64"]) for i in stream.get("msg_item", [])]
        return stream["content"], images

    async def say(self, text: str) -> tuple[str, list[bytes]]:
        return await self._send(group_text(mention(text)))

    async def photo(self, data: bytes) -> tuple[str, list[bytes]]:
        # In WeCom groups an image reaches the bot inside a mixed message with the @mention.
        return await self._send(mixed([mention(""), _image(self.fake.host_image(data))]))


def _image(url: str) -> dict[str, object]:
    return {"msgtype": "image", "image": {"url": url}}


@pytest.fixture(params=["telegram", "wecom"])
async def chat(
    request: pytest.FixtureRequest,
    config: Config,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Chat]:
    if request.param == "telegram":
        monkeypatch.setenv("PTB_TIMEDELTA", "1")
        async with FakeBotApi(token=TOKEN, can_read_all_group_messages=True) as api:
            suo = await Suo.open(telegram_config(config, api), clock=clock)
            await suo.start()
            try:
                yield TelegramChat(api)
            finally:
                await suo.stop()
                await suo.shutdown()
    else:
        async with FakeWeCom() as fake:
            suo = await Suo.open(wecom_config(config, fake), clock=clock)
            server = TestServer(suo.redirector_app(), host="127.0.0.1", port=0)
            await server.start_server()
            try:
                yield WeComChat(fake, str(server.make_url("/wecom/callback")))
            finally:
                await server.close()
                await suo.shutdown()


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


async def test_link_gets_short_link_and_qr_and_the_same_code_again(chat: Chat) -> None:
    text, images = await chat.say("本周分享 https://example.com/parity?x=1 欢迎阅读")
    (code,) = SHORT.findall(text)
    assert "https://example.com/parity?x=1" in text
    assert [decode(png) for png in images] == [[f"https://suo.test/{code}"]]
    again, _ = await chat.say("再发一次 https://example.com/parity?x=1")
    assert SHORT.findall(again) == [code]


async def test_refused_url_is_explained(chat: Chat) -> None:
    text, images = await chat.say("/short javascript:alert(1)")
    assert "只能缩短 http:// 或 https://" in text and images == []


async def test_qr_photo_is_decoded_and_shortened(chat: Chat) -> None:
    text, images = await chat.photo(render_qr_png("https://example.com/qr-parity"))
    assert "https://example.com/qr-parity" in text
    (code,) = SHORT.findall(text)
    assert [decode(png) for png in images] == [[f"https://suo.test/{code}"]]


async def test_photo_without_qr_gets_a_clear_answer(chat: Chat) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 180, 90)).save(buf, "PNG")
    text, images = await chat.photo(buf.getvalue())
    assert "没有找到二维码" in text and images == []


async def test_help(chat: Chat) -> None:
    text, _ = await chat.say("/help")
    assert "/short" in text and "/stats" in text
