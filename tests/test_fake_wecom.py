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
    ERR_ARTICLE_COUNT,
    ERR_BAD_JSON,
    ERR_CONTENT_TOO_LONG,
    ERR_EMPTY_CONTENT,
    ERR_FREQ_LIMIT,
    ERR_INVALID_IMAGE_SIZE,
    ERR_INVALID_MEDIA_TYPE,
    ERR_INVALID_MSGTYPE,
    ERR_INVALID_WEBHOOK,
    ERR_MD5_MISMATCH,
    FakeWeCom,
    WeComCrypto,
    WeComCryptoError,
    WeComReplyError,
    md5_hex,
    passive_reply_problems,
)
from tests.wecom_builders import (
    enter_chat,
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


PNG = b"\x89PNG\r\n\x1a\n fake"
JPG = b"\xff\xd8\xff\xe0 fake"
GIF = b"GIF89a fake"


def image_item_of(data: bytes, md5: str | None = None) -> JSONDict:
    b64 = base64.b64encode(data).decode()
    return {
        "msgtype": "image",
        "image": {"base64": b64, "md5": md5_hex(data) if md5 is None else md5},
    }


def stream(
    content: object = "ok",
    items: list[JSONDict] | None = None,
    *,
    stream_id: str | None = "s1",
    finish: object = True,
    **extra: object,
) -> JSONDict:
    body: JSONDict = {"finish": finish, "content": content, **extra}
    if stream_id is not None:
        body["id"] = stream_id
    if items is not None:
        body["msg_item"] = items
    return {"msgtype": "stream", "stream": body}


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
    # What a careless bot might get wrong: set to replace the reply, its nonce or timestamp.
    reply: JSONDict | None = None
    reply_nonce: str | None = None
    reply_timestamp: str | None = None

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
        reply = self.reply or stream(
            "短链: https://suo.run/abc", [image_item_of(PNG)], stream_id=f"s{len(self.received)}"
        )
        encrypt = PrpCrypto(self.crypto.key).encrypt(json.dumps(reply), "").decode()
        ts = self.reply_timestamp or q["timestamp"]
        nonce = self.reply_nonce or q["nonce"]
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


# -- passive replies: what WeCom refuses (101033 加密与被动回复, 101031 被动回复消息) -----------


async def test_a_reply_signed_with_a_foreign_nonce_is_refused(
    fake: FakeWeCom, bot: WechatpyBot
) -> None:
    bot.reply_nonce = "1234567890"
    with pytest.raises(WeComReplyError, match="not the callback URL's nonce"):
        await fake.send_callback(bot.url, single_text("hi"), nonce="42")
    result = await fake.send_callback(bot.url, single_text("hi"), strict=False)
    assert result.reply is None and result.reply_error is not None
    assert "nonce" in result.reply_error
    bot.reply_nonce = None
    good = await fake.send_callback(bot.url, single_text("hi"), nonce="43")
    assert good.nonce == "43" and json.loads(good.body_text)["nonce"] == "43"
    assert good.reply is not None


def test_open_reply_checks_the_nonce_it_was_given() -> None:
    fake = FakeWeCom()
    encrypt = fake.crypto.encrypt(json.dumps(stream()))
    body = {
        "encrypt": encrypt,
        "msgsignature": fake.crypto.sign("1700000000", "777", encrypt),
        "timestamp": "1700000000",
        "nonce": "777",
    }
    assert fake.open_reply(json.dumps(body), nonce="777") == stream()
    with pytest.raises(WeComReplyError, match="nonce"):
        fake.open_reply(json.dumps(body), nonce="778")  # well signed, for another callback


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"msgsignature": "0" * 40}, "msgsignature does not match"),
        ({"msgsignature": None}, "lacks"),
        ({"timestamp": "1700000000000"}, "not in seconds"),  # milliseconds
        ({"timestamp": "soon"}, "not in seconds"),
        ({"encrypt": base64.b64encode(b"x" * 32).decode()}, "msgsignature|decrypt"),
    ],
)
def test_open_reply_refuses_a_broken_envelope(change: JSONDict, why: str) -> None:
    fake = FakeWeCom()
    encrypt = fake.crypto.encrypt(json.dumps(stream()))
    body = {
        "encrypt": encrypt,
        "msgsignature": fake.crypto.sign("1700000000", "777", encrypt),
        "timestamp": 1700000000,  # the doc's example sends a number; a string is fine too
        "nonce": "777",
    }
    assert fake.open_reply(json.dumps(body), nonce="777") == stream()
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(WeComReplyError, match=why):
        fake.open_reply(json.dumps(body), nonce="777")


