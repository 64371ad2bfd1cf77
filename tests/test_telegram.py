"""The bot in a Telegram group, end to end: real python-telegram-bot against a local fake
Bot API (tests/fake_telegram.py) on 127.0.0.1, real SQLite, the real redirector.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import zxingcpp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from bot.config import Config
from bot.qr import render_qr_png
from suo.app import Suo
from tests.conftest import (
    BOTH_ENGINES,
    REPO,
    FakeClock,
    free_port,
    process_config,
    telegram_config,
    wait_healthy,
)
from tests.fake_telegram import FakeBotApi
from tests.telegram_builders import (
    DEFAULT_CHAT_ID,
    anonymous_admin_text_update,
    edited_group_text_update,
    forward_origin_user,
    group_document_update,
    group_photo_update,
    group_text_update,
    my_chat_member_update,
    text_link_entity,
    url_entities,
    user,
)

# Every test that builds a store runs on SQLite and on PostgreSQL.
ENGINES = BOTH_ENGINES

TOKEN = "123:ABC-secret-token-value"
WEBHOOK_SECRET = "webhook-secret_0123456789"
SHORT = re.compile(r"https://suo\.test/([A-Za-z0-9]{7})")
QR_PHOTOS = REPO.parent / "shared" / "qr-photos"


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns when RetryAfter.retry_after is read as an int; opt in to timedelta.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN, can_read_all_group_messages=True) as fake:
        yield fake


@pytest.fixture
async def bot(config: Config, clock: FakeClock, api: FakeBotApi) -> AsyncIterator[Suo]:
    suo = await Suo.open(telegram_config(config, api), clock=clock)
    await suo.start()
    try:
        yield suo
    finally:
        await suo.stop()
        await suo.shutdown()


@pytest.fixture
async def redirector(bot: Suo) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(bot.redirector_app(), host="127.0.0.1", port=0)) as client:
        yield client


def decode(png: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


async def test_link_in_group_gets_threaded_photo_reply_that_works(
    bot: Suo,
    api: FakeBotApi,
    redirector: TestClient,  # type: ignore[type-arg]
) -> None:
    text = "🎉 周末活动报名 https://example.com/signup?id=42 欢迎转发"
    update = api.push_update(group_text_update(text, entities=url_entities(text)))
    (call,) = await api.wait_for_call("sendPhoto")
    assert call.params["chat_id"] == DEFAULT_CHAT_ID
    assert call.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    (code,) = SHORT.findall(call.params["caption"])
    assert "https://example.com/signup?id=42" in call.params["caption"]
    photo = call.files["photo"]
    assert decode(photo.data) == [f"https://suo.test/{code}"]
    resp = await redirector.get(f"/{code}", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "https://example.com/signup?id=42"


async def test_text_link_behind_words_is_shortened(bot: Suo, api: FakeBotApi) -> None:
    text = "报名请点 这里 ，截止周五"
    entity = text_link_entity(text, "这里", "https://forms.example/abc")
    api.push_update(group_text_update(text, entities=[entity]))
    (call,) = await api.wait_for_call("sendPhoto")
    assert "https://forms.example/abc" in call.params["caption"]
    assert SHORT.search(call.params["caption"])


async def test_three_links_one_reply_listing_all_and_an_album(bot: Suo, api: FakeBotApi) -> None:
    text = "资料：https://a.example/1 、https://b.example/2 、https://c.example/3"
    update = api.push_update(group_text_update(text, entities=url_entities(text)))
    (album,) = await api.wait_for_call("sendMediaGroup")
    (message,) = api.calls_to("sendMessage")
    assert len(set(SHORT.findall(message.params["text"]))) == 3
    assert message.params["link_preview_options"] == {"is_disabled": True}
    assert message.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    decoded = [decode(f.data)[0] for f in album.media_files()]
    assert sorted(decoded) == sorted(
        f"https://suo.test/{c}" for c in SHORT.findall(message.params["text"])
    )


@pytest.mark.skipif(not QR_PHOTOS.exists(), reason=f"no shared QR photos at {QR_PHOTOS}")
async def test_forwarded_real_qr_photo_is_decoded_and_shortened(bot: Suo, api: FakeBotApi) -> None:
    photo = QR_PHOTOS / "zxingcpp-qrcode-2-extra" / "#709.webp"
    expected = (photo.with_suffix(".txt")).read_text(encoding="utf-8").strip()
    png = io.BytesIO()
    Image.open(photo).convert("RGB").save(png, "PNG")  # Telegram recompresses to JPEG
    sizes = api.add_photo(png.getvalue())
    origin = forward_origin_user(user(7, "Bob"))
    api.push_update(group_photo_update(sizes, forwarded_from=origin))
    (call,) = await api.wait_for_call("sendPhoto")
    assert expected in call.params["caption"]
    assert "识别到 1 个二维码" in call.params["caption"]
    (code,) = SHORT.findall(call.params["caption"])
    link = await bot.store.get_link(code)
    assert link is not None and link.url == expected


async def test_qr_photo_document_with_caption(bot: Suo, api: FakeBotApi) -> None:
    file = api.add_file("doc-qr-1", render_qr_png("https://example.com/poster"))
    api.push_update(group_document_update(file, caption="海报"))
    (call,) = await api.wait_for_call("sendPhoto")
    assert "https://example.com/poster" in call.params["caption"]
    assert SHORT.search(call.params["caption"])


async def test_30mb_document_gets_a_clear_answer_and_the_bot_keeps_going(
    bot: Suo, api: FakeBotApi
) -> None:
    big = {"file_id": "big-doc", "file_unique_id": "bigdoc", "file_size": 30 * 1024 * 1024}
    api.push_update(group_document_update(big, mime_type="image/jpeg", file_name="big.jpg"))
    (refusal,) = await api.wait_for_call("sendMessage")
    assert "太大" in refusal.params["text"]
    assert api.calls_to("getFile") == []  # refused before any download
    api.push_update(
        group_text_update(
            "https://example.com/after", entities=url_entities("https://example.com/after")
        )
    )
    await api.wait_for_call("sendPhoto")


async def test_429_is_waited_out_and_retried(bot: Suo, api: FakeBotApi) -> None:
    api.fail_next("sendPhoto", status=429, retry_after=1)
    text = "https://example.com/flood"
    api.push_update(group_text_update(text, entities=url_entities(text)))
    await api.wait_for_call("sendPhoto", count=2, timeout=15)
    assert [c.status for c in api.calls_to("sendPhoto")] == [429, 200]


async def test_edited_messages_and_other_bots_commands_are_ignored(
    bot: Suo, api: FakeBotApi
) -> None:
    edited_text = "https://example.com/edited"
    api.push_update(
        edited_group_text_update(edited_text, message_id=555, entities=url_entities(edited_text))
    )
    api.push_update(group_text_update("/short@other_bot https://example.com/x"))
    api.push_update(group_text_update("/help@suo_test_bot"))
    (help_reply,) = await api.wait_for_call("sendMessage")
    assert "/short" in help_reply.params["text"]
    assert api.calls_to("sendPhoto") == []


async def test_short_command_with_our_mention(bot: Suo, api: FakeBotApi) -> None:
    api.push_update(group_text_update("/short@suo_test_bot https://example.com/cmd"))
    (call,) = await api.wait_for_call("sendPhoto")
    assert "https://example.com/cmd" in call.params["caption"]


async def test_admin_check_uses_get_chat_member_and_anonymous_admins(
    bot: Suo, api: FakeBotApi
) -> None:
    adapter = bot.telegram
    assert adapter is not None
    api.set_member_status(DEFAULT_CHAT_ID, 42, "administrator")
    api.set_member_status(DEFAULT_CHAT_ID, 43, "member")
    assert await adapter.is_admin(DEFAULT_CHAT_ID, 42) is True
    assert await adapter.is_admin(DEFAULT_CHAT_ID, 43) is False
    assert await adapter.is_admin(DEFAULT_CHAT_ID, 42) is True
    assert len(api.calls_to("getChatMember")) == 2  # the second answer for 42 was cached
    from telegram import Update

    raw = anonymous_admin_text_update("/stats") | {"update_id": 99}
    update = Update.de_json(raw, adapter.application.bot)
    assert update is not None and update.message is not None
    incoming = await adapter.to_incoming(update.message)
    assert incoming is not None and incoming.is_admin


async def test_only_a_command_that_needs_an_admin_asks_telegram(bot: Suo, api: FakeBotApi) -> None:
    api.set_member_status(DEFAULT_CHAT_ID, 43, "member")
    api.set_member_status(DEFAULT_CHAT_ID, 42, "administrator")
    link = "https://example.com/no-admin-question"
    api.push_update(group_text_update(link, user_id=43, entities=url_entities(link)))
    await api.wait_for_call("sendPhoto")
    api.push_update(group_text_update("/top", user_id=43))
    await api.wait_for_call("sendMessage")
    assert api.calls_to("getChatMember") == []  # a link and /top ask nobody's rights
    api.push_update(group_text_update("/settings auto off", user_id=43))
    refused = await api.wait_for_call("sendMessage", count=2)
    assert "管理员" in refused[-1].params["text"]
    api.push_update(group_text_update("/settings auto off", user_id=42))
    await api.wait_for_call("sendMessage", count=3)
    assert [c.params["user_id"] for c in api.calls_to("getChatMember")] == [43, 42]


async def test_joining_a_group_in_privacy_mode_warns(config: Config, clock: FakeClock) -> None:
    async with FakeBotApi(token=TOKEN, can_read_all_group_messages=False) as api:
        suo = await Suo.open(telegram_config(config, api), clock=clock)
        await suo.start()
        try:
            api.push_update(my_chat_member_update(old_status="left", new_status="member"))
            (greeting,) = await api.wait_for_call("sendMessage")
        finally:
            await suo.stop()
            await suo.shutdown()
    assert "/short" in greeting.params["text"]
    assert "BotFather" in greeting.params["text"] and "/setprivacy" in greeting.params["text"]


async def test_webhook_mode_checks_the_secret(
    config: Config, clock: FakeClock, api: FakeBotApi
) -> None:
    suo = await Suo.open(
        telegram_config(config, api, mode="webhook", webhook_secret=WEBHOOK_SECRET), clock=clock
    )
    try:
        assert api.webhook_url == ""  # the web app that serves the route starts the bot
        async with TestClient(TestServer(suo.redirector_app(), host="127.0.0.1", port=0)) as c:
            assert api.webhook_url == "https://suo.test/telegram/webhook"
            assert api.webhook_secret_token == WEBHOOK_SECRET
            text = "https://example.com/hooked"
            body = group_text_update(text, entities=url_entities(text)) | {"update_id": 1}
            wrong = await c.post(
                "/telegram/webhook",
                json=body,
                headers={"X-Telegram-Bot-Api-Secret-Token": "wrong-secret-0123456789"},
            )
            missing = await c.post("/telegram/webhook", json=body)
            assert (wrong.status, missing.status) == (403, 403)
            garbage = await c.post(
                "/telegram/webhook",
                data=b"{not json",
                headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            )
            assert garbage.status == 400
            assert api.calls_to("sendPhoto") == []
            right = await c.post(
                "/telegram/webhook",
                json=body,
                headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            )
            assert right.status == 200
            (call,) = await api.wait_for_call("sendPhoto")
            assert "https://example.com/hooked" in call.params["caption"]
    finally:
        await suo.stop()
        await suo.shutdown()


async def test_the_token_never_appears_in_logs(
    bot: Suo, api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.fail_next("sendPhoto", status=500, description="Internal Server Error")
    text = "https://example.com/logs"
    api.push_update(group_text_update(text, entities=url_entities(text)))
    await api.wait_for_call("sendPhoto")
    await bot.stop()
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert TOKEN not in logged
    assert TOKEN.split(":")[1] not in logged


async def test_a_failing_reply_is_logged_and_the_next_message_is_answered(
    bot: Suo, api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.fail_next("sendPhoto", status=400, description="Bad Request: chat not found")
    first = "https://example.com/first"
    api.push_update(group_text_update(first, entities=url_entities(first)))
    await api.wait_for_call("sendPhoto")
    second = "https://example.com/second"
    api.push_update(group_text_update(second, entities=url_entities(second), chat_id=-100777))
    calls = await api.wait_for_call("sendPhoto", count=2)
    assert calls[0].status == 400 and calls[1].status == 200
    assert "https://example.com/second" in calls[1].params["caption"]
    await bot.stop()  # waits for the error handler's task
    failures = [r for r in caplog.records if "telegram update failed" in r.getMessage()]
    assert failures and "chat=-100123" in failures[0].getMessage()


async def test_a_scale_out_redirector_process_answers_webhook_updates(
    tmp_path: Path, api: FakeBotApi
) -> None:
    """Behind a load balancer every node is a `suo redirector`: Telegram's POST to any of them
    must get the member a reply, not a 200 and silence."""
    port = free_port()
    telegram = f"""
