"""Real python-telegram-bot against the local fake Bot API, and the update builders.

Proves the fake speaks PTB's wire formats before any adapter relies on it.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from telegram import (
    Bot,
    ChatMemberAdministrator,
    ChatMemberMember,
    ChatMemberOwner,
    InputFile,
    InputMediaPhoto,
    LinkPreviewOptions,
    MessageOriginChannel,
    MessageOriginUser,
    ReplyParameters,
    Update,
)
from telegram.error import BadRequest, Conflict, EndPointNotFound, InvalidToken, RetryAfter
from telegram.ext import AIORateLimiter, Application, ContextTypes, ExtBot, MessageHandler, filters

from tests.fake_telegram import FakeBotApi
from tests.telegram_builders import (
    GROUP_ANONYMOUS_BOT_ID,
    anonymous_admin_text_update,
    bot_command_entity,
    callback_query_update,
    edited_group_text_update,
    entity_text,
    forward_origin_channel,
    forward_origin_user,
    group_document_update,
    group_photo_update,
    group_text_update,
    my_chat_member_update,
    private_text_update,
    text_link_entity,
    url_entities,
    user,
)

TOKEN = "123:ABC"
CHAT_ID = -100123
BOUND = 10.0  # upper bound for anything that should happen promptly; never a sleep


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22.2+ warns (PTBDeprecationWarning) whenever a time period such as
    # RetryAfter.retry_after is read as int; under filterwarnings=error even constructing
    # RetryAfter would raise. PTB_TIMEDELTA=1 opts in to the coming timedelta behaviour.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=api.base_url, base_file_url=api.file_base_url) as client:
        yield client


def png(width: int = 64, height: int = 48, color: str = "white") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


# -- getMe, tokens, unknown methods ----------------------------------------------------------


async def test_get_me_describes_the_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123, "suo_test_bot", True)
    assert me.can_join_groups is True
    assert me.can_read_all_group_messages is False


async def test_get_me_privacy_mode_is_configurable() -> None:
    async with (
        FakeBotApi(token="777:XYZ", can_read_all_group_messages=True) as fake,
        Bot("777:XYZ", base_url=fake.base_url) as client,
    ):
        me = await client.get_me()
    assert (me.id, me.can_read_all_group_messages) == (777, True)


async def test_wrong_token_is_rejected_like_telegram(api: FakeBotApi) -> None:
    for token in ("123:WRONG", "not-a-token"):
        client = Bot(token, base_url=api.base_url)
        try:
            with pytest.raises(InvalidToken):
                await client.initialize()  # PTB verifies the token with getMe here
        finally:
            await client.shutdown()
    assert api.calls == []


async def test_raw_error_shapes_match_telegram(api: FakeBotApi) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{api.base_url}999:NOPE/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with session.post(f"{api.base_url}{TOKEN}/fooBar") as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }


async def test_unknown_method_surfaces_as_endpoint_not_found(bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("fooBar")


async def test_json_bodies_and_case_insensitive_methods_are_accepted(api: FakeBotApi) -> None:
    body = {"chat_id": CHAT_ID, "text": "hi", "link_preview_options": {"is_disabled": True}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{api.base_url}{TOKEN}/sendmessage", json=body) as resp,
    ):
        payload = await resp.json()
    assert payload["ok"] is True
    assert payload["result"]["text"] == "hi"
    (call,) = api.calls_to("sendMessage")
    assert call.content_type.startswith("application/json")
    assert call.params == body


# -- sendMessage -------------------------------------------------------------------------


async def test_send_message_decodes_reply_parameters_and_link_preview_options(
    api: FakeBotApi, bot: Bot
) -> None:
    asked = api.push_update(group_text_update("求短链 https://example.com/活动?id=1"))
    asked_id = asked["message"]["message_id"]

    sent = await bot.send_message(
        CHAT_ID,
        "短链：https://suo.run/abc",
        reply_parameters=ReplyParameters(message_id=asked_id),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )

    (call,) = api.calls_to("sendMessage")
    assert call.content_type.startswith("application/x-www-form-urlencoded")
    assert call.params["chat_id"] == CHAT_ID
    assert call.params["reply_parameters"] == {"message_id": asked_id}
    assert call.params["link_preview_options"] == {"is_disabled": True}
    assert sent.reply_to_message is not None
    assert sent.reply_to_message.message_id == asked_id
    assert sent.from_user is not None and sent.from_user.username == "suo_test_bot"
    assert sent.link_preview_options == LinkPreviewOptions(is_disabled=True)
    assert list(sent.parse_entities(["url"]).values()) == ["https://suo.run/abc"]
    assert api.sent_messages(CHAT_ID)[-1]["message_id"] == sent.message_id


async def test_reply_to_an_unknown_message_is_refused_unless_allowed(
    api: FakeBotApi, bot: Bot
) -> None:
    with pytest.raises(BadRequest, match="replied not found"):
        await bot.send_message(CHAT_ID, "hi", reply_parameters=ReplyParameters(message_id=999))
    sent = await bot.send_message(
        CHAT_ID,
        "hi",
        reply_parameters=ReplyParameters(message_id=999, allow_sending_without_reply=True),
    )
    assert sent.reply_to_message is None


async def test_text_limits_count_utf16_units_like_telegram(bot: Bot) -> None:
    await bot.send_message(CHAT_ID, "长" * 4096)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(CHAT_ID, "😀" * 2049)  # 4098 UTF-16 units
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(CHAT_ID, " \n ")


async def test_html_parse_mode_becomes_text_and_entities(bot: Bot) -> None:
    sent = await bot.send_message(
        CHAT_ID,
        '<b>短链</b> <a href="https://suo.run/abc?a=1&amp;b=2">打开</a> &lt;3 &amp; more',
        parse_mode="HTML",
    )
    assert sent.text == "短链 打开 <3 & more"
    kinds = {e.type: text for e, text in sent.parse_entities().items()}
    assert kinds == {"bold": "短链", "text_link": "打开"}
    assert sent.entities[1].url == "https://suo.run/abc?a=1&b=2"
    with pytest.raises(BadRequest, match='unsupported start tag "foo" at byte offset 2'):
        await bot.send_message(CHAT_ID, "a <foo> b", parse_mode="HTML")


# -- photos, albums, files ---------------------------------------------------------------


async def test_send_photo_arrives_as_multipart_with_bytes_intact(
    api: FakeBotApi, bot: Bot
) -> None:
    image = png(300, 200)

    sent = await bot.send_photo(
        CHAT_ID, photo=InputFile(image, filename="qr.png"), caption="扫码 https://suo.run/abc"
    )

    (call,) = api.calls_to("sendPhoto")
    assert call.content_type.startswith("multipart/form-data")
    assert call.files["photo"].data == image
    assert (call.files["photo"].filename, call.files["photo"].content_type) == (
        "qr.png",
        "image/png",
    )
    assert call.params["caption"] == "扫码 https://suo.run/abc"
    assert sent.caption == "扫码 https://suo.run/abc"
    assert [(p.width, p.height) for p in sent.photo] == [(90, 60), (300, 200)]


async def test_raw_bytes_get_a_generic_filename_from_ptb(api: FakeBotApi, bot: Bot) -> None:
    await bot.send_photo(CHAT_ID, photo=png())
    upload = api.calls_to("sendPhoto")[0].files["photo"]
    assert (upload.filename, upload.content_type) == (
        "application.octet-stream",
        "application/octet-stream",
    )


async def test_photo_caption_and_image_are_validated(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(CHAT_ID, photo=png(), caption="x" * 1025)
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(CHAT_ID, photo=b"not an image")
    with pytest.raises(BadRequest, match="Failed to get http url content"):
        await bot.send_photo(CHAT_ID, photo="https://suo.test/abc.png")


async def test_send_media_group_resolves_attach_references(api: FakeBotApi, bot: Bot) -> None:
    images = [png(40 + i, 40, color) for i, color in enumerate(("red", "green", "blue"))]
    media = [
        InputMediaPhoto(image, caption="三个码" if i == 0 else None)
        for i, image in enumerate(images)
    ]

    messages = await bot.send_media_group(CHAT_ID, media)

    (call,) = api.calls_to("sendMediaGroup")
    assert call.content_type.startswith("multipart/form-data")
    assert all(item["media"].startswith("attach://") for item in call.params["media"])
    assert [upload.data for upload in call.media_files()] == images
    assert len(messages) == 3
    assert len({m.media_group_id for m in messages}) == 1
    assert [m.caption for m in messages] == ["三个码", None, None]


async def test_album_filenames_need_the_filename_argument(api: FakeBotApi, bot: Bot) -> None:
    await bot.send_media_group(
        CHAT_ID, [InputMediaPhoto(png(), filename=f"qr{i}.png") for i in range(2)]
    )
    uploads = api.calls_to("sendMediaGroup")[0].media_files()
    assert [(u.filename, u.content_type) for u in uploads] == [
        ("qr0.png", "image/png"),
        ("qr1.png", "image/png"),
    ]
    # A ready-made InputFile is not sent as attach://, so the item arrives without media.
    with pytest.raises(BadRequest, match="media not found"):
        await bot.send_media_group(
            CHAT_ID, [InputMediaPhoto(InputFile(png(), filename="qr.png"))] * 2
        )


async def test_albums_over_ten_items_are_refused(bot: Bot) -> None:
    media = [InputMediaPhoto(png()) for _ in range(11)]
    with pytest.raises(BadRequest, match="Too many messages to send as an album"):
        await bot.send_media_group(CHAT_ID, media)


async def test_get_file_and_download_return_the_registered_bytes(
    api: FakeBotApi, bot: Bot
) -> None:
    data = png(120, 120)
    described = api.add_file("qr-photo-1", data)
    assert (described["width"], described["file_size"]) == (120, len(data))

    file = await bot.get_file("qr-photo-1")
    downloaded = await file.download_as_bytearray()

    assert bytes(downloaded) == data
    assert file.file_path is not None and file.file_path.startswith(api.file_base_url)
    assert api.downloads == ["photos/file_1.jpg"]
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("nope")


async def test_add_photo_recompresses_to_a_jpeg_ladder(api: FakeBotApi, bot: Bot) -> None:
    sizes = api.add_photo(png(1600, 1200))

    assert [(s["width"], s["height"]) for s in sizes] == [
        (90, 68),
        (320, 240),
        (800, 600),
        (1280, 960),
        (1600, 1200),
    ]
    update = Update.de_json(api.push_update(group_photo_update(sizes, caption="扫一扫")), bot)
    assert update is not None and update.message is not None
    largest = update.message.photo[-1]
    data = bytes(await (await bot.get_file(largest.file_id)).download_as_bytearray())
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size) == ("JPEG", (1600, 1200))


# -- long polling ---------------------------------------------------------------------------


async def test_application_long_polling_delivers_a_pushed_update(api: FakeBotApi) -> None:
    application = (
        Application.builder()
        .token(TOKEN)
        .base_url(api.base_url)
        .base_file_url(api.file_base_url)
        .build()
    )
    received: list[tuple[str, list[str]]] = []
    handled = asyncio.Event()

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        urls = list(update.message.parse_entities(["url"]).values())
        received.append((update.message.text, urls))
        handled.set()

    application.add_handler(MessageHandler(filters.TEXT, on_text))
    text = "🎉新链接：https://suo.run/abc 大家看看"
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(timeout=timedelta(seconds=BOUND))
        await application.start()
        api.push_update(group_text_update(text))
        await asyncio.wait_for(handled.wait(), BOUND)
        await application.updater.stop()
        await application.stop()

    assert received == [(text, ["https://suo.run/abc"])]
    assert api.pending_updates == []  # PTB's last getUpdates confirmed the offset


async def test_get_updates_long_poll_wakes_on_push_and_offset_confirms(
    api: FakeBotApi, bot: Bot
) -> None:
    first = api.push_update(private_text_update("/start"))
    assert [u.update_id for u in await bot.get_updates()] == [first["update_id"]]

    poll = asyncio.create_task(
        bot.get_updates(offset=first["update_id"] + 1, timeout=timedelta(seconds=BOUND))
    )
    await api.wait_for_long_poll()
    assert api.pending_updates == []  # the offset confirmed the first update
    second = api.push_update(group_text_update("hello"))
    updates = await asyncio.wait_for(poll, BOUND)

    assert [u.update_id for u in updates] == [second["update_id"]]
    assert second["update_id"] == first["update_id"] + 1


async def test_opt_in_update_types_need_allowed_updates(api: FakeBotApi, bot: Bot) -> None:
    member_change = my_chat_member_update(CHAT_ID)
    chat_member = {"chat_member": member_change["my_chat_member"]}
    api.push_update(chat_member)
    api.push_update(member_change)
    updates = await bot.get_updates()
    assert [u.my_chat_member is not None for u in updates] == [True]

    api.push_update(chat_member)
    updates = await bot.get_updates(allowed_updates=["chat_member"])
    assert [u.chat_member is not None for u in updates] == [True]


async def test_a_second_poller_ends_the_first_with_conflict(api: FakeBotApi, bot: Bot) -> None:
    # Two bot instances: one Bot keeps a single connection for getUpdates.
    async with Bot(TOKEN, base_url=api.base_url) as other_instance:
        first = asyncio.create_task(bot.get_updates(timeout=timedelta(seconds=BOUND)))
        await api.wait_for_long_poll()
        second = asyncio.create_task(other_instance.get_updates(timeout=timedelta(seconds=BOUND)))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(first, BOUND)
        api.push_update(group_text_update("x"))
        assert len(await asyncio.wait_for(second, BOUND)) == 1


# -- rate limits and injected failures ------------------------------------------------------


async def test_injected_429_surfaces_as_retry_after(api: FakeBotApi, bot: Bot) -> None:
    api.fail_next("sendMessage", 429, retry_after=1)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT_ID, "hi")

    assert caught.value.retry_after == timedelta(seconds=1)
    assert [c.status for c in api.calls_to("sendMessage")] == [429]
    await bot.send_message(CHAT_ID, "hi")  # only the next call failed
    assert [c.status for c in api.calls_to("sendMessage")] == [429, 200]


async def test_aio_rate_limiter_retries_a_retry_after_once(api: FakeBotApi) -> None:
    limiter = AIORateLimiter(max_retries=1)
    async with ExtBot(TOKEN, base_url=api.base_url, rate_limiter=limiter) as ext_bot:
        api.fail_next("sendMessage", 429, retry_after=1)
        # The limiter sleeps retry_after + 0.1 s of real time before it retries.
        sent = await ext_bot.send_message(CHAT_ID, "hi")
    assert sent.text == "hi"
    assert [c.status for c in api.calls_to("sendMessage")] == [429, 200]


async def test_aio_rate_limiter_does_not_retry_by_default(api: FakeBotApi) -> None:
    async with ExtBot(TOKEN, base_url=api.base_url, rate_limiter=AIORateLimiter()) as ext_bot:
        api.fail_next("sendMessage", 429, retry_after=1)
        with pytest.raises(RetryAfter):
            await ext_bot.send_message(CHAT_ID, "hi")


async def test_generic_failures_map_to_ptb_errors(api: FakeBotApi, bot: Bot) -> None:
    api.fail_next("sendPhoto", 400, description="Bad Request: not enough rights to send photos")
    with pytest.raises(BadRequest, match="Not enough rights to send photos"):
        await bot.send_photo(CHAT_ID, photo=png())
    api.fail_next("sendMessage", 500, times=2)
    for _ in range(2):
        with pytest.raises(Exception, match="Internal Server Error"):
            await bot.send_message(CHAT_ID, "hi")
    await bot.send_message(CHAT_ID, "hi")


async def test_group_flood_limit_answers_429_until_the_minute_passes(bot: Bot) -> None:
    now = [datetime(2026, 11, 23, 9, 30, tzinfo=UTC)]
    async with (
        FakeBotApi(token=TOKEN, group_messages_per_minute=2, clock=lambda: now[0]) as fake,
        Bot(TOKEN, base_url=fake.base_url) as client,
    ):
        await client.send_message(CHAT_ID, "1")
        now[0] += timedelta(seconds=15)
        await client.send_message(CHAT_ID, "2")
        with pytest.raises(RetryAfter) as caught:
            await client.send_message(CHAT_ID, "3")
        assert caught.value.retry_after == timedelta(seconds=45)
        await client.send_message(42, "private chats are not limited")
        now[0] += timedelta(seconds=45)
        await client.send_message(CHAT_ID, "3")


async def test_wait_for_call_reports_what_it_saw(api: FakeBotApi, bot: Bot) -> None:
    await bot.get_me()
    with pytest.raises(AssertionError, match=r"1 call\(s\) to sendPhoto.*getMe->200"):
        await api.wait_for_call("sendPhoto", timeout=0.05)


# -- members, commands, actions, callbacks, webhooks ------------------------------------------


async def test_get_chat_member_statuses(api: FakeBotApi, bot: Bot) -> None:
    api.push_update(group_text_update("hi", user_id=7, first_name="Bob"))
    api.set_member_status(CHAT_ID, 7, "administrator")
    api.set_member_status(CHAT_ID, 8, "creator")

    admin = await bot.get_chat_member(CHAT_ID, 7)
    assert isinstance(admin, ChatMemberAdministrator)
    assert admin.user.first_name == "Bob"
    assert isinstance(await bot.get_chat_member(CHAT_ID, 8), ChatMemberOwner)
    assert isinstance(await bot.get_chat_member(CHAT_ID, 9), ChatMemberMember)
    admins = await bot.get_chat_administrators(CHAT_ID)
    assert [m.user.id for m in admins] == [7, 8]


async def test_commands_actions_and_callback_answers(api: FakeBotApi, bot: Bot) -> None:
    await bot.set_my_commands([("short", "缩短链接"), ("stats", "统计")])
    assert [c.command for c in await bot.get_my_commands()] == ["short", "stats"]
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Short-Link", "x")])

    assert await bot.send_chat_action(CHAT_ID, "upload_photo") is True
    with pytest.raises(BadRequest, match="Wrong parameter action"):
        await bot.send_chat_action(CHAT_ID, "dancing")

    sent = await bot.send_message(CHAT_ID, "short link")
    query = api.push_update(callback_query_update("stats:abc", sent.to_dict()))
    assert await bot.answer_callback_query(query["callback_query"]["id"], text="ok") is True
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query["callback_query"]["id"])


async def test_webhook_receives_pushed_updates_with_the_secret(api: FakeBotApi, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response()

    app = web.Application()
    app.router.add_post("/telegram", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/telegram"
        assert await bot.set_webhook(url, secret_token="s3cret-token") is True
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()

        pushed = api.push_update(group_text_update("via webhook"))
        await api.wait_until(lambda: len(received) == 1, what="a webhook delivery")

        assert received == [("s3cret-token", pushed)]
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count) == (url, 0)
        assert await bot.delete_webhook() is True
        assert (await bot.get_webhook_info()).url == ""
    finally:
        await runner.cleanup()


# -- builders -----------------------------------------------------------------------------


def test_url_entities_count_utf16_units() -> None:
    text = "👍👍 看 https://suo.run/abc and www.example.com."
    entities = url_entities(text)
    assert [(e["offset"], e["length"]) for e in entities] == [(7, 19), (31, 15)]
    assert [entity_text(text, e) for e in entities] == ["https://suo.run/abc", "www.example.com"]


def test_url_entities_keep_cjk_glued_to_a_link_like_telegram() -> None:
    # tdlib treats CJK letters and fullwidth punctuation as URL path characters.
    text = "看这个https://suo.run/abc，很好"
    assert [entity_text(text, e) for e in url_entities(text)] == ["https://suo.run/abc，很好"]


async def test_builders_parse_in_ptb_with_utf16_offsets(bot: Bot) -> None:
    text = "/short@suo_test_bot 😀 https://example.com/长/路径 see docs"
    entities = [
        bot_command_entity(text),
        *url_entities(text),
        text_link_entity(text, "docs", "https://suo.run/docs"),
    ]
    update = Update.de_json(
        group_text_update(text, entities=entities, username="alice") | {"update_id": 1}, bot
    )
    assert update.message is not None
    parsed = {e.type: value for e, value in update.message.parse_entities().items()}
    assert parsed == {
        "bot_command": "/short@suo_test_bot",
        "url": "https://example.com/长/路径",
        "text_link": "docs",
    }


async def test_forwarded_photo_document_and_edits_parse_in_ptb(api: FakeBotApi, bot: Bot) -> None:
    photo_sizes = [api.add_file("small", png(90, 90)), api.add_file("large", png(600, 600))]
    updates = [
        group_photo_update(
            list(reversed(photo_sizes)), "转发的码", forwarded_from=forward_origin_user(user(9))
        ),
        group_photo_update(photo_sizes, forwarded_from=forward_origin_channel(username="news")),
        group_document_update(api.add_file("doc", png()), caption="原图"),
        edited_group_text_update("改过 https://suo.run/x", message_id=5),
    ]
    parsed = [Update.de_json(api.push_update(u), bot) for u in updates]
    forwarded_user, forwarded_channel, document, edit = (u.effective_message for u in parsed)
    assert forwarded_user is not None and forwarded_user.photo[-1].file_id == "large"
    assert isinstance(forwarded_user.forward_origin, MessageOriginUser)
    assert forwarded_channel is not None
    assert isinstance(forwarded_channel.forward_origin, MessageOriginChannel)
    assert document is not None and document.document is not None
    assert document.document.mime_type == "image/png"
    assert edit is not None and parsed[3].edited_message is not None
    assert edit.edit_date is not None


async def test_anonymous_admin_and_bot_added_updates_parse_in_ptb(bot: Bot) -> None:
    anonymous = Update.de_json(anonymous_admin_text_update("/settings") | {"update_id": 1}, bot)
    assert anonymous.message is not None and anonymous.message.from_user is not None
    assert anonymous.message.from_user.id == GROUP_ANONYMOUS_BOT_ID
    assert anonymous.message.sender_chat is not None
    assert anonymous.message.sender_chat.id == CHAT_ID

    added = Update.de_json(my_chat_member_update(CHAT_ID) | {"update_id": 2}, bot)
    assert added.my_chat_member is not None
    assert added.my_chat_member.old_chat_member.status == "left"
    assert added.my_chat_member.new_chat_member.status == "member"
    assert added.my_chat_member.new_chat_member.user.id == 123


def test_builder_updates_are_plain_json() -> None:
    update = group_text_update("hi", forward_origin=forward_origin_user(user(9)))
    assert json.loads(json.dumps(update)) == update
    assert update["message"]["forward_from"]["id"] == 9  # legacy field Telegram still sends