async def test_a_millisecond_timestamp_is_refused_over_http(
    fake: FakeWeCom, bot: WechatpyBot
) -> None:
    bot.reply_timestamp = "1700000000123"
    with pytest.raises(WeComReplyError, match="not in seconds"):
        await fake.send_callback(bot.url, single_text("hi"))


async def test_a_callback_nonce_is_never_repeated_within_two_hours(
    fake: FakeWeCom, bot: WechatpyBot, clock: ManualClock
) -> None:
    await fake.send_callback(bot.url, single_text("a"), nonce="5")
    with pytest.raises(ValueError, match="two hours"):
        await fake.send_callback(bot.url, single_text("b"), nonce="5")
    clock.now += 2 * 3600
    assert (await fake.send_callback(bot.url, single_text("c"), nonce="5")).reply is not None
    nonces = {(await fake.send_callback(bot.url, single_text("d"))).nonce for _ in range(20)}
    assert len(nonces) == 20


BIG = b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024 - 7)  # one byte over 10 MiB
FITS = b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024 - 8)


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        pytest.param({"msgtype": "text", "text": {"content": "hi"}}, "cannot answer", id="text"),
        pytest.param({"msgtype": "markdown", "markdown": {"content": "hi"}}, "cannot", id="md"),
        pytest.param(stream("x" * 20481), "20481 bytes, over 20480", id="content-bytes"),
        pytest.param(stream("短" * 6827), "20481 bytes", id="content-utf8-bytes"),
        pytest.param(stream(stream_id=None), "stream.id missing", id="no-stream-id"),
        pytest.param(stream(stream_id=""), "stream.id missing", id="empty-stream-id"),
        pytest.param(stream(finish="true"), "finish is not a bool", id="finish-str"),
        pytest.param(stream(content=5), "content is not a string", id="content-int"),
        pytest.param(
            stream("", [image_item_of(PNG)], finish=False), "only allowed", id="unfinished"
        ),
        pytest.param(stream("", [image_item_of(PNG)] * 11), "11 images, over 10", id="11-images"),
        pytest.param(stream("", [image_item_of(GIF)]), "neither JPG nor PNG", id="gif"),
        pytest.param(stream("", [image_item_of(PNG, md5="0" * 32)]), "md5", id="bad-md5"),
        pytest.param(stream("", [image_item_of(PNG, md5="")]), "md5", id="no-md5"),
        pytest.param(stream("", [image_item_of(BIG)]), "not 1 to 10485760", id="over-10m"),
        pytest.param(
            stream("", [{"msgtype": "image", "image": {"md5": "x"}}]), "base64", id="no-b64"
        ),
        pytest.param(
            stream("", [{"msgtype": "text", "text": {"content": "x"}}]),
            "not an image",
            id="text-item",
        ),
        pytest.param(stream(feedback={"id": "f" * 257}), "over 256 bytes", id="feedback-id"),
    ],
)
async def test_a_bad_reply_to_a_message_is_refused(
    fake: FakeWeCom, bot: WechatpyBot, reply: JSONDict, why: str
) -> None:
    assert why in " / ".join(passive_reply_problems(single_text("hi"), reply))
    bot.reply = reply
    with pytest.raises(WeComReplyError, match=why):
        await fake.send_callback(bot.url, single_text("hi"))


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(stream("x" * 20480), id="content-20480-bytes"),
        pytest.param(stream("", [image_item_of(PNG)] * 10), id="10-images"),
        pytest.param(stream("", [image_item_of(JPG), image_item_of(FITS)]), id="jpg-and-10m"),
        pytest.param(stream("thinking…", finish=False), id="unfinished-text"),
        pytest.param(stream(feedback={"id": "f" * 256}), id="feedback-256"),
        pytest.param({"msgtype": "template_card", "template_card": {}}, id="card"),
    ],
)
async def test_a_reply_at_the_limits_is_accepted(
    fake: FakeWeCom, bot: WechatpyBot, reply: JSONDict
) -> None:
    bot.reply = reply
    result = await fake.send_callback(bot.url, single_text("hi"))
    assert result.reply == reply


async def test_a_stream_id_answers_one_message_only(fake: FakeWeCom, bot: WechatpyBot) -> None:
    bot.reply = stream(stream_id="same")
    first = group_text(mention("a"), msgid="CAIQm1")
    await fake.send_callback(bot.url, first)
    await fake.send_callback(bot.url, first)  # WeCom's retry of the same msgid: same answer
    with pytest.raises(WeComReplyError, match="already answered msgid 'CAIQm1'"):
        await fake.send_callback(bot.url, group_text(mention("b"), msgid="CAIQm2"))


