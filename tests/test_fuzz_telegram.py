"""Fuzz: Telegram updates as the Bot API sends them with fields mutated, or any JSON. A body
that is no update is refused (the webhook's 400); an update that is one goes through PTB's
handlers and ours without an error, and what reaches the core is a message it can answer.

Updates are processed by the adapter's own PTB Application (`process_update`, what polling
and the webhook queue call), initialized against the fake Bot API on loopback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.telegram import TelegramAdapter, parse_update
from bot.config import TelegramConfig
from tests.fake_telegram import FakeBotApi
from tests.fuzzing import RecordingCore, chat_text, json_values, mutated
from tests.telegram_builders import (
    anonymous_admin_text_update,
    callback_query_update,
    edited_group_text_update,
    group_document_update,
    group_photo_update,
    private_text_update,
)
from tests.telegram_builders import group_text_update as group_text

CLOSED = "http://127.0.0.1:9"  # the public URL: the discard port, nothing listens
PHOTO = {"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 90}
DOCUMENT = {"file_id": "BQAD", "file_unique_id": "AgAD", "file_size": 2048}


def _shapes(text: str) -> tuple[Callable[[], dict[str, Any]], ...]:
    return (
        lambda: group_text(text, message_id=1, date=1764000000),
        lambda: private_text_update(text, message_id=2, date=1764000000),
        lambda: anonymous_admin_text_update(text, message_id=3, date=1764000000),
        lambda: group_photo_update([PHOTO], caption=text, message_id=4, date=1764000000),
        lambda: group_document_update(DOCUMENT, caption=text, message_id=5, date=1764000000),
        lambda: group_text(f"/short@suo_test_bot {text}", message_id=6, date=1764000000),
        lambda: edited_group_text_update(text, message_id=7, edit_date=1764000001),
        lambda: callback_query_update("x", group_text(text)["message"]),
    )


@st.composite
def updates(draw: st.DrawFn) -> Any:
    """An update of a shape the bot meets, its fields mutated, with an update_id; or any JSON."""
    shape = draw(st.sampled_from(_shapes(draw(chat_text))))
    update = {"update_id": 1, **shape()}
    # PTB refuses an update at its first odd field: a field or two changed at a time reach
    # our handler; any JSON, one time in four, tests the refusal.
    changed = mutated(update, one_node_in=20)
    return draw(st.one_of(changed, changed, changed, json_values))


@pytest.fixture
def core() -> RecordingCore:
    return RecordingCore(answer=False)


@pytest.fixture
async def adapter(
    core: RecordingCore, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TelegramAdapter]:
    """The adapter with its Application initialized (getMe) against the fake Bot API."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # as tests/test_telegram.py: no PTB 22 warning
    async with FakeBotApi(token="123456:fuzz") as api:
        config = replace(
            TelegramConfig(),
            token=api.token,
            api_base_url=api.base_url,
            file_base_url=api.file_base_url,
        )
        adapter = TelegramAdapter(core, config, public_url=CLOSED)  # type: ignore[arg-type]
        await adapter.application.initialize()
        try:
            yield adapter
        finally:
            await adapter.application.shutdown()


def _found(**message: Any) -> dict[str, Any]:
    """A group text update with `message`'s fields set: what the fuzz once failed on."""
    update = group_text("hi", message_id=1, date=1764000000)
    return {"update_id": 1, "message": {**update["message"], **message}}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(updates())
@example([])  # a 500 from the webhook, once
@example(_found(date=6.7e16))  # past what the C library's time functions hold
@example(_found(text=True))
@example(_found(chat=None))
@example(_found(chat={"id": [], "type": "group"}))
async def test_an_odd_update_is_refused_or_handled_without_an_error(
    adapter: TelegramAdapter, core: RecordingCore, data: Any
) -> None:
    errors: list[BaseException | None] = []

    async def record(update: object, context: Any) -> None:
        errors.append(context.error)

    core.messages.clear()
    update = parse_update(json.loads(json.dumps(data)), adapter.application.bot)
    if update is None:
        return  # the webhook answers 400, polling never gets such a body
    adapter.application.add_error_handler(record)
    try:
        await adapter.application.process_update(update)
    finally:
        adapter.application.remove_error_handler(record)
    assert errors == []
    for message in core.messages:
        assert message.text or message.images
        assert all(0 <= u.start <= u.end <= len(message.text) for u in message.urls)
        assert all(u.url.lower().startswith(("http://", "https://")) for u in message.urls)
