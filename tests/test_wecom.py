"""The bot in WeCom, end to end: a local fake of WeCom's side (tests/fake_wecom.py, its own
AES and signatures) calls the real callback route; replies are decrypted and checked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import re
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import zxingcpp
from aiohttp.test_utils import TestServer
from aiolimiter import AsyncLimiter
from PIL import Image

from adapters.wecom_webhook import (
    InvalidWebhookKey,
    WebhookRetryLater,
    WeComGroupPusher,
    WeComWebhook,
    robot_limiter,
)
from bot.bindings import GroupRobots
from bot.config import WECOM_FETCH_HOSTS, Config
from bot.qr import render_qr_png
from suo.app import Suo
from tests.conftest import BOTH_ENGINES, REPO, FakeClock, query, wecom_config
from tests.fake_wecom import FakeWeCom, WeComCrypto, WeComReplyError
from tests.wecom_builders import (
    enter_chat,
    group_image,
    group_text,
    image_item,
    mention,
    mixed,
    single_text,
    stream_refresh,
    text_item,
)

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES

SHORT = re.compile(r"https://suo\.test/([A-Za-z0-9]{7})")
QR_PHOTOS = REPO.parent / "shared" / "qr-photos"
OTHER_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom() as wecom:
        yield wecom


@pytest.fixture
async def bot(config: Config, clock: FakeClock, fake: FakeWeCom) -> AsyncIterator[Suo]:
    suo = await Suo.open(wecom_config(config, fake, admins=("boss",)), clock=clock)
    try:
        yield suo
    finally:
        await suo.stop()
        await suo.shutdown()


@pytest.fixture
async def callback_url(bot: Suo) -> AsyncIterator[str]:
    server = TestServer(bot.redirector_app(), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("/wecom/callback"))
    finally:
        await server.close()


def reply_images(reply: dict[str, object]) -> list[bytes]:
    stream = reply["stream"]
    assert isinstance(stream, dict)
    images = []
    for item in stream.get("msg_item", []):
        image = item["image"]
        png = base64.b64decode(image["base64"])
        assert hashlib.md5(png).hexdigest() == image["md5"]  # noqa: S324 - WeCom's check
        images.append(png)
    return images


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


async def link_count(config: Config) -> int:
    ((count,),) = await query(config.storage.url, "SELECT COUNT(*) FROM links")
    return int(count)


async def test_url_verification_echoes_the_plaintext(fake: FakeWeCom, callback_url: str) -> None:
    status, body = await fake.verify_url(callback_url)
    assert (status, body) == (200, fake.last_echo)
    status, _ = await fake.verify_url(callback_url, signature_override="0" * 40)
    assert status == 403


async def test_the_reply_is_sealed_with_the_callbacks_own_nonce(
    bot: Suo, fake: FakeWeCom, callback_url: str
) -> None:
    # 101033: the reply's nonce "需要用回调url中的nonce"; timestamp "要求为秒级别的".
    before = int(time.time())
    message = group_text(mention("https://example.com/nonce"))
    result = await fake.send_callback(callback_url, message, nonce="2718281828")
    assert result.reply is not None and SHORT.search(result.reply["stream"]["content"])
    envelope = json.loads(result.body_text)
    assert envelope["nonce"] == "2718281828"
    assert before <= int(envelope["timestamp"]) <= time.time()
    # The same sealed reply, presented as the answer to another callback, is refused.
    with pytest.raises(WeComReplyError, match="nonce"):
        fake.open_reply(result.body_text, nonce="3141592653")


async def test_group_text_at_bot_gets_stream_reply_with_short_link_and_qr(
    bot: Suo, fake: FakeWeCom, callback_url: str
) -> None:
    message = group_text(mention("周六活动 https://example.com/join?id=7 欢迎参加"))
    result = await fake.send_callback(callback_url, message)
    assert result.status == 200 and result.reply is not None
    stream = result.reply["stream"]
    assert result.reply["msgtype"] == "stream" and stream["finish"] is True
    (code,) = SHORT.findall(stream["content"])
    (png,) = reply_images(result.reply)
    assert decode(png) == [f"https://suo.test/{code}"]
    short = callback_url.replace("/wecom/callback", f"/{code}")  # the same redirector
    async with aiohttp.ClientSession() as http, http.get(short, allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "https://example.com/join?id=7"


async def test_encrypted_real_qr_photo_is_decoded_and_shortened(
    bot: Suo, fake: FakeWeCom, callback_url: str
) -> None:
    photo = QR_PHOTOS / "zxingcpp-qrcode-2-extra" / "#709.webp"
    if not photo.exists():
        pytest.skip(f"no shared QR photos at {QR_PHOTOS}")
    expected = photo.with_suffix(".txt").read_text(encoding="utf-8").strip()
    url = fake.host_image(photo.read_bytes())
    result = await fake.send_callback(callback_url, group_image(url))
    assert result.reply is not None
    content = result.reply["stream"]["content"]
    assert expected in content
    (code,) = SHORT.findall(content)
    (png,) = reply_images(result.reply)
    assert decode(png) == [f"https://suo.test/{code}"]
    assert fake.downloads_of(url) == 1


async def test_mixed_message_text_and_image(bot: Suo, fake: FakeWeCom, callback_url: str) -> None:
    url = fake.host_image(render_qr_png("https://example.com/poster"))
    message = mixed([text_item(mention("看看 https://example.com/text-link")), image_item(url)])
    result = await fake.send_callback(callback_url, message)
    assert result.reply is not None
    content = result.reply["stream"]["content"]
    assert "https://example.com/text-link" in content
    assert "https://example.com/poster" in content
    assert len(set(SHORT.findall(content))) == 2
    assert len(reply_images(result.reply)) == 2


async def test_images_are_fetched_only_from_wecoms_hosts_by_default(
    config: Config, clock: FakeClock, fake: FakeWeCom, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback names the image URL suo fetches: one on another host (here the fake's
    127.0.0.1, which only tests allow) is never contacted, and the member is told."""
    defaults = wecom_config(config, fake, fetch_hosts=WECOM_FETCH_HOSTS)
    suo = await Suo.open(defaults, clock=clock)
    server = TestServer(suo.redirector_app(), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        url = fake.host_image(render_qr_png("https://example.com/elsewhere"))
        message = mixed([text_item(mention("https://example.com/kept")), image_item(url)])
        with caplog.at_level(logging.INFO):
            result = await fake.send_callback(str(server.make_url("/wecom/callback")), message)
    finally:
        await server.close()
        await suo.shutdown()
    assert result.reply is not None
    content = result.reply["stream"]["content"]
    assert "不受信任的地址" in content and "https://example.com/kept" in content
    assert fake.downloads_of(url) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "wecom image url refused chat=wrGroup1: host '127.0.0.1' is not in wecom.fetch_hosts"
    ]


