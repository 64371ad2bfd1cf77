"""`suo run` and `suo bot` as an operator starts them while the Telegram Bot API is unreachable,
comes up later, or refuses the token: real processes against the fake Bot API on loopback.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.conftest import free_port, process_config
from tests.fake_telegram import FakeBotApi
from tests.fake_wecom import FakeWeCom
from tests.wecom_builders import group_text

TOKEN = "123456:AAF-connect-test-token-value_0123"
UNREACHABLE = "telegram Bot API unreachable at"
REFUSED = "telegram: the bot token was refused (check SUO_TELEGRAM_TOKEN)"


def reserved_socket() -> socket.socket:
    """A loopback port bound but not listening: connections to it are refused until a fake
    starts serving on this very socket (no other process can take the port meanwhile)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def telegram_process_config(
    tmp_path: Path, api_port: int, port: int = 0, wecom: FakeWeCom | None = None
) -> Path:
    """`suo` on `port` (the redirector's) with Telegram's Bot API at 127.0.0.1:`api_port`, and
    the WeCom AI bot of `wecom` when given."""
    api = f"http://127.0.0.1:{api_port}"
    tables = f"""
[telegram]
token = "{TOKEN}"
api_base_url = "{api}/bot"
file_base_url = "{api}/file/bot"
"""
    if wecom is not None:
        tables += f"""
[wecom]
token = "{wecom.token}"
encoding_aes_key = "{wecom.encoding_aes_key}"
webhook_base_url = "{wecom.url}"
fetch_hosts = ["127.0.0.1"]
"""
    return process_config(tmp_path, port or free_port(), tables)


@asynccontextmanager
async def suo_process(cfg: Path, mode: str) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "suo.cli",
        "--config",
        str(cfg),
        mode,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def read_until(process: asyncio.subprocess.Process, text: str, lines: list[str]) -> None:
    """Append the process's stderr lines to `lines` until one contains `text`."""
    assert process.stderr is not None
    async with asyncio.timeout(60):
        while True:
            line = (await process.stderr.readline()).decode()
            assert line, f"stderr ended before {text!r}: {lines}"
            lines.append(line.rstrip("\n"))
            if text in line:
                return


async def healthz(port: int) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        return response.status


async def telegram_comes_back(
    process: asyncio.subprocess.Process, sock: socket.socket, lines: list[str]
) -> None:
    """The Bot API starts on `sock`: the process connects, polls, and stops cleanly."""
    async with FakeBotApi(token=TOKEN, sock=sock) as api:
        await api.wait_for_call("getUpdates", timeout=30)
        await read_until(process, "telegram bot @suo_test_bot ready", lines)
        process.send_signal(signal.SIGTERM)
        assert process.stderr is not None
        lines += (await process.stderr.read()).decode().splitlines()
        assert await process.wait() == 0


async def test_run_serves_links_and_wecom_while_telegram_is_unreachable_then_connects(
    tmp_path: Path,
) -> None:
    sock = reserved_socket()
    api_port, port = sock.getsockname()[1], free_port()
    lines: list[str] = []
    async with FakeWeCom() as wecom:
        cfg = telegram_process_config(tmp_path, api_port, port, wecom)
        async with suo_process(cfg, "run") as process:
            await read_until(process, "listening on", lines)
            await read_until(process, UNREACHABLE, lines)
            await read_until(process, UNREACHABLE, lines)
            # Short links and the WeCom bot keep working meanwhile.
            assert await healthz(port) == 200
            message = group_text("https://example.com/while-telegram-is-away")
            result = await wecom.send_callback(f"http://127.0.0.1:{port}/wecom/callback", message)
            assert result.reply is not None
            assert f"http://127.0.0.1:{port}/" in result.reply["stream"]["content"]
            await telegram_comes_back(process, sock, lines)
    tries = [line for line in lines if UNREACHABLE in line]
    assert "next try in 1 s" in tries[0] and "next try in 2 s" in tries[1]
    assert f"http://127.0.0.1:{api_port} " in tries[0]
    assert not any("Traceback" in line or TOKEN.split(":")[1] in line for line in lines)


async def test_a_refused_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    async with FakeBotApi(token="123456:the-token-telegram-knows") as api:
        cfg = telegram_process_config(tmp_path, int(api.url.rsplit(":", 1)[1]))
        async with suo_process(cfg, "bot") as process:
            assert process.stderr is not None
            stderr = (await process.stderr.read()).decode()
            assert await process.wait() == 2
    # Beside the start's INFO lines (schema migrated), the one line that says what to fix.
    assert [line for line in stderr.splitlines() if " INFO " not in line] == [REFUSED]


async def test_a_token_refused_once_telegram_is_back_ends_the_process(tmp_path: Path) -> None:
    sock = reserved_socket()
    cfg = telegram_process_config(tmp_path, sock.getsockname()[1])
    lines: list[str] = []
    async with suo_process(cfg, "bot") as process:
        await read_until(process, UNREACHABLE, lines)
        async with FakeBotApi(token="123456:the-token-telegram-knows", sock=sock):
            await read_until(process, REFUSED, lines)
            assert process.stderr is not None
            lines += (await process.stderr.read()).decode().splitlines()
            assert await asyncio.wait_for(process.wait(), 30) == 2
    assert [line for line in lines if " INFO " not in line and UNREACHABLE not in line] == [
        REFUSED
    ]