def test_replies_to_refreshes_and_events_follow_101031() -> None:
    refresh = stream_refresh("s9")
    assert passive_reply_problems(refresh, stream(stream_id="s9", finish=False)) == []
    assert passive_reply_problems(refresh, stream(stream_id="s8")) == [
        "refresh of stream 's9' answered as stream 's8'"
    ]
    enter = enter_chat()
    assert passive_reply_problems(enter, {"msgtype": "text", "text": {"content": "欢迎"}}) == []
    assert passive_reply_problems(enter, stream()) == ["welcome is not text or a card"]
    card = {"msgtype": "event", "event": {"eventtype": "template_card_event"}}
    update = {"response_type": "update_template_card", "template_card": {}}
    assert passive_reply_problems(card, update) == []
    assert passive_reply_problems(card, stream()) != []


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


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"msgtype": "text", "text": {"content": "hi"}}, ERR_INVALID_MSGTYPE),
        ({"msgtype": "stream", "stream": {"id": "s", "content": "hi"}}, ERR_INVALID_MSGTYPE),
        ({"msgtype": "markdown", "markdown": {"content": ""}}, ERR_EMPTY_CONTENT),
        ({"msgtype": "markdown", "markdown": {}}, ERR_EMPTY_CONTENT),
        ({"msgtype": "markdown", "markdown": {"content": "链" * 6827}}, ERR_CONTENT_TOO_LONG),
        (
            {"msgtype": "markdown", "markdown": {"content": "x", "feedback": {"id": "f" * 257}}},
            ERR_CONTENT_TOO_LONG,
        ),
    ],
)
async def test_response_url_refuses_what_101138_does_not_allow(
    fake: FakeWeCom, http: aiohttp.ClientSession, body: JSONDict, errcode: int
) -> None:
    url = fake.new_response_url()
    async with http.post(url, json=body) as resp:
        assert (await resp.json())["errcode"] == errcode
    fits = {"msgtype": "markdown", "markdown": {"content": "链" * 6826 + "xx"}}  # 20480 bytes
    async with http.post(url, json=fits) as resp:
        assert (await resp.json())["errcode"] == 0  # the refused POST did not use the URL up
    assert [p.errcode for p in fake.response_posts] == [errcode, 0]


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

    png = PNG + b"\0" * 1000
    assert (await send(http, url, image(png)))["errcode"] == 0
    assert (await send(http, url, image(JPG)))["errcode"] == 0
    assert (await send(http, url, image(png, md5="0" * 32)))["errcode"] == ERR_MD5_MISMATCH
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024 - 7)  # one byte over 2 MiB
    assert (await send(http, url, image(big)))["errcode"] == ERR_INVALID_IMAGE_SIZE
    assert (await send(http, url, image(big[:-1])))["errcode"] == 0
    # "支持JPG,PNG格式"
    assert (await send(http, url, image(GIF)))["errcode"] == ERR_INVALID_MEDIA_TYPE
    assert len(fake.webhook_messages("k1")) == 3


async def test_webhook_news_takes_1_to_8_articles(
    fake: FakeWeCom, http: aiohttp.ClientSession
) -> None:
    url = fake.add_webhook_key("k1")
    article = {"title": "周报", "url": "https://suo.test/abc"}

    def news(n: int) -> JSONDict:
        return {"msgtype": "news", "news": {"articles": [article] * n}}

    assert [(await send(http, url, news(n)))["errcode"] for n in (1, 8)] == [0, 0]
    assert [(await send(http, url, news(n)))["errcode"] for n in (0, 9)] == [ERR_ARTICLE_COUNT] * 2


async def test_webhook_refuses_unknown_types_empty_content_and_non_utf8(
    fake: FakeWeCom, http: aiohttp.ClientSession
) -> None:
    url = fake.add_webhook_key("k1")
    md2 = {"msgtype": "markdown_v2", "markdown_v2": {"content": "表" * 1365 + "x"}}  # 4096 B
    assert (await send(http, url, md2))["errcode"] == 0
    md2["markdown_v2"] = {"content": "表" * 1366}  # 4098 bytes
    assert (await send(http, url, md2))["errcode"] == ERR_CONTENT_TOO_LONG
    assert (await send(http, url, {"msgtype": "link", "link": {}}))["errcode"] == (
        ERR_INVALID_MSGTYPE
    )
    assert (await send(http, url, text("")))["errcode"] == ERR_EMPTY_CONTENT
    # "content必须是utf8编码": the same JSON in UTF-16 is not accepted.
    body = json.dumps(text("你好"), ensure_ascii=False).encode("utf-16")
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        assert (await resp.json())["errcode"] == ERR_BAD_JSON
    assert len(fake.webhook_messages("k1")) == 1


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
