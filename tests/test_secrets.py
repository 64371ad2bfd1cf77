"""Secrets stay out of the logs of a whole `suo -v run`: Telegram and WeCom at work, PostgreSQL
with a password in its URL, signed dashboard links, every library logging at DEBUG through the
handler suo installs. One real process against the fakes on loopback.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp

from bot.qr import render_qr_png
from tests.conftest import free_port, process_config, wait_healthy
from tests.fake_telegram import FakeBotApi
from tests.fake_wecom import FakeWeCom
from tests.telegram_builders import group_photo_update, group_text_update, url_entities
from tests.wecom_builders import image_item, mention, mixed, text_item

TELEGRAM_TOKEN = "654321:AAH-telegram-secret_part-0123456789"
WECOM_TOKEN = "WeComTokenSecret42"
WECOM_AES_KEY = "SecretAesKey0123456789abcdefghijklmnopqrstu"
PG_PASSWORD = "Pg-Passw0rd-secret"
SERVER_SECRET = "server-secret-signing-key-77"
WEB_ACCESS_TOKEN = "web-access-token-secret-55"
SECRETS = (
    TELEGRAM_TOKEN,
    TELEGRAM_TOKEN.split(":")[1],  # the part that opens the bot, in every Bot API URL
    WECOM_TOKEN,
    WECOM_AES_KEY,
    PG_PASSWORD,
    SERVER_SECRET,
    WEB_ACCESS_TOKEN,
)
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
)
SHORT = re.compile(r"http://127\.0\.0\.1:\d+/[A-Za-z0-9]{7}")


def secrets_config(tmp_path: Path, port: int, api: FakeBotApi, wecom: FakeWeCom, pg: str) -> Path:
    """Every secret suo has set: both platforms' tokens and key, the web page's access token,
    the server secret that signs links, and PostgreSQL with a password (trust auth on the
    test server accepts any)."""
    cfg = process_config(
        tmp_path,
        port,
        f"""
[telegram]
token = "{TELEGRAM_TOKEN}"
api_base_url = "{api.base_url}"
file_base_url = "{api.file_base_url}"

[wecom]
token = "{WECOM_TOKEN}"
encoding_aes_key = "{WECOM_AES_KEY}"
webhook_base_url = "{wecom.url}"
fetch_hosts = ["127.0.0.1"]

[web]
access_token = "{WEB_ACCESS_TOKEN}"
""",
    )
    password_url = pg.replace("postgresql://postgres@", f"postgresql://postgres:{PG_PASSWORD}@")
    text = cfg.read_text(encoding="utf-8")
    text = text.replace('secret = "process-test"', f'secret = "{SERVER_SECRET}"')
    text = re.sub(r'url = "sqlite:///[^"]*"', f'url = "{password_url}"', text)
    cfg.write_text(text, encoding="utf-8")
    return cfg


async def click(url: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"User-Agent": BROWSER_UA}, allow_redirects=False) as response,
    ):
        return response.status


async def test_a_whole_debug_run_logs_no_secret(tmp_path: Path, postgres_url: str) -> None:
    port = free_port()
    async with (
        FakeBotApi(token=TELEGRAM_TOKEN) as api,
        FakeWeCom(token=WECOM_TOKEN, encoding_aes_key=WECOM_AES_KEY) as wecom,
    ):
        cfg = secrets_config(tmp_path, port, api, wecom, postgres_url)
        node = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "suo.cli",
            "--config",
            str(cfg),
            "-v",  # DEBUG from every logger: httpx, telegram, asyncpg, aiohttp, wechatpy...
            "run",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PTB_TIMEDELTA": "1", "PYTHONUNBUFFERED": "1"},
        )
        try:
            await wait_healthy(f"http://127.0.0.1:{port}/healthz")
            await api.wait_for_call("getUpdates", timeout=30)
            text = "看看 https://example.com/secret-run"
            api.push_update(group_text_update(text, entities=url_entities(text)))
            api.push_update(
                group_photo_update(api.add_photo(render_qr_png("https://example.com/qr")))
            )
            api.push_update(group_text_update("/dashboard"))
            sent = await api.wait_for_call("sendPhoto", count=2, timeout=30)
            await api.wait_for_call("sendMessage", timeout=30)
            image = wecom.host_image(render_qr_png("https://example.com/wecom-qr"))
            message = mixed([text_item(mention("https://example.com/wecom")), image_item(image)])
            callback = f"http://127.0.0.1:{port}/wecom/callback"
            result = await wecom.send_callback(callback, message)
            assert result.reply is not None
            (short,) = SHORT.findall(sent[0].params["caption"])
            assert await click(short) == 302
        finally:
            node.terminate()
            _, err = await asyncio.wait_for(node.communicate(), timeout=30)
    logged = err.decode()
    assert node.returncode == 0, logged[-2000:]
    # The run really logged at DEBUG from the libraries, through suo's handler (aiohttp and
    # asyncpg had nothing to say at DEBUG; their lines would pass the same formatter)...
    for logger in ("telegram.ext", "httpcore.http11", "apscheduler", "asyncio"):
        assert f" DEBUG {logger}" in logged, logger
    # ...and none of it holds a secret.
    assert [s for s in SECRETS if s in logged] == []
