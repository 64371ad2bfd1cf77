"""One lifecycle: every mode runs the same `Suo` with its own parts, started and stopped whole.

Servers bind a free loopback port; the Telegram side is the fake Bot API.
"""

from __future__ import annotations

from dataclasses import replace

import aiohttp
import pytest
from telegram.error import InvalidToken

from bot.config import Config
from suo.app import BOT_PARTS, Part, Suo
from suo.cli import parts_for
from tests.conftest import BOTH_ENGINES, FakeClock, free_port, telegram_config
from tests.fake_telegram import FakeBotApi

# Each mode starts and stops its store too: on both engines.
ENGINES = BOTH_ENGINES
WEBHOOK_SECRET = "lifecycle-secret-0123456789"


def on_port(config: Config) -> tuple[Config, str]:
    port = free_port()
    server = replace(config.server, host="127.0.0.1", port=port)
    return replace(config, server=server), f"http://127.0.0.1:{port}"


async def status(url: str) -> int | None:
    """The HTTP status at `url`, or None when nothing listens there."""
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status
    except aiohttp.ClientConnectionError:
        return None


async def test_start_needs_initialize_runs_once_and_stop_is_idempotent(
    config: Config, clock: FakeClock
) -> None:
    suo = Suo(config, frozenset({Part.SCHEDULER}), clock=clock)
    with pytest.raises(RuntimeError, match="initialize"):
        await suo.start()
    await suo.initialize()
    await suo.start()
    assert suo.running and suo.live.scheduler.running
    with pytest.raises(RuntimeError, match="already running"):
        await suo.start()
    with pytest.raises(RuntimeError, match="stop"):
        await suo.shutdown()
    await suo.stop()
    await suo.stop()
    assert not suo.running and not suo.live.scheduler.running
    await suo.shutdown()
    await suo.shutdown()


async def test_the_redirector_is_served_exactly_while_the_app_runs(
    config: Config, clock: FakeClock
) -> None:
    config, base = on_port(config)
    async with Suo(config, parts_for("redirector", config), clock=clock):
        assert await status(f"{base}/healthz") == 200
    assert await status(f"{base}/healthz") is None


async def test_a_failed_start_stops_what_had_started_and_releases_the_rest(
    config: Config, clock: FakeClock
) -> None:
    config, base = on_port(config)
    async with FakeBotApi(token="123:the-right-token") as api:
        wrong = telegram_config(config, api)
        wrong = replace(wrong, telegram=replace(wrong.telegram, token="123:a-refused-token"))
        suo = Suo(wrong, frozenset(Part), clock=clock)
        with pytest.raises(InvalidToken):
            async with suo:
                pytest.fail("a refused token must not start the app")
    assert not suo.running
    assert await status(f"{base}/healthz") is None  # the redirector it had served is gone
    async with Suo(config, frozenset({Part.REDIRECTOR}), clock=clock):  # the port is free again
        assert await status(f"{base}/healthz") == 200


async def test_bot_mode_serves_only_the_webhook_and_runs_its_bot(
    config: Config, clock: FakeClock
) -> None:
    config, base = on_port(config)
    async with FakeBotApi() as api:
        hooked = telegram_config(config, api, mode="webhook", webhook_secret=WEBHOOK_SECRET)
        async with Suo(hooked, BOT_PARTS, clock=clock) as suo:
            assert suo.telegram is not None and suo.telegram.application.running
            assert api.webhook_url == "https://suo.test/telegram/webhook"
            assert await status(f"{base}/") == 404  # no redirector or web page in `suo bot`
            assert await status(f"{base}/healthz") == 200  # its own health, for the operator
        assert not suo.telegram.application.running


def test_a_scale_out_redirector_never_polls_telegram(config: Config) -> None:
    polling = replace(config, telegram=replace(config.telegram, token="1:x", mode="polling"))
    hooked = replace(polling, telegram=replace(polling.telegram, mode="webhook"))
    assert parts_for("redirector", polling) == {Part.REDIRECTOR, Part.WECOM}
    assert Part.TELEGRAM in parts_for("redirector", hooked)
    assert parts_for("chat", polling) == frozenset()
    assert parts_for("run", polling) == frozenset(Part)