[telegram]
token = "{TOKEN}"
mode = "webhook"
webhook_secret = "{WEBHOOK_SECRET}"
api_base_url = "{api.base_url}"
file_base_url = "{api.file_base_url}"
"""
    cfg = process_config(tmp_path, port, telegram)
    env = {**os.environ, "PTB_TIMEDELTA": "1", "PYTHONUNBUFFERED": "1"}
    node = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "suo.cli",
        "--config",
        str(cfg),
        "-v",  # debug logs from every library: the token must still never appear
        "redirector",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz")
        for _ in range(200):  # setWebhook follows the route's start: bounded, ~10 s at most
            if api.webhook_url:
                break
            await asyncio.sleep(0.05)
        assert api.webhook_url == f"http://127.0.0.1:{port}/telegram/webhook"
        text = "看看 https://example.com/scale-out"
        api.push_update(group_text_update(text, entities=url_entities(text)))
        (call,) = await asyncio.wait_for(api.wait_for_call("sendPhoto"), timeout=30)
    finally:
        node.terminate()
        _, err = await asyncio.wait_for(node.communicate(), timeout=30)
    assert node.returncode == 0, err.decode()
    logged = err.decode()
    assert "telegram webhook set" in logged  # the debug log was really written...
    assert TOKEN.split(":")[1] not in logged and WEBHOOK_SECRET not in logged  # ...redacted
    assert "https://example.com/scale-out" in call.params["caption"]
    assert SHORT_LOCAL.search(call.params["caption"])
    assert [d.status for d in api.webhook_deliveries] == [200]


SHORT_LOCAL = re.compile(r"http://127\.0\.0\.1:\d+/[A-Za-z0-9]{7}")


async def test_the_webhook_route_never_acknowledges_an_update_it_cannot_process(
    config: Config, clock: FakeClock, api: FakeBotApi
) -> None:
    suo = await Suo.open(
        telegram_config(config, api, mode="webhook", webhook_secret=WEBHOOK_SECRET), clock=clock
    )
    try:
        assert suo.telegram is not None
        text = "https://example.com/early"
        body = group_text_update(text, entities=url_entities(text)) | {"update_id": 1}
        # The handler alone, on an app whose bot was never started (no mount()):
        app = web.Application()
        app.router.add_post("/telegram/webhook", suo.telegram.webhook)
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
            early = await c.post(
                "/telegram/webhook",
                json=body,
                headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            )
        assert early.status == 503  # Telegram keeps the update and delivers it again
        assert api.calls_to("sendPhoto") == []
        # Mounted, the bot runs with the app; a second start elsewhere is refused, not doubled.
        async with TestClient(TestServer(suo.redirector_app(), host="127.0.0.1", port=0)):
            with pytest.raises(RuntimeError, match="already running"):
                await suo.telegram.start()
    finally:
        await suo.shutdown()


async def test_the_command_menu_lists_every_command_and_admins_see_theirs(
    bot: Suo, api: FakeBotApi
) -> None:
    """Members' menu in groups; group admins' and private chats' menus add the admin commands.
    Every listed command is one the bot answers (checked through the core's router)."""

    def names(scope: str) -> list[str]:
        key = (json.dumps({"type": scope}, sort_keys=True), "")
        return [c["command"] for c in api.commands.get(key, [])]

    members = names("default")
    admins = names("all_chat_administrators")
    assert {
        "short",
        "qr",
        "stats",
        "top",
        "mine",
        "dashboard",
        "digest",
        "settings",
        "help",
    } <= set(members)
    assert {"delete", "block", "unblock"}.isdisjoint(members)
    assert set(admins) == set(members) | {"delete", "block", "unblock"}
    assert names("all_private_chats") == admins
    assert all(bot.core.router.route(name) is not None for name in admins)
    assert "bind" not in admins  # WeCom's group robots only


async def test_command_menus_speak_the_readers_language(bot: Suo, api: FakeBotApi) -> None:
    """zh and en apps get their language; other apps both, as one description."""

    def descriptions(scope: str, language_code: str) -> dict[str, str]:
        key = (json.dumps({"type": scope}, sort_keys=True), language_code)
        return {c["command"]: c["description"] for c in api.commands.get(key, [])}

    for scope in ("default", "all_chat_administrators", "all_private_chats"):
        zh, en, other = (descriptions(scope, code) for code in ("zh", "en", ""))
        assert zh.keys() == en.keys() == other.keys()
        assert (zh["short"], en["short"], other["short"]) == (
            "缩短链接",
            "shorten a link",
            "缩短链接 / shorten a link",
        )


async def test_entity_with_glued_chinese_text_shortens_the_link_and_says_so(
    bot: Suo,
    api: FakeBotApi,
    redirector: TestClient,  # type: ignore[type-arg]
) -> None:
    # tdlib marks "https://zh.wikipedia.org/wiki/上海，不错" as one URL entity.
    text = "看这个https://zh.wikipedia.org/wiki/上海，不错"
    api.push_update(group_text_update(text, entities=url_entities(text)))
    (call,) = await api.wait_for_call("sendPhoto")
    caption = call.params["caption"]
    (code,) = SHORT.findall(caption)
    assert "你发的是「https://zh.wikipedia.org/wiki/上海，不错」" in caption
    resp = await redirector.get(f"/{code}", allow_redirects=False)
    assert resp.headers["Location"] == "https://zh.wikipedia.org/wiki/%E4%B8%8A%E6%B5%B7"