async def test_a_response_url_on_another_host_gets_no_post_and_the_member_is_told(
    config: Config, clock: FakeClock, fake: FakeWeCom, caplog: pytest.LogCaptureFixture
) -> None:
    suo = await Suo.open(wecom_config(config, fake, reply_deadline_ms=100), clock=clock)
    server = TestServer(suo.redirector_app(), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        # The fake's own response_url under a name it does not trust (it resolves the same).
        response_url = fake.new_response_url().replace("127.0.0.1", "localhost")
        slow = Image.new("L", (6000, 6000), 255)  # no QR: decoding it takes a while
        buf = io.BytesIO()
        slow.save(buf, "PNG")
        message = mixed(
            [mention("https://example.com/slow"), image_item(fake.host_image(buf.getvalue()))],
            response_url=response_url,
        )
        with caplog.at_level(logging.WARNING):
            result = await fake.send_callback(str(server.make_url("/wecom/callback")), message)
            assert suo.wecom is not None
            await suo.wecom.close()  # the follow-up has finished (without posting)
    finally:
        await server.close()
        await suo.shutdown()
    assert result.reply is not None
    assert "结果无法送达" in result.reply["stream"]["content"]
    assert fake.response_posts == []
    assert [r.getMessage() for r in caplog.records] == [
        "wecom response_url refused chat=wrGroup1: host 'localhost' is not in wecom.fetch_hosts"
    ]


async def test_single_chat(bot: Suo, fake: FakeWeCom, callback_url: str) -> None:
    result = await fake.send_callback(callback_url, single_text("https://example.com/dm"))
    assert result.reply is not None
    assert SHORT.search(result.reply["stream"]["content"])
    groups = await bot.store.find_groups("single:zhangsan")
    assert [g.platform for g in groups] == ["wecom"]


async def test_bare_mention_gets_help(bot: Suo, fake: FakeWeCom, callback_url: str) -> None:
    result = await fake.send_callback(callback_url, group_text(mention("")))
    assert result.reply is not None
    assert "/short" in result.reply["stream"]["content"]


async def test_refreshes_and_events_get_the_documented_empty_reply(
    bot: Suo, fake: FakeWeCom, callback_url: str, config: Config
) -> None:
    # 101033: "可以选择直接回复空包"; our streams finish in their first reply.
    for callback in (stream_refresh("s1"), enter_chat()):
        result = await fake.send_callback(callback_url, callback)
        assert result.status == 200 and result.empty
    assert await link_count(config) == 0


async def test_forged_or_broken_callbacks_are_rejected_and_store_nothing(
    bot: Suo, fake: FakeWeCom, callback_url: str, config: Config
) -> None:
    message = group_text(mention("https://example.com/forged"))
    bad_signature = await fake.send_callback(
        callback_url, message, signature_override="f" * 40, strict=False
    )
    garbage = await fake.send_callback(callback_url, message, raw_body="{not json", strict=False)
    not_encrypted = await fake.send_callback(
        callback_url, message, raw_body='{"text": "hi"}', strict=False
    )
    wrong_key = await fake.send_callback(
        callback_url, message, crypto=WeComCrypto(fake.token, OTHER_AES_KEY, ""), strict=False
    )
    assert bad_signature.status == 403
    assert (garbage.status, not_encrypted.status, wrong_key.status) == (400, 400, 400)
    assert await link_count(config) == 0
    ok = await fake.send_callback(callback_url, message)
    assert ok.reply is not None and await link_count(config) == 1


async def test_a_retried_msgid_gets_the_same_reply_and_one_link(
    bot: Suo, fake: FakeWeCom, callback_url: str, config: Config
) -> None:
    message = group_text(mention("https://example.com/retry"), msgid="CAIQretry1")
    first = await fake.send_callback(callback_url, message)
    second = await fake.send_callback(callback_url, message)
    assert first.reply is not None and second.reply is not None
    assert first.reply["stream"]["content"] == second.reply["stream"]["content"]
    assert await link_count(config) == 1
    # Each delivery has its own nonce, and each answer is sealed with it.
    assert first.nonce != second.nonce
    assert json.loads(second.body_text)["nonce"] == second.nonce


def long_links(count: int) -> list[str]:
    """`count` distinct URLs near the shortener's 2,048-character limit."""
    return [f"https://example.com/{i}?q=" + "a" * 2000 for i in range(count)]


async def test_many_long_links_fit_in_one_accepted_stream_reply(
    bot: Suo, fake: FakeWeCom, callback_url: str, config: Config
) -> None:
    # 101031: stream.content "最长不超过20480个字节", msg_item "目前最多支持设置10个".
    urls = long_links(12)  # the reply lists each URL: over 24,000 bytes before fitting
    result = await fake.send_callback(callback_url, group_text(mention(" ".join(urls))))
    assert result.reply is not None  # strict: WeCom would have shown it
    content = result.reply["stream"]["content"]
    assert 20000 < len(content.encode()) <= 20480 and content.endswith("…")
    assert urls[0] in content and urls[8] in content
    assert len(reply_images(result.reply)) == 10
    assert await link_count(config) == 12


async def test_slow_work_is_acknowledged_then_followed_up_via_response_url(
    config: Config, clock: FakeClock, fake: FakeWeCom
) -> None:
    suo = await Suo.open(
        wecom_config(config, fake, admins=("boss",), reply_deadline_ms=100), clock=clock
    )
    server = TestServer(suo.redirector_app(), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        photo = Image.new("L", (6000, 6000), 255)  # no QR: decoding it takes a while
        buf = io.BytesIO()
        photo.save(buf, "PNG")
        response_url = fake.new_response_url()
        urls = long_links(11)
        message = mixed(
            [mention(" ".join(urls)), image_item(fake.host_image(buf.getvalue()))],
            response_url=response_url,
        )
        result = await fake.send_callback(str(server.make_url("/wecom/callback")), message)
        assert result.reply is not None
        assert "正在处理" in result.reply["stream"]["content"]
        (post,) = await fake.wait_for_response_post()
        # 101138: markdown.content "最长不超过20480个字节": cut to fit, and accepted.
        assert post.errcode == 0 and post.body is not None
        content = post.body["markdown"]["content"]
        assert "没有找到二维码" in content and urls[0] in content
        assert len(content.encode()) <= 20480
    finally:
        await suo.stop()
        await server.close()
        await suo.shutdown()


async def test_admin_binds_the_group_robot_members_cannot(
    bot: Suo, fake: FakeWeCom, callback_url: str
) -> None:
    key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    webhook = fake.add_webhook_key(key)
    member = await fake.send_callback(callback_url, group_text(mention(f"bind {webhook}")))
    assert member.reply is not None and "管理员" in member.reply["stream"]["content"]
    boss = await fake.send_callback(
        callback_url, group_text(mention(f"/bind {webhook}"), userid="boss")
    )
    assert boss.reply is not None
    content = boss.reply["stream"]["content"]
    assert "…5aaa" in content and key not in content
    (group,) = await bot.store.find_groups("wrGroup1")
    binding = await bot.store.webhook_for(group.id)
    assert binding is not None and binding.webhook_key == key


async def test_webhook_sends_within_limits_and_reports_invalid_keys(bot: Suo) -> None:
    # The robot's minute shrunk a hundredfold on both sides (the fake counts in scaled loop
    # time, the limiter leaks in the same proportion): a busy minute passes in under a second.
    scale = 100.0
    loop = asyncio.get_running_loop()
    async with FakeWeCom(clock=lambda: loop.time() * scale) as fake:
        key = "0f8b2c1e-1234-4bc4-97a0-0ec2sifa5bbb"
        fake.add_webhook_key(key)

        def scaled_limiter() -> AsyncLimiter:
            limiter = robot_limiter()  # the production rate, its period scaled
            return AsyncLimiter(limiter.max_rate, limiter.time_period / scale)

        webhook = WeComWebhook(bot.http, fake.url, limiter=scaled_limiter)
        await send_a_busy_minute(webhook, key, fake)


async def send_a_busy_minute(webhook: WeComWebhook, key: str, fake: FakeWeCom) -> None:
    await webhook.send_text(key, "周报" * 2000)  # over 2,048 bytes: cut to fit
    await webhook.send_markdown(key, "# 本周\n" + "链接 " * 3000)  # over 4,096 bytes
    await webhook.send_image(key, render_qr_png("https://example.com/chart"))
    for i in range(20):
        await webhook.send_text(key, f"提醒 {i}")
    # More than the robot's 20 a minute, and the fake refuses the 21st within a minute (45009):
    # every message went through, none was refused, so each waited for its slot.
    received = fake.webhook_messages(key)
    assert len(received) == 23
    assert [c.errcode for c in fake.webhook_calls if c.key == key] == [0] * 23
    assert len(received[0]["text"]["content"].encode()) <= 2048
    assert len(received[1]["markdown"]["content"].encode()) <= 4096
    with pytest.raises(InvalidWebhookKey):
        await webhook.send_text("ffffffff-0000-0000-0000-000000000000", "hello")


async def test_a_posted_webhook_url_is_never_shortened(
    bot: Suo, fake: FakeWeCom, callback_url: str, config: Config
) -> None:
    webhook = fake.add_webhook_key("5d1c0e2a-9999-4bc4-97a0-0ec2sifa5ccc")
    result = await fake.send_callback(callback_url, group_text(mention(f"机器人地址 {webhook}")))
    assert result.reply is not None
    assert "密钥" in result.reply["stream"]["content"]
    assert "5d1c0e2a" not in result.reply["stream"]["content"]
    assert await link_count(config) == 0


async def test_a_dead_robot_key_is_unbound_and_the_next_admin_told(
    bot: Suo, fake: FakeWeCom, callback_url: str, clock: FakeClock
) -> None:
    key = "7e3f0a11-2222-4bc4-97a0-0ec2sifa5ddd"
    webhook_url = fake.add_webhook_key(key)
    await fake.send_callback(
        callback_url, group_text(mention(f"bind {webhook_url}"), userid="boss")
    )
    (group,) = await bot.store.find_groups("wrGroup1")
    pusher = WeComGroupPusher(GroupRobots(bot.store, clock), WeComWebhook(bot.http, fake.url))
    assert await pusher.push(group.id, "# 本周摘要\n3 个链接", [render_qr_png("x")]) is True
    assert [m["msgtype"] for m in fake.webhook_messages(key)] == ["markdown", "image"]
    fake.remove_webhook_key(key)  # an admin deleted the robot
    assert await pusher.push(group.id, "# 下周") is False
    member = await fake.send_callback(callback_url, group_text(mention("https://example.com/a")))
    assert member.reply is not None and "失效" not in member.reply["stream"]["content"]
    admin = await fake.send_callback(
        callback_url, group_text(mention("https://example.com/b"), userid="boss")
    )
    assert admin.reply is not None
    content = admin.reply["stream"]["content"]
    assert "失效" in content and "…5ddd" in content and "https://example.com/b" in content
    assert await bot.store.webhook_for(group.id) is None


async def test_an_admin_can_add_another_admin_in_chat(
    bot: Suo, fake: FakeWeCom, callback_url: str
) -> None:
    webhook = fake.add_webhook_key("1a2b3c4d-5555-4bc4-97a0-0ec2sifa5eee")
    refused = await fake.send_callback(callback_url, group_text(mention("admin add lisi")))
    assert refused.reply is not None and "管理员" in refused.reply["stream"]["content"]
    added = await fake.send_callback(
        callback_url, group_text(mention("admin add lisi"), userid="boss")
    )
    assert added.reply is not None and "lisi" in added.reply["stream"]["content"]
    bound = await fake.send_callback(
        callback_url, group_text(mention(f"bind {webhook}"), userid="lisi")
    )
    assert bound.reply is not None and "…5eee" in bound.reply["stream"]["content"]
    other_group = await fake.send_callback(
        callback_url, group_text(mention(f"bind {webhook}"), userid="lisi", chatid="wrGroup2")
    )
    assert other_group.reply is not None
    assert "管理员" in other_group.reply["stream"]["content"]  # admin of one group only


async def test_45009_from_wecom_means_retry_later(bot: Suo) -> None:
    # A robot shared with another sender: WeCom's own count runs out before ours does.
    async with FakeWeCom(webhook_messages_per_minute=2) as fake:
        key = "9c8d7e6f-3333-4bc4-97a0-0ec2sifa5fff"
        fake.add_webhook_key(key)
        webhook = WeComWebhook(bot.http, fake.url)
        await webhook.send_text(key, "一")
        await webhook.send_text(key, "二")
        with pytest.raises(WebhookRetryLater):
            await webhook.send_text(key, "三")
        assert len(fake.webhook_messages(key)) == 2
