"""The WeCom fake speaks the same protocol as wechatpy, the library the adapter uses.

A tiny bot built on wechatpy answers the fake's callbacks; the webhook limits are exercised
over real HTTP with an injected clock.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from wechatpy.crypto.cryptography import WeChatCipher
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import WeChatSigner

from tests.fake_wecom import (
    DEFAULT_AES_KEY,
    DEFAULT_TOKEN,
    ERR_CONTENT_TOO_LONG,
    ERR_FREQ_LIMIT,
    ERR_INVALID_IMAGE_SIZE,
    ERR_INVALID_WEBHOOK,
    ERR_MD5_MISMATCH,
    FakeWeCom,
    WeComCrypto,
    WeComCryptoError,
    WeComReplyError,
    md5_hex,
    stream_reply_problems,
)
from tests.wecom_builders import (
    group_text,
    image_item,
    mention,
    mixed,
    single_text,
    stream_refresh,
)

JSONDict = dict[str, Any]
OTHER_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


class ManualClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce, encrypt)
    return str(signer.signature)


@dataclass
class WechatpyBot:
    """A callback endpoint written only with wechatpy, answering with a stream reply."""

    crypto: WeChatCrypto = field(
        default_factory=lambda: WeChatCrypto(DEFAULT_TOKEN, DEFAULT_AES_KEY, "")
    )
    received: list[JSONDict] = field(default_factory=list)
    reply_token: str = DEFAULT_TOKEN
    url: str = ""

    async def handle_get(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            echo = self.crypto.check_signature(
                q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"]
            )
        except InvalidSignatureException:
            return web.Response(status=403, text="bad signature")
        return web.Response(text=echo)

    async def handle_post(self, request: web.Request) -> web.Response:
        q = request.query
        body = await request.json()
        try:
            plain = self.crypto.decrypt_message(
                {"Encrypt": body["encrypt"]}, q["msg_signature"], q["timestamp"], q["nonce"]
            )
        except InvalidSignatureException:
            return web.Response(status=403, text="bad signature")
        message = json.loads(plain)
        self.received.append(message)
        if message["msgtype"] == "stream":
            return web.Response(text="")  # the documented "reply nothing"
        png = b"\x89PNG\r\n\x1a\n fake"
        reply = {
            "msgtype": "stream",
            "stream": {
                "id": "s1",
                "finish": True,
                "content": "短链: https://suo.run/abc",
                "msg_item": [
                    {
                        "msgtype": "image",
                        "image": {"base64": base64.b64encode(png).decode(), "md5": md5_hex(png)},
                    }
                ],
            },
        }
        encrypt = PrpCrypto(self.crypto.key).encrypt(json.dumps(reply), "").decode()
        ts, nonce = q["timestamp"], q["nonce"]
        return web.json_response(
            {
                "encrypt": encrypt,
                "msgsignature": signature(self.reply_token, ts, nonce, encrypt),
                "timestamp": ts,
                "nonce": nonce,
            }
        )


@pytest.fixture
async def bot() -> AsyncIterator[WechatpyBot]:
    state = WechatpyBot()
    app = web.Application()
    app.router.add_get("/wecom/callback", state.handle_get)
    app.router.add_post("/wecom/callback", state.handle_post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/wecom/callback"
    yield state
    await runner.cleanup()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom(clock=clock) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# -- crypto against wechatpy --------------------------------------------------------------


def test_our_ciphertext_opens_with_wechatpy() -> None:
    ours = WeComCrypto(DEFAULT_TOKEN, DEFAULT_AES_KEY)
    msg = json.dumps(group_text("看看 https://example.com/a?b=1"), ensure_ascii=False)
    enc = ours.encrypt(msg)
    sig = ours.sign("1700000000", "42", enc)
    theirs = WeChatCrypto(DEFAULT_TOKEN, DEFAULT_AES_KEY, "")
    assert theirs.decrypt_message({"Encrypt": enc}, sig, "1700000000", "42") == msg


def test_wechatpy_ciphertext_opens_with_ours() -> None:
    ours = WeComCrypto(DEFAULT_TOKEN, DEFAULT_AES_KEY)
    for text in ["", "x" * 11, "y" * 12, "回复" * 500]:
        enc = PrpCrypto(ours.key).encrypt(text, "").decode()
        assert ours.decrypt(enc) == text


def test_a_receiveid_that_is_not_empty_is_refused() -> None:
    ours = WeComCrypto(DEFAULT_TOKEN, DEFAULT_AES_KEY)
    enc = PrpCrypto(ours.key).encrypt("{}", "wwcorp123").decode()
    with pytest.raises(WeComCryptoError, match="ReceiveId"):
        ours.decrypt(enc)


def test_a_wrong_key_does_not_decrypt() -> None:
    enc = WeComCrypto(DEFAULT_TOKEN, OTHER_AES_KEY).encrypt('{"a": 1}')
    with pytest.raises(WeComCryptoError):
        WeComCrypto(DEFAULT_TOKEN, DEFAULT_AES_KEY).decrypt(enc)


def test_signature_matches_wechatpy() -> None:
    ours = WeComCrypto(DEFAULT_TOKEN, DEFAULT_AES_KEY)
    assert ours.sign("1", "2", "abc") == signature(DEFAULT_TOKEN, "1", "2", "abc")


@pytest.mark.parametrize("size", [0, 1, 31, 32, 33, 5000])
def test_file_encryption_pads_to_32_bytes_and_round_trips(size: int) -> None:
    ours = WeComCrypto(DEFAULT_TOKEN, DEFAULT_AES_KEY)
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    enc = ours.encrypt_file(data)
    assert len(enc) % 32 == 0 and len(enc) > len(data)
    assert ours.decrypt_file(enc) == data
    plain = WeChatCipher(ours.key).decrypt(enc)  # wechatpy's own AES-CBC, IV = key[:16]
    assert plain[: -plain[-1]] == data


# -- the callback client ------------------------------------------------------------------


async def test_url_verification_echoes_the_plaintext(fake: FakeWeCom, bot: WechatpyBot) -> None:
    status, text = await fake.verify_url(bot.url)
    assert (status, text) == (200, fake.last_echo)


async def test_url_verification_with_a_forged_signature_fails(
    fake: FakeWeCom, bot: WechatpyBot
) -> None:
    status, _ = await fake.verify_url(bot.url, signature_override="0" * 40)
    assert status == 403


async def test_callback_reaches_wechatpy_and_the_stream_reply_is_opened(
    fake: FakeWeCom, bot: WechatpyBot
) -> None:
    message = group_text("https://example.com/long", chatid="wrG9")
    result = await fake.send_callback(bot.url, message)
    assert bot.received == [message]
    assert bot.received[0]["text"]["content"] == "@快缩短 https://example.com/long"
    assert result.status == 200 and result.reply is not None
    assert result.reply["stream"]["content"] == "短链: https://suo.run/abc"
    assert stream_reply_problems(result.reply) == []


async def test_an_empty_reply_is_accepted(fake: FakeWeCom, bot: WechatpyBot) -> None:
    result = await fake.send_callback(bot.url, stream_refresh("s1"))
    assert result.empty and result.reply is None and result.reply_error is None


async def test_a_badly_signed_reply_is_caught(fake: FakeWeCom, bot: WechatpyBot) -> None:
    bot.reply_token = "not-the-token"
    with pytest.raises(WeComReplyError, match="msgsignature"):
        await fake.send_callback(bot.url, single_text("hi"))
    result = await fake.send_callback(bot.url, single_text("hi"), strict=False)
    assert result.reply is None and result.reply_error is not None


async def test_forged_callbacks_are_refused_by_the_bot(fake: FakeWeCom, bot: WechatpyBot) -> None:
    forged = await fake.send_callback(bot.url, single_text("x"), signature_override="f" * 40)
    other_key = WeComCrypto(DEFAULT_TOKEN, OTHER_AES_KEY)
    wrong_key = await fake.send_callback(bot.url, single_text("x"), crypto=other_key)
    other_token = WeComCrypto("other", DEFAULT_AES_KEY)
    wrong_token = await fake.send_callback(bot.url, single_text("x"), crypto=other_token)
    assert [forged.status, wrong_token.status] == [403, 403]
    assert wrong_key.status == 500  # wechatpy raises on the garbage plaintext: not a 200
    assert bot.received == []


async def test_images_are_served_encrypted_and_downloads_recorded(
    fake: FakeWeCom, bot: WechatpyBot, http: aiohttp.ClientSession
) -> None:
    photo = b"\xff\xd8\xff\xe0 qr photo bytes" * 100
    url = fake.host_image(photo)
    await fake.send_callback(bot.url, mixed([mention("扫一下"), image_item(url)]))
    assert bot.received[0]["mixed"]["msg_item"][1] == {"msgtype": "image", "image": {"url": url}}
    async with http.get(url) as resp:
        encrypted = await resp.read()
    assert encrypted != photo
    assert fake.crypto.decrypt_file(encrypted) == photo
    assert fake.downloads_of(url) == 1 and fake.image_downloads == [url]


def test_stream_reply_problems_names_what_is_wrong() -> None:
    png = b"png"
    item = {"msgtype": "image", "image": {"base64": base64.b64encode(png).decode(), "md5": "0"}}
    reply = {"msgtype": "stream", "stream": {"id": "s", "finish": False, "msg_item": [item]}}
    assert stream_reply_problems(reply) == [
        "msg_item is only allowed when finish is true",
        "msg_item[0].image.md5 does not match",
    ]


# -- response_url -------------------------------------------------------------------------


async def test_response_url_takes_one_markdown_post(
    fake: FakeWeCom, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    url = fake.new_response_url()
    body = {"msgtype": "markdown", "markdown": {"content": "稍后结果"}}
    async with http.post(url, json=body) as resp:
        assert (await resp.json())["errcode"] == 0
    posts = await fake.wait_for_response_post(count=1, timeout=5)
    assert posts[0].body == body and posts[0].errcode == 0
    async with http.post(url, json=body) as resp:
        assert (await resp.json())["errcode"] != 0  # a response_url is good for one post
    late = fake.new_response_url()
    clock.now += 3601
    async with http.post(late, json=body) as resp:
        assert (await resp.json())["errcode"] != 0


# -- group robot webhook ------------------------------------------------------------------


async def send(http: aiohttp.ClientSession, url: str, body: JSONDict) -> JSONDict:
    data = io.BytesIO(json.dumps(body).encode())  # big image bodies: stream, don't block
    headers = {"Content-Type": "application/json"}
    async with http.post(url, data=data, headers=headers) as resp:
        assert resp.status == 200  # WeCom reports errors in errcode, never in the status
        result: JSONDict = await resp.json()
        return result


def text(content: str) -> JSONDict:
    return {"msgtype": "text", "text": {"content": content}}


async def test_webhook_text_and_markdown_limits_count_utf8_bytes(
    fake: FakeWeCom, http: aiohttp.ClientSession
) -> None:
    url = fake.add_webhook_key("k1")
    fits = "短" * 682 + "ab"  # 2048 bytes
    assert (await send(http, url, text(fits)))["errcode"] == 0
    assert (await send(http, url, text(fits + "c")))["errcode"] == ERR_CONTENT_TOO_LONG
    md = {"msgtype": "markdown", "markdown": {"content": "#" * 4097}}
    too_long = await send(http, url, md)
    assert too_long["errcode"] == ERR_CONTENT_TOO_LONG
    assert too_long["errmsg"].startswith("markdown.content exceed max length 4096")
    assert fake.webhook_messages("k1") == [text(fits)]


async def test_webhook_image_needs_a_matching_md5_and_at_most_2_mb(
    fake: FakeWeCom, http: aiohttp.ClientSession
) -> None:
    url = fake.add_webhook_key("k1")

    def image(data: bytes, md5: str | None = None) -> JSONDict:
        b64 = base64.b64encode(data).decode()
        return {"msgtype": "image", "image": {"base64": b64, "md5": md5 or md5_hex(data)}}

    png = b"\x89PNG" + b"\0" * 1000
    assert (await send(http, url, image(png)))["errcode"] == 0
    assert (await send(http, url, image(png, md5="0" * 32)))["errcode"] == ERR_MD5_MISMATCH
    big = b"\0" * (2 * 1024 * 1024 + 1)
    assert (await send(http, url, image(big)))["errcode"] == ERR_INVALID_IMAGE_SIZE


async def test_webhook_allows_20_messages_a_minute_per_key(
    fake: FakeWeCom, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    url, other = fake.add_webhook_key("k1"), fake.add_webhook_key("k2")
    for i in range(20):
        clock.now += 1
        assert (await send(http, url, text(f"m{i}")))["errcode"] == 0
    limited = await send(http, url, text("m20"))
    assert limited["errcode"] == ERR_FREQ_LIMIT
    assert limited["errmsg"].startswith("api freq out of limit")
    assert (await send(http, other, text("other key")))["errcode"] == 0
    clock.now += 41  # the first message is now a minute old
    assert (await send(http, url, text("m21")))["errcode"] == 0
    assert (await send(http, url, text("m22")))["errcode"] == ERR_FREQ_LIMIT


async def test_webhook_unknown_or_missing_key_is_93000(
    fake: FakeWeCom, http: aiohttp.ClientSession
) -> None:
    fake.add_webhook_key("k1")
    for url in [f"{fake.url}/cgi-bin/webhook/send?key=nope", f"{fake.url}/cgi-bin/webhook/send"]:
        result = await send(http, url, text("hi"))
        assert result["errcode"] == ERR_INVALID_WEBHOOK
        assert result["errmsg"].startswith("invalid webhook url, hint: ")
    assert [c.errcode for c in fake.webhook_calls] == [ERR_INVALID_WEBHOOK] * 2
